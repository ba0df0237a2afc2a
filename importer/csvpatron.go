package importer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// Patron fields a CSV column can be mapped to:
//
//	barcode          the patron's barcode (required: patrons are matched on it)
//	last_name        surname (required for a new patron)
//	first_name       given name
//	group            patron group (user group of the circulation rules)
//	home_library     library code
//	expiry           date the card expires (YYYY-MM-DD); valid to the end of that day
//	birthdate        YYYY-MM-DD
//	language         ISO 639-2 code, e.g. eng
//	email, phone     contact
//	sms              the number texts go to (an SMS profile's notices)
//	address_line1, address_line2, city, region, postal_code, country
//	                 the postal address
//	pin              the PIN in plain text; stored hashed
//	identifier:TYPE  another identifier of type TYPE (e.g. identifier:university_id)
//
// Empty cells leave an existing patron's value as it is; a default fills
// an empty cell.
var patronFields = []string{"barcode", "last_name", "first_name", "group", "home_library", "expiry",
	"birthdate", "language", "email", "phone", "sms", "address_line1", "address_line2", "city", "region",
	"postal_code", "country", "pin"}

// PatronMapping says how the columns of a patron CSV file become patrons.
// As YAML:
//
//	preset: koha            # optional: start from a preset's columns and codes
//	columns:                # CSV column (header, any case) → patron field
//	  cardnumber: barcode
//	  student_no: identifier:university_id
//	codes:                  # the file's codes → circa's; codes not listed are kept
//	  group: {PT: UNDERGRAD, ST: STAFF}
//	  library: {CPL: MAIN}
//	  language: {en: eng}
//	defaults:               # the value of a field whose cell is empty
//	  home_library: MAIN
//	  expiry: 2027-06-30
//
// Several columns may map to the same field: the first non-empty one, in
// the file's column order, counts.
type PatronMapping struct {
	Preset   string                       `yaml:"preset,omitempty"`
	Columns  map[string]string            `yaml:"columns"`
	Codes    map[string]map[string]string `yaml:"codes,omitempty"`
	Defaults map[string]string            `yaml:"defaults,omitempty"`
}

// KohaPatrons is the koha preset: the column names of Koha's patron import
// CSV (tools/import_borrowers: the borrowers table's columns). Koha's
// password column is the plain password the import sets, which Koha's SIP
// server checks as the PIN. Address parts without a circa field
// (streetnumber, streettype, the B_ alternate address) are left out, as are
// Koha's extended attributes (patron_attributes).
var KohaPatrons = PatronMapping{
	Columns: map[string]string{
		"cardnumber": "barcode", "surname": "last_name", "firstname": "first_name",
		"branchcode": "home_library", "categorycode": "group", "dateexpiry": "expiry",
		"dateofbirth": "birthdate", "email": "email", "phone": "phone", "smsalertnumber": "sms", "address": "address_line1",
		"address2": "address_line2", "city": "city", "state": "region", "zipcode": "postal_code",
		"country": "country", "password": "pin", "lang": "language", "userid": "identifier:userid",
	},
	// Koha's lang is a locale tag ("default" for the library's own).
	Codes: map[string]map[string]string{"language": {"default": "", "en": "eng", "en-gb": "eng",
		"en-us": "eng", "fr-fr": "fre", "fr-ca": "fre", "de-de": "ger", "es-es": "spa", "it-it": "ita",
		"nl-nl": "dut", "pt-pt": "por", "pt-br": "por", "sv-se": "swe", "nb-no": "nor", "da-dk": "dan",
		"fi-fi": "fin", "pl-pl": "pol", "cs-cz": "cze", "el-gr": "gre", "tr-tr": "tur", "ar-arab": "ara",
		"zh-hans-cn": "chi", "zh-hant-tw": "chi"}},
}

// AlmaPatrons is the alma preset. Alma's "Export users" job writes XML
// (the user API object), not CSV; a CSV of users comes from an Alma
// Analytics report on the Users subject area. The column names here are
// that subject area's as Ex Libris' field list gives them for Primary
// Identifier, First Name, Last Name and User Group; Expiry Date, Birth
// Date, Preferred Email, Preferred Phone, the Preferred Address columns
// and Preferred Language could not be checked against a real export, so
// compare them with your report's header. Alma has no home library:
// give one under defaults (a MAPPING.yaml with "preset: alma").
var AlmaPatrons = PatronMapping{
	Columns: map[string]string{
		"primary identifier": "barcode", "first name": "first_name", "last name": "last_name",
		"user group": "group", "user group code": "group", "expiry date": "expiry",
		"birth date": "birthdate", "preferred email": "email", "preferred phone": "phone",
		"preferred address line 1": "address_line1", "preferred address line 2": "address_line2",
		"preferred address city": "city", "preferred address state province": "region",
		"preferred address postal code": "postal_code", "preferred address country": "country",
		"preferred language": "language",
	},
}

var patronPresets = map[string]PatronMapping{"koha": KohaPatrons, "alma": AlmaPatrons}

// LoadPatronMapping resolves --mapping: a preset name or a YAML file.
func LoadPatronMapping(name string) (PatronMapping, error) {
	if m, ok := patronPresets[name]; ok {
		return m, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(name, "./") {
			return PatronMapping{}, fmt.Errorf("unknown mapping %q: koha, alma or a YAML file%s", name,
				store.DidYouMean(name, []string{"koha", "alma"}))
		}
		return PatronMapping{}, err
	}
	return ParsePatronMapping(data)
}

// ParsePatronMapping reads a YAML mapping, over its preset when it names
// one, and checks every field name.
func ParsePatronMapping(data []byte) (PatronMapping, error) {
	var m PatronMapping
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("mapping: %w", err)
	}
	if m.Preset != "" {
		base, ok := patronPresets[m.Preset]
		if !ok {
			return m, fmt.Errorf("mapping: unknown preset %q: koha or alma", m.Preset)
		}
		m = mergeMapping(base, m)
	}
	return m, m.check()
}

func mergeMapping(base, over PatronMapping) PatronMapping {
	out := PatronMapping{Preset: over.Preset, Columns: map[string]string{}, Codes: map[string]map[string]string{},
		Defaults: map[string]string{}}
	for _, m := range []PatronMapping{base, over} {
		for k, v := range m.Columns {
			out.Columns[k] = v
		}
		for kind, table := range m.Codes {
			if out.Codes[kind] == nil {
				out.Codes[kind] = map[string]string{}
			}
			for k, v := range table {
				out.Codes[kind][k] = v
			}
		}
		for k, v := range m.Defaults {
			out.Defaults[k] = v
		}
	}
	return out
}

var identifierType = regexp.MustCompile(`^identifier:[a-z0-9_]+$`)

func (m PatronMapping) check() error {
	var errs []error
	hasBarcode := false
	for col, field := range m.Columns {
		if field == "barcode" {
			hasBarcode = true
		}
		if !slices.Contains(patronFields, field) && !identifierType.MatchString(field) {
			errs = append(errs, fmt.Errorf("mapping: column %q: unknown field %q%s", col, field, store.DidYouMean(field, patronFields)))
		}
	}
	if !hasBarcode {
		errs = append(errs, errors.New("mapping: no column is mapped to barcode"))
	}
	for kind := range m.Codes {
		if kind != "group" && kind != "library" && kind != "language" {
			errs = append(errs, fmt.Errorf("mapping: codes: unknown table %q: group, library or language", kind))
		}
	}
	for field, v := range m.Defaults {
		switch {
		case field == "barcode" || field == "pin" || !slices.Contains(patronFields, field):
			errs = append(errs, fmt.Errorf("mapping: defaults: %q cannot have a default", field))
		case field == "expiry" || field == "birthdate":
			if _, err := ParseWallTime(v); err != nil {
				errs = append(errs, fmt.Errorf("mapping: defaults: %s: %w", field, err))
			}
		}
	}
	return errors.Join(errs...)
}

// PatronParser returns the Parse of a patron CSV file with this header: a
// circ.PatronImport keyed by barcode. A mapped column missing from the
// header is fine (presets name more columns than a file has), but the
// barcode column must be there.
func (m PatronMapping) PatronParser(src *CSVSource) (func(Row) (string, any, error), error) {
	// The columns of each field, in the file's order.
	columns := map[string]string{}
	for col, field := range m.Columns {
		columns[headerName(col)] = field
	}
	byField := map[string][]string{}
	for _, col := range src.Columns() {
		if field, ok := columns[headerName(col)]; ok {
			byField[field] = append(byField[field], col)
		}
	}
	if len(byField["barcode"]) == 0 {
		return nil, fmt.Errorf("the file has no barcode column (the mapping names %s)", strings.Join(columnsOf(m, "barcode"), ", "))
	}
	var idTypes []string
	for field := range byField {
		if t, ok := strings.CutPrefix(field, "identifier:"); ok {
			idTypes = append(idTypes, t)
		}
	}
	slices.Sort(idTypes)
	return func(row Row) (string, any, error) {
		get := func(field string) string {
			for _, col := range byField[field] {
				if v := row.Get(col); v != "" {
					return v
				}
			}
			return m.Defaults[field]
		}
		code := func(kind, v string) string {
			if to, ok := lookupCode(m.Codes[kind], v); ok {
				return to
			}
			return v
		}
		in := circ.PatronImport{
			Barcode:     get("barcode"),
			FirstName:   get("first_name"),
			LastName:    get("last_name"),
			Group:       code("group", get("group")),
			HomeLibrary: code("library", get("home_library")),
			Language:    code("language", get("language")),
			Email:       get("email"),
			Phone:       get("phone"),
			SMS:         get("sms"),
			PIN:         get("pin"),
			Address: store.Contact{Line1: get("address_line1"), Line2: get("address_line2"), City: get("city"),
				Region: get("region"), Postal: get("postal_code"), Country: get("country")},
		}
		if in.Barcode == "" {
			return "", nil, errors.New("no barcode")
		}
		for _, t := range idTypes {
			if v := get("identifier:" + t); v != "" {
				in.Identifiers = append(in.Identifiers, store.Identifier{Type: t, Value: v})
			}
		}
		var err error
		if in.Expiry, err = parseDateField("expiry", get("expiry")); err != nil {
			return in.Barcode, nil, err
		}
		birth, err := parseDateField("birthdate", get("birthdate"))
		if err != nil {
			return in.Barcode, nil, err
		}
		if !birth.IsZero() {
			in.Birthdate = birth.Date()
		}
		if in.Language != "" && !validLanguage(in.Language) {
			return in.Barcode, nil, fmt.Errorf("language %q is not an ISO 639-2 code such as eng (map it under codes: language:)", in.Language)
		}
		if looksHashed(in.PIN) {
			return in.Barcode, nil, errors.New("the PIN column holds a password hash, not a PIN; leave the column out of the mapping")
		}
		return in.Barcode, in, nil
	}, nil
}

func columnsOf(m PatronMapping, field string) []string {
	var cols []string
	for col, f := range m.Columns {
		if f == field {
			cols = append(cols, col)
		}
	}
	slices.Sort(cols)
	return cols
}

// lookupCode maps a code through a table, matching its case first, then
// any case.
func lookupCode(table map[string]string, v string) (string, bool) {
	if to, ok := table[v]; ok {
		return to, true
	}
	for from, to := range table {
		if strings.EqualFold(from, v) {
			return to, true
		}
	}
	return "", false
}

func validLanguage(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// looksHashed recognises the bcrypt hashes Koha stores for passwords,
// which are no use as a PIN.
func looksHashed(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// ParseWallTime reads a date or date and time as import files must write
// them: 2024-03-01, 2024-03-01 14:05 or 2024-03-01 14:05:00 (also with a T
// between). Other forms (01/03/2024: March or January?) are refused, and
// so are dates that do not exist.
func ParseWallTime(s string) (circ.WallTime, error) {
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		return circ.WallTime{Year: t.Year(), Month: t.Month(), Day: t.Day(), Hour: t.Hour(), Minute: t.Minute(),
			Second: t.Second(), DateOnly: len(layout) == len("2006-01-02")}, nil
	}
	return circ.WallTime{}, fmt.Errorf("bad date %q (write YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS] in the library's time zone)", s)
}

// parseDateField parses an optional date cell; MySQL's zero date, which
// Koha's exports write for a missing date, counts as empty.
func parseDateField(field, s string) (circ.WallTime, error) {
	if s == "" || strings.HasPrefix(s, "0000-00-00") {
		return circ.WallTime{}, nil
	}
	w, err := ParseWallTime(s)
	if err != nil {
		return w, fmt.Errorf("%s: %w", field, err)
	}
	return w, nil
}

// ApplyPatron is the Apply of a patron import.
func ApplyPatron(b *circ.ImportBatch, rec Record) (Counts, error) {
	return applyOutcome(rec, "patrons", func() (string, error) { return b.ImportPatron(rec.Value.(circ.PatronImport)) })
}

// applyOutcome turns a circ import method's outcome into counts, and its
// refusal into the record's problem.
func applyOutcome(rec Record, what string, fn func() (string, error)) (Counts, error) {
	outcome, err := fn()
	var refusal *circ.ImportProblem
	if errors.As(err, &refusal) {
		return nil, Problemf(rec, "%s", refusal.Reason)
	}
	if err != nil {
		return nil, err
	}
	return Counts{what + " " + outcome: 1}, nil
}

// PreparePINs is the Options.Prepare of a patron import: each patron's PIN
// is checked or hashed outside the import's transaction (see
// circ.Service.PreparePIN).
func PreparePINs(ctx context.Context, svc *circ.Service) func(*Record) error {
	return func(rec *Record) error {
		in, ok := rec.Value.(circ.PatronImport)
		if !ok {
			return nil
		}
		if err := svc.PreparePIN(ctx, &in); err != nil {
			return fmt.Errorf("line %d: %w", rec.N, err)
		}
		rec.Value = in
		return nil
	}
}
