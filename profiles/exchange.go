package profiles

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/circa-ils/circa/profiles/delivery"
)

// File-exchange profile types, as stored and as named on the command line.
const (
	TypeBursar   = "bursar"           // fees out to the bursar, payments back
	TypeUsers    = "users"            // student information system users in, users and blocks out
	TypeRequests = "storage-requests" // retrieval requests out to a remote-storage facility
	TypeSMS      = "sms"              // SMS notices out to a texting provider
)

// ExchangeTypes lists the file-exchange profile types.
var ExchangeTypes = []string{TypeBursar, TypeUsers, TypeRequests, TypeSMS}

// IsExchangeType reports whether typ is a file-exchange profile type.
func IsExchangeType(typ string) bool { return slices.Contains(ExchangeTypes, typ) }

// Schedule says when a file-exchange profile runs: every N minutes, or
// daily at a time, or weekly on a day at a time, in the profile library's
// time zone.
type Schedule struct {
	// EveryMinutes, when positive, runs the profile that often; At and
	// Weekday are then ignored.
	EveryMinutes int `json:"every_minutes,omitempty" yaml:"every_minutes,omitempty"`
	// At is the local time of day, HH:MM.
	At string `json:"at,omitempty" yaml:"at,omitempty"`
	// Weekday (monday … sunday) makes a daily schedule weekly.
	Weekday string `json:"weekday,omitempty" yaml:"weekday,omitempty"`
}

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

// Validate reports every problem of the schedule.
func (s Schedule) Validate() error {
	var errs []error
	switch {
	case s.EveryMinutes < 0:
		errs = append(errs, errors.New("schedule: every_minutes must be ≥ 0"))
	case s.EveryMinutes == 0 && s.At == "":
		errs = append(errs, errors.New("schedule: give every_minutes, or at (HH:MM) with an optional weekday"))
	}
	if s.EveryMinutes > 0 && (s.At != "" || s.Weekday != "") {
		errs = append(errs, errors.New("schedule: every_minutes excludes at and weekday"))
	}
	if s.At != "" && !hhmm.MatchString(s.At) {
		errs = append(errs, fmt.Errorf("schedule: at %q is not HH:MM", s.At))
	}
	if _, ok := weekdays[strings.ToLower(s.Weekday)]; s.Weekday != "" && !ok {
		errs = append(errs, fmt.Errorf("schedule: weekday %q is not a day name", s.Weekday))
	}
	return errors.Join(errs...)
}

// Next returns the first run time strictly after after, reading At and
// Weekday in loc. An invalid schedule never runs (the zero time).
func (s Schedule) Next(after time.Time, loc *time.Location) time.Time {
	if s.Validate() != nil {
		return time.Time{}
	}
	if s.EveryMinutes > 0 {
		step := time.Duration(s.EveryMinutes) * time.Minute
		return after.Truncate(step).Add(step)
	}
	m := hhmm.FindStringSubmatch(s.At)
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	local := after.In(loc)
	for d := 0; d <= 8; d++ {
		day := local.AddDate(0, 0, d)
		t := time.Date(day.Year(), day.Month(), day.Day(), h, mi, 0, 0, loc)
		if !t.After(after) {
			continue
		}
		if wd, ok := weekdays[strings.ToLower(s.Weekday)]; ok && t.Weekday() != wd {
			continue
		}
		return t
	}
	return time.Time{}
}

func (s Schedule) String() string {
	switch {
	case s.EveryMinutes > 0:
		return fmt.Sprintf("every %d min", s.EveryMinutes)
	case s.Weekday != "":
		return strings.ToLower(s.Weekday) + " " + s.At
	}
	return "daily " + s.At
}

// Notice kinds an SMS profile can send.
const (
	NoticeHoldShelf = "hold_shelf"
	NoticeCourtesy  = "courtesy"
	NoticeOverdue   = "overdue"
	NoticeFee       = "fee"
)

// NoticeFields are the values an SMS template can use, as {{.Name}}.
var NoticeFields = []string{"FirstName", "Name", "Title", "Barcode", "Due", "Pickup", "Expires", "Amount", "Currency", "Library"}

// NoticeKinds lists the SMS notice kinds.
var NoticeKinds = []string{NoticeHoldShelf, NoticeCourtesy, NoticeOverdue, NoticeFee}

// DefaultNoticeTemplates are the texts a notice is rendered with when the
// profile has none of its own for the patron's language or its default
// language, so a fresh profile sends every kind. Each starts with the
// library as sender, the way Alma's SMS letters open, and names no patron.
var DefaultNoticeTemplates = map[string]map[string]string{
	"eng": {
		NoticeHoldShelf: "{{.Pickup}}: {{.Title}} is waiting for you until {{.Expires}}.",
		NoticeCourtesy:  "{{.Library}}: {{.Title}} is due back on {{.Due}}.",
		NoticeOverdue:   "{{.Library}}: {{.Title}} was due back on {{.Due}}. Please return or renew it.",
		NoticeFee:       "{{.Library}}: you owe {{.Amount}} {{.Currency}}.",
	},
	"fre": {
		NoticeHoldShelf: "{{.Pickup}} : {{.Title}} vous attend jusqu'au {{.Expires}}.",
		NoticeCourtesy:  "{{.Library}} : {{.Title}} est à rendre le {{.Due}}.",
		NoticeOverdue:   "{{.Library}} : {{.Title}} était à rendre le {{.Due}}. Merci de le rendre ou de le prolonger.",
		NoticeFee:       "{{.Library}} : vous devez {{.Amount}} {{.Currency}}.",
	},
	"ger": {
		NoticeHoldShelf: "{{.Pickup}}: {{.Title}} liegt bis {{.Expires}} für Sie zur Abholung bereit.",
		NoticeCourtesy:  "{{.Library}}: {{.Title}} ist am {{.Due}} zurückzugeben.",
		NoticeOverdue:   "{{.Library}}: {{.Title}} war am {{.Due}} zurückzugeben. Bitte geben Sie das Medium zurück oder verlängern Sie die Leihfrist.",
		NoticeFee:       "{{.Library}}: Sie haben offene Gebühren von {{.Amount}} {{.Currency}}.",
	},
	"spa": {
		NoticeHoldShelf: "{{.Pickup}}: {{.Title}} le espera hasta el {{.Expires}}.",
		NoticeCourtesy:  "{{.Library}}: {{.Title}} debe devolverse el {{.Due}}.",
		NoticeOverdue:   "{{.Library}}: {{.Title}} debía devolverse el {{.Due}}. Por favor, devuélvalo o renuévelo.",
		NoticeFee:       "{{.Library}}: tiene una deuda de {{.Amount}} {{.Currency}}.",
	},
}

// BursarSettings select the fees a bursar profile exports and say how its
// payment files are found.
type BursarSettings struct {
	// FeeTypes and Libraries limit the fees exported (empty: all).
	FeeTypes  []string `json:"fee_types,omitempty" yaml:"fee_types,omitempty"`
	Libraries []string `json:"libraries,omitempty" yaml:"libraries,omitempty"`
	// MinAmount is the smallest balance exported, in minor units.
	MinAmount int64 `json:"min_amount,omitempty" yaml:"min_amount,omitempty"`
	// IdentifierType names the patron identifier the bursar knows users by
	// (barcode, or a type such as university_id). Patrons without one are
	// not exported.
	IdentifierType string `json:"identifier_type" yaml:"identifier_type"`
	// ImportPattern selects the bursar's payment files in the import
	// directory (path.Match syntax); empty means no import.
	ImportPattern string `json:"import_pattern,omitempty" yaml:"import_pattern,omitempty"`
}

// UsersSettings direct the student-information-system exchange.
type UsersSettings struct {
	// MatchIdentifier is the identifier type users in files are matched on
	// (barcode matches a BARCODE user identifier, else the primary id).
	MatchIdentifier string `json:"match_identifier" yaml:"match_identifier"`
	// AddNew adds users the file names and circa does not know; otherwise
	// they are rejected and reported.
	AddNew bool `json:"add_new,omitempty" yaml:"add_new,omitempty"`
	// HomeLibrary is given to new users whose file names none.
	HomeLibrary string `json:"home_library,omitempty" yaml:"home_library,omitempty"`
	// ImportPattern selects SIS files in the import directory; empty means
	// no import.
	ImportPattern string `json:"import_pattern,omitempty" yaml:"import_pattern,omitempty"`
	// Export sends changed users with their blocks back in the same shape.
	Export bool `json:"export,omitempty" yaml:"export,omitempty"`
	// Groups maps the file's user groups to circa's patron groups; when it
	// maps any, a user of a group it does not map is reported and left
	// unchanged.
	Groups map[string]string `json:"groups,omitempty" yaml:"groups,omitempty"`
}

// RequestsSettings direct the remote-storage request export.
type RequestsSettings struct {
	// Facility is the facility code whose retrieval requests are sent.
	Facility string `json:"facility" yaml:"facility"`
	// PatronDetails adds the requester's name, barcode and e-mail to each
	// request.
	PatronDetails bool `json:"patron_details,omitempty" yaml:"patron_details,omitempty"`
	// Cancellations also sends withdrawn requests, as requestType CANCEL.
	// Alma's export has none, and software written for it takes every
	// entry for a retrieval, so only a facility that reads them wants them.
	Cancellations bool `json:"cancellations,omitempty" yaml:"cancellations,omitempty"`
}

// SMSSettings direct the SMS notice export.
type SMSSettings struct {
	// Notices are the kinds sent (empty: all).
	Notices []string `json:"notices,omitempty" yaml:"notices,omitempty"`
	// CourtesyDays is how many days before the due date a courtesy notice
	// goes out (default 2).
	CourtesyDays int `json:"courtesy_days,omitempty" yaml:"courtesy_days,omitempty"`
	// Templates are text/template bodies by language (ISO 639-2) and
	// notice kind, overriding DefaultNoticeTemplates. A patron whose
	// language has no template of a kind gets DefaultLanguage's.
	Templates       map[string]map[string]string `json:"templates" yaml:"templates"`
	DefaultLanguage string                       `json:"default_language" yaml:"default_language"`
}

// Exchange is a file-exchange integration profile: a bursar, a student
// information system, a remote-storage facility's request feed or an SMS
// provider, with its schedule and transfer target. Codes are unique across
// all file-exchange types, so `circa profile run CODE` names one.
type Exchange struct {
	Code   string `json:"code" yaml:"code"`
	Type   string `json:"type" yaml:"type"`
	Name   string `json:"name,omitempty" yaml:"name,omitempty"`
	Active bool   `json:"active" yaml:"active"`
	// Library's time zone is the one the schedule is read in.
	Library  string          `json:"library" yaml:"library"`
	Schedule Schedule        `json:"schedule" yaml:"schedule"`
	Target   delivery.Target `json:"target" yaml:"target"`
	// ImportDir is the directory, on the same server, that partner files
	// are picked up from (default: the target's own directory).
	ImportDir string `json:"import_dir,omitempty" yaml:"import_dir,omitempty"`
	// MaxRecords bounds the records in one file (default 5000).
	MaxRecords int `json:"max_records,omitempty" yaml:"max_records,omitempty"`

	Bursar   *BursarSettings   `json:"bursar,omitempty" yaml:"bursar,omitempty"`
	Users    *UsersSettings    `json:"users,omitempty" yaml:"users,omitempty"`
	Requests *RequestsSettings `json:"requests,omitempty" yaml:"requests,omitempty"`
	SMS      *SMSSettings      `json:"sms,omitempty" yaml:"sms,omitempty"`
}

// DefaultMaxRecords bounds a file when a profile sets no MaxRecords.
const DefaultMaxRecords = 5000

// NewExchange returns a profile of a type with its defaults.
func NewExchange(typ, code string) *Exchange {
	p := &Exchange{Code: code, Type: typ, Active: true, Schedule: Schedule{At: "02:00"},
		Target: delivery.Target{Kind: delivery.KindSFTP, Port: delivery.DefaultPort}}
	p.Defaults()
	return p
}

// Defaults gives a profile the settings block of its type when it has none.
func (p *Exchange) Defaults() {
	switch p.Type {
	case TypeBursar:
		if p.Bursar == nil {
			p.Bursar = &BursarSettings{IdentifierType: "barcode"}
		}
	case TypeUsers:
		if p.Users == nil {
			p.Users = &UsersSettings{MatchIdentifier: "barcode"}
		}
	case TypeRequests:
		if p.Requests == nil {
			p.Requests = &RequestsSettings{}
		}
	case TypeSMS:
		if p.SMS == nil {
			p.SMS = &SMSSettings{DefaultLanguage: "eng", CourtesyDays: 2}
		}
	}
}

// ProfileType implements Profile.
func (p *Exchange) ProfileType() string { return p.Type }

// ProfileCode implements Profile.
func (p *Exchange) ProfileCode() string { return p.Code }

// Records is the most records one file holds.
func (p *Exchange) Records() int {
	if p.MaxRecords > 0 {
		return p.MaxRecords
	}
	return DefaultMaxRecords
}

// ImportTarget is the target partner files are collected from.
func (p *Exchange) ImportTarget() delivery.Target {
	t := p.Target
	if p.ImportDir != "" {
		if t.Kind == delivery.KindLocal {
			t.LocalDir = p.ImportDir
		} else {
			t.RemoteDir = p.ImportDir
		}
	}
	return t
}

// ImportPattern is the pattern of partner files to collect, empty when the
// profile imports nothing.
func (p *Exchange) ImportPattern() string {
	switch {
	case p.Bursar != nil && p.Type == TypeBursar:
		return p.Bursar.ImportPattern
	case p.Users != nil && p.Type == TypeUsers:
		return p.Users.ImportPattern
	}
	return ""
}

// Validate implements Profile.
func (p *Exchange) Validate() error {
	var errs []error
	if err := validCode("code", p.Code); err != nil {
		errs = append(errs, err)
	}
	if !IsExchangeType(p.Type) {
		errs = append(errs, fmt.Errorf("type %q is not one of %s", p.Type, strings.Join(ExchangeTypes, ", ")))
	}
	if p.Library == "" {
		errs = append(errs, errors.New("library is required (its time zone reads the schedule)"))
	}
	if p.MaxRecords < 0 {
		errs = append(errs, errors.New("max_records must be ≥ 0"))
	}
	errs = append(errs, p.Schedule.Validate())
	if err := p.Target.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("target: %w", err))
	}
	if strings.ContainsRune(p.ImportDir, 0) {
		errs = append(errs, errors.New("import_dir contains a NUL byte"))
	}
	settings := map[string]bool{TypeBursar: p.Bursar != nil, TypeUsers: p.Users != nil,
		TypeRequests: p.Requests != nil, TypeSMS: p.SMS != nil}
	for typ, set := range settings {
		if set && typ != p.Type {
			errs = append(errs, fmt.Errorf("%s settings on a %s profile", typ, p.Type))
		}
	}
	if IsExchangeType(p.Type) && !settings[p.Type] {
		errs = append(errs, fmt.Errorf("%s settings are required", p.Type))
	}
	switch {
	case p.Type == TypeBursar && p.Bursar != nil:
		errs = append(errs, p.Bursar.validate())
	case p.Type == TypeUsers && p.Users != nil:
		errs = append(errs, p.Users.validate())
	case p.Type == TypeRequests && p.Requests != nil:
		if p.Requests.Facility == "" {
			errs = append(errs, errors.New("requests: facility is required"))
		}
	case p.Type == TypeSMS && p.SMS != nil:
		errs = append(errs, p.SMS.validate())
	}
	return errors.Join(errs...)
}

func validPattern(field, pattern string) error {
	if pattern == "" {
		return nil
	}
	if _, err := path.Match(pattern, ""); err != nil || strings.Contains(pattern, "/") {
		return fmt.Errorf("%s %q is not a file-name pattern", field, pattern)
	}
	return nil
}

func (b *BursarSettings) validate() error {
	var errs []error
	if b.IdentifierType == "" {
		errs = append(errs, errors.New("bursar: identifier_type is required"))
	}
	if b.MinAmount < 0 {
		errs = append(errs, errors.New("bursar: min_amount must be ≥ 0"))
	}
	errs = append(errs, validPattern("bursar: import_pattern", b.ImportPattern))
	return errors.Join(errs...)
}

func (u *UsersSettings) validate() error {
	var errs []error
	if u.MatchIdentifier == "" {
		errs = append(errs, errors.New("users: match_identifier is required"))
	}
	if u.AddNew && u.HomeLibrary == "" {
		errs = append(errs, errors.New("users: add_new needs a home_library for users whose file names none"))
	}
	errs = append(errs, validPattern("users: import_pattern", u.ImportPattern))
	for _, from := range slices.Sorted(maps.Keys(u.Groups)) {
		if strings.TrimSpace(from) == "" || strings.TrimSpace(u.Groups[from]) == "" {
			errs = append(errs, fmt.Errorf("users: groups: %q=%q: give a file group and the patron group it becomes", from, u.Groups[from]))
		}
	}
	return errors.Join(errs...)
}

func (s *SMSSettings) validate() error {
	var errs []error
	for _, n := range s.Notices {
		if !slices.Contains(NoticeKinds, n) {
			errs = append(errs, fmt.Errorf("sms: notice %q is not one of %s", n, strings.Join(NoticeKinds, ", ")))
		}
	}
	if s.CourtesyDays < 0 {
		errs = append(errs, errors.New("sms: courtesy_days must be ≥ 0"))
	}
	for lang, set := range s.Templates {
		for kind, body := range set {
			if !slices.Contains(NoticeKinds, kind) {
				errs = append(errs, fmt.Errorf("sms: template %s/%s: unknown notice kind", lang, kind))
				continue
			}
			if err := checkTemplate(body); err != nil {
				errs = append(errs, fmt.Errorf("sms: template %s/%s: %w", lang, kind, err))
			}
		}
	}
	for _, kind := range s.Kinds() {
		if body, _ := s.Template(s.DefaultLanguage, kind); body == "" {
			errs = append(errs, fmt.Errorf("sms: no %s template for the default language %q (built in: %s); give one with --template %s/%s=TEXT",
				kind, s.DefaultLanguage, strings.Join(slices.Sorted(maps.Keys(DefaultNoticeTemplates)), ", "), s.DefaultLanguage, kind))
		}
	}
	return errors.Join(errs...)
}

// checkTemplate parses a notice template and renders it with every
// NoticeFields value set, so a misspelt field is caught when the profile is
// saved rather than when a notice is due.
func checkTemplate(body string) error {
	t, err := template.New("notice").Option("missingkey=error").Parse(body)
	if err != nil {
		return err
	}
	sample := map[string]string{}
	for _, f := range NoticeFields {
		sample[f] = f
	}
	return t.Execute(io.Discard, sample)
}

// Kinds returns the notice kinds the profile sends.
func (s *SMSSettings) Kinds() []string {
	if len(s.Notices) == 0 {
		return NoticeKinds
	}
	return s.Notices
}

// Template returns the template body for a notice in a language and the
// language it is in: the profile's own, else the built-in one, else the
// same for the default language. The body is empty when there is none.
func (s *SMSSettings) Template(lang, kind string) (body, in string) {
	for _, l := range []string{lang, s.DefaultLanguage} {
		if body, ok := s.Templates[l][kind]; ok {
			return body, l
		}
		if body, ok := DefaultNoticeTemplates[l][kind]; ok {
			return body, l
		}
	}
	return "", ""
}

// MarshalYAML leaves an inline private key out of exports and `show`: key
// material is given as a file path to be exported.
func (p *Exchange) MarshalYAML() (any, error) {
	type plain Exchange
	c := plain(*p)
	if strings.Contains(c.Target.PrivateKey, "PRIVATE KEY") {
		c.Target.PrivateKey = ""
	}
	return &c, nil
}
