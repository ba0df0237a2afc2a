package profiles

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Checksum modes of a self-check profile.
const (
	ChecksumAuto     = "auto"     // verify AZ when the kiosk sends it; answer with one when it did
	ChecksumRequired = "required" // refuse messages without a valid AZ
	ChecksumOff      = "off"      // ignore AZ, send none
)

// Charsets a kiosk may speak.
const (
	CharsetUTF8   = "utf-8"
	CharsetCP850  = "cp850"
	CharsetLatin1 = "iso-8859-1"
)

// Sort-bin rules: what the CL field of a checkin response is derived from.
const (
	SortByDestination = "destination" // library code of a transit, HOLD for the hold shelf, else the location
	SortByHold        = "hold"        // HOLD for holds (here or elsewhere), else the location
	SortByLocation    = "location"    // the item's shelving location
	SortByMediaType   = "media"       // the SIP2 media type
)

// Due-date formats for the AH field.
const (
	DueSIP2 = "sip2" // YYYYMMDDZZZZHHMMSS in the library's zone
	DueISO  = "iso"  // YYYY-MM-DD HH:MM
	DueDate = "date" // YYYY-MM-DD
)

// SIP2Messages are the requests a self-check profile may allow.
var SIP2Messages = []string{"01", "09", "11", "15", "17", "19", "23", "25", "29", "35", "37", "63", "65", "97", "99"}

// SelfCheck is the profile a kiosk logs in with (SIP2 message 93).
type SelfCheck struct {
	Code         string `json:"code" yaml:"code"`
	Name         string `json:"name,omitempty" yaml:"name,omitempty"`
	Active       bool   `json:"active" yaml:"active"`
	Login        string `json:"login" yaml:"login"`
	Password     string `json:"-" yaml:"password,omitempty"` // plain, only on input; stored hashed
	PasswordHash string `json:"password_hash" yaml:"password_hash,omitempty"`
	Institution  string `json:"institution" yaml:"institution"`
	Library      string `json:"library" yaml:"library"`
	Desk         string `json:"desk,omitempty" yaml:"desk,omitempty"`
	// AllowedMessages are the request codes accepted; they set the
	// supported-messages field (BX) of the 98 response. Empty: all.
	AllowedMessages []string `json:"allowed_messages,omitempty" yaml:"allowed_messages,omitempty"`
	Checksum        string   `json:"checksum" yaml:"checksum"`
	// CodePointChecksum accepts checksums computed over characters instead
	// of bytes, as some devices do with non-ASCII data.
	CodePointChecksum bool   `json:"code_point_checksum,omitempty" yaml:"code_point_checksum,omitempty"`
	Charset           string `json:"charset" yaml:"charset"`
	Terminator        string `json:"terminator" yaml:"terminator"` // CR or CRLF
	// TimeoutSeconds and Retries are reported to the kiosk in 98.
	TimeoutSeconds int `json:"timeout_seconds" yaml:"timeout_seconds"`
	Retries        int `json:"retries" yaml:"retries"`
	// RetryWindowSeconds caps how long after its answer a kiosk's repeated
	// request may be a retry (answered from the journal, not acted on
	// again); the window is the timeout × retries reported in 98, at most
	// this. 0 means DefaultSelfCheckRetryWindow.
	RetryWindowSeconds int    `json:"retry_window_seconds" yaml:"retry_window_seconds"`
	DueDateFormat      string `json:"due_date_format" yaml:"due_date_format"`
	// StatusBeforeLogin answers 99 before 93 (kiosks that poll first).
	StatusBeforeLogin bool `json:"status_before_login,omitempty" yaml:"status_before_login,omitempty"`
	// OwnItemRenews: a checkout of an item already on loan to the patron
	// renews it; false refuses it.
	OwnItemRenews bool `json:"own_item_renews" yaml:"own_item_renews"`
	// CheckinNotOnLoanOK answers ok=1 to the checkin of an item that was not
	// on loan (book drops that re-scan); false answers ok=0 with a message.
	CheckinNotOnLoanOK bool `json:"checkin_not_on_loan_ok,omitempty" yaml:"checkin_not_on_loan_ok,omitempty"`
	// HeldItemsBlockCheckin answers ok=0 when the returned item is wanted by
	// a hold, so an unattended return machine keeps it for staff.
	HeldItemsBlockCheckin bool   `json:"held_items_block_checkin,omitempty" yaml:"held_items_block_checkin,omitempty"`
	SortBin               string `json:"sort_bin" yaml:"sort_bin"`
	// SortBins maps a destination, HOLD, a location or a media type (by the
	// rule) to the bin number the sorter knows; unmapped values pass as is.
	SortBins map[string]string `json:"sort_bins,omitempty" yaml:"sort_bins,omitempty"`
	// HideRefusalDetails leaves the figures out of a refusal's screen
	// message (amount owed and its limit, loans and their limit, expiry and
	// due dates), which are shown by default: they are the patron's own.
	HideRefusalDetails bool `json:"hide_refusal_details,omitempty" yaml:"hide_refusal_details,omitempty"`
	// ShowBlockNote puts the note staff wrote on a patron's block in the
	// refusal's screen message; off by default, as such notes may be meant
	// for staff only.
	ShowBlockNote bool `json:"show_block_note,omitempty" yaml:"show_block_note,omitempty"`
	// RequirePIN refuses patron operations without a correct PIN.
	RequirePIN bool `json:"require_pin,omitempty" yaml:"require_pin,omitempty"`
	// RequireClientCert refuses logins over a connection without a verified
	// client certificate naming this profile.
	RequireClientCert bool `json:"require_client_cert,omitempty" yaml:"require_client_cert,omitempty"`
	// Messages override screen messages: language (ISO 639-2, e.g. eng) →
	// message code → text.
	Messages map[string]map[string]string `json:"messages,omitempty" yaml:"messages,omitempty"`
}

// ProfileType implements Profile.
func (p *SelfCheck) ProfileType() string { return TypeSelfCheck }

// ProfileCode implements Profile.
func (p *SelfCheck) ProfileCode() string { return p.Code }

// NewSelfCheck returns a profile with the defaults a new kiosk account gets.
func NewSelfCheck(code string) *SelfCheck {
	return &SelfCheck{Code: code, Login: code, Active: true, Checksum: ChecksumAuto, Charset: CharsetUTF8,
		Terminator: "CR", TimeoutSeconds: 30, Retries: 3, RetryWindowSeconds: DefaultSelfCheckRetryWindow,
		DueDateFormat: DueSIP2, OwnItemRenews: true, SortBin: SortByDestination}
}

// Retry windows: the defaults, in seconds, and the largest allowed.
const (
	DefaultSelfCheckRetryWindow = 60
	DefaultNCIPRetryWindow      = 300
	MaxRetryWindow              = 3600
)

// RetryWindow is how long after its answer a kiosk's repeated request may
// be a retry: the kiosk waits TimeoutSeconds for an answer and tries
// Retries more times, so a retransmission comes within their product (as
// reported in 98, where a timeout of 0 or over 99.9 s is "unknown"),
// capped by RetryWindowSeconds. A kiosk that never retries gets none.
func (p *SelfCheck) RetryWindow() time.Duration {
	capped := time.Duration(orDefault(p.RetryWindowSeconds, DefaultSelfCheckRetryWindow)) * time.Second
	if p.TimeoutSeconds <= 0 || p.TimeoutSeconds > 99 || p.Retries >= 999 {
		return capped
	}
	return min(time.Duration(p.TimeoutSeconds*p.Retries)*time.Second, capped)
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func validRetryWindow(v int) error {
	if v < 0 || v > MaxRetryWindow {
		return fmt.Errorf("retry_window_seconds %d: 0–%d (0: the default)", v, MaxRetryWindow)
	}
	return nil
}

var messageCodePattern = regexp.MustCompile(`^[a-z_]{2,40}$`)

// Validate implements Profile.
func (p *SelfCheck) Validate() error {
	var errs []error
	if err := validCode("code", p.Code); err != nil {
		errs = append(errs, err)
	}
	if p.Login == "" || strings.ContainsAny(p.Login, "|\r\n") || len(p.Login) > 64 {
		errs = append(errs, fmt.Errorf("login %q: 1–64 characters without '|' or line breaks", p.Login))
	}
	if p.PasswordHash == "" {
		errs = append(errs, errors.New("a password is required"))
	}
	if p.Institution == "" || strings.ContainsAny(p.Institution, "|\r\n") {
		errs = append(errs, errors.New("institution is required (the AO the kiosk sends)"))
	}
	if p.Library == "" {
		errs = append(errs, errors.New("library is required"))
	}
	for _, m := range p.AllowedMessages {
		if !slices.Contains(SIP2Messages, m) {
			errs = append(errs, fmt.Errorf("allowed message %q is not a SIP2 request (%s)", m, strings.Join(SIP2Messages, " ")))
		}
	}
	if !slices.Contains([]string{ChecksumAuto, ChecksumRequired, ChecksumOff}, p.Checksum) {
		errs = append(errs, fmt.Errorf("checksum %q: auto, required or off", p.Checksum))
	}
	if !slices.Contains([]string{CharsetUTF8, CharsetCP850, CharsetLatin1}, p.Charset) {
		errs = append(errs, fmt.Errorf("charset %q: utf-8, cp850 or iso-8859-1", p.Charset))
	}
	if p.Terminator != "CR" && p.Terminator != "CRLF" {
		errs = append(errs, fmt.Errorf("terminator %q: CR or CRLF", p.Terminator))
	}
	if p.TimeoutSeconds < 0 || p.TimeoutSeconds > 999 {
		errs = append(errs, fmt.Errorf("timeout %d: 0–999 seconds (three digits in 98)", p.TimeoutSeconds))
	}
	if p.Retries < 0 || p.Retries > 999 {
		errs = append(errs, fmt.Errorf("retries %d: 0–999", p.Retries))
	}
	if err := validRetryWindow(p.RetryWindowSeconds); err != nil {
		errs = append(errs, err)
	}
	if !slices.Contains([]string{DueSIP2, DueISO, DueDate}, p.DueDateFormat) {
		errs = append(errs, fmt.Errorf("due date format %q: sip2, iso or date", p.DueDateFormat))
	}
	if !slices.Contains([]string{SortByDestination, SortByHold, SortByLocation, SortByMediaType}, p.SortBin) {
		errs = append(errs, fmt.Errorf("sort bin rule %q: destination, hold, location or media", p.SortBin))
	}
	for lang, msgs := range p.Messages {
		if len(lang) != 3 {
			errs = append(errs, fmt.Errorf("messages: language %q is not a three-letter code", lang))
		}
		for code, text := range msgs {
			if !messageCodePattern.MatchString(code) {
				errs = append(errs, fmt.Errorf("messages: code %q", code))
			}
			if strings.ContainsAny(text, "|\r\n") {
				errs = append(errs, fmt.Errorf("messages: %s/%s contains '|' or a line break", lang, code))
			}
		}
	}
	return errors.Join(errs...)
}

// Allows reports whether the profile accepts a SIP2 request code.
func (p *SelfCheck) Allows(code string) bool {
	if code == "93" {
		return true
	}
	return len(p.AllowedMessages) == 0 || slices.Contains(p.AllowedMessages, code)
}

// Message returns the profile's override of a screen message, if any.
func (p *SelfCheck) Message(lang, code string) (string, bool) {
	if m, ok := p.Messages[lang]; ok {
		if t, ok := m[code]; ok {
			return t, true
		}
	}
	return "", false
}
