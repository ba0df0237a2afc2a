package sip2

import (
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// fieldNames maps field identifiers to English names: the specification's
// fields plus the 3M and vendor extensions seen in the wild.
var fieldNames = map[string]string{
	"AA": "patron identifier", "AB": "item identifier", "AC": "terminal password",
	"AD": "patron password", "AE": "personal name", "AF": "screen message",
	"AG": "print line", "AH": "due date", "AJ": "title identifier",
	"AL": "blocked card msg", "AM": "library name", "AN": "terminal location",
	"AO": "institution id", "AP": "current location", "AQ": "permanent location",
	"AS": "hold items", "AT": "overdue items", "AU": "charged items",
	"AV": "fine items", "AY": "sequence number", "AZ": "checksum",
	"BD": "home address", "BE": "e-mail address", "BF": "home phone number",
	"BG": "owner", "BH": "currency type", "BI": "cancel", "BK": "transaction id",
	"BL": "valid patron", "BM": "renewed items", "BN": "unrenewed items",
	"BO": "fee acknowledged", "BP": "start item", "BQ": "end item",
	"BR": "queue position", "BS": "pickup location", "BT": "fee type",
	"BU": "recall items", "BV": "fee amount", "BW": "expiration date",
	"BX": "supported messages", "BY": "hold type", "BZ": "hold items limit",
	"CA": "overdue items limit", "CB": "charged items limit", "CC": "fee limit",
	"CD": "unavailable hold items", "CF": "hold queue length", "CG": "fee identifier",
	"CH": "item properties", "CI": "security inhibit", "CJ": "recall date",
	"CK": "media type", "CL": "sort bin", "CM": "hold pickup date",
	"CN": "login user id", "CO": "login password", "CP": "location code",
	"CQ": "valid patron password",
	"CR": "collection code (3M)", "CS": "call number (3M)", "CT": "destination location (3M)",
	"CV": "alert type (3M)", "CY": "hold patron id (3M)", "DA": "hold patron name (3M)",
	"PB": "birth date (ext)", "PC": "patron class (ext)", "PI": "internet profile (ext)",
}

// FieldName returns the English name of a field identifier, or "" when the
// identifier is unknown.
func FieldName(tag string) string { return fieldNames[tag] }

// Redact reports whether the value of a field must never be logged:
// passwords and PINs, patron identifiers and the patron's personal data.
func Redact(tag string) bool {
	switch tag {
	case "AC", "AD", "CO", // terminal password, patron PIN, login password
		"CN", "CP", // the login's other fields: where a misplaced password lands
		"AA", "CY", // patron identifiers: logged only as a keyed hash
		"AE", "BD", "BE", "BF", "DA", "PB": // name, address, e-mail, phone, birth date
		return true
	}
	return false
}

const redactedText = "***"

// hidden reports whether a field's value stays out of logs and transcripts:
// a secret or personal field, a field of unknown meaning (a vendor's field
// may hold anything), a sequence number or checksum that is not at the end,
// or a field that holds a password field's identifier, which is where a
// frame with a lost or wrong delimiter carries its secret
// ("CNkiosk/COpassword"). prev is the byte before the tag in the frame, so
// an identifier split across the two is seen too.
func hidden(prev byte, tag, value string) bool {
	if Redact(tag) || FieldName(tag) == "" || tag == "AY" || tag == "AZ" || holdsSecretTag(value) {
		return true
	}
	return holdsSecretTag(string([]byte{prev}) + tag + value[:min(1, len(value))])
}

// fieldPrev is the byte before field i's tag: a delimiter, or for the
// first field the end of the fixed part.
func (m *Message) fieldPrev(i int) byte {
	if i > 0 {
		return '|'
	}
	if m.Fixed != "" {
		return m.Fixed[len(m.Fixed)-1]
	}
	return '0' // the last digit of the command code
}

// holdsSecretTag reports whether v holds the identifier of a field that
// carries a password or PIN, or of the sequence number and checksum, where
// a kiosk that mixes up its fields may put one.
func holdsSecretTag(v string) bool {
	for _, t := range [...]string{"AC", "AD", "CO", "AY", "AZ"} {
		if strings.Contains(v, t) {
			return true
		}
	}
	return false
}

// shownFixed is the fixed part as logs show it: a fixed part is digits,
// flags, dates and codes, so one with a delimiter or a password field's
// identifier is a malformed frame whose fields slid into it.
func (m *Message) shownFixed() string {
	if strings.Contains(m.Fixed, "|") || holdsSecretTag(m.Fixed) {
		return redactedText
	}
	return m.Fixed
}

// shownSeq is the sequence number as logs show it: SIP2's is one digit, so
// a longer run of digits may be a PIN.
func (m *Message) shownSeq() string {
	if len(m.Seq) > 1 {
		return redactedText
	}
	return m.Seq
}

// shownChecksum is the checksum as logs show it: only a checksum that
// verifies is known to be one and not four digits of a PIN.
func (m *Message) shownChecksum() string {
	i := strings.LastIndex(m.Raw, "AZ"+m.Checksum)
	if m.Checksum == "" || i < 0 || hexValue(m.Checksum) != Checksum([]byte(m.Raw[:i+2])) {
		return "****"
	}
	return m.Checksum
}

var messageNames = map[string]string{
	"93": "Login", "94": "Login Response", "99": "SC Status", "98": "ACS Status",
	"23": "Patron Status Request", "24": "Patron Status Response", "01": "Block Patron",
	"63": "Patron Information", "64": "Patron Information Response",
	"11": "Checkout", "12": "Checkout Response", "09": "Checkin", "10": "Checkin Response",
	"15": "Hold", "16": "Hold Response", "17": "Item Information", "18": "Item Information Response",
	"19": "Item Status Update", "20": "Item Status Update Response",
	"25": "Patron Enable", "26": "Patron Enable Response", "29": "Renew", "30": "Renew Response",
	"65": "Renew All", "66": "Renew All Response", "35": "End Patron Session", "36": "End Session Response",
	"37": "Fee Paid", "38": "Fee Paid Response", "97": "Request ACS Resend", "96": "Request SC Resend",
}

// MessageName returns the English name of a command code, or "".
func MessageName(code string) string { return messageNames[code] }

// FixedField describes one fixed-length field of a message.
type FixedField struct {
	Name    string // e.g. "transaction_date"
	Len     int
	Default string // "" for dates, which default to the current time
}

func ff(name string, n int, def string) FixedField { return FixedField{name, n, def} }

var (
	fDate     = ff("transaction_date", DateLen, "")
	fLang     = ff("language", 3, "000")
	fStatus   = ff("patron_status", 14, "              ")
	fOK       = ff("ok", 1, "0")
	fCircResp = []FixedField{fOK, ff("renewal_ok", 1, "N"), ff("magnetic_media", 1, "U"), ff("desensitize", 1, "U"), fDate}
	fCount    = func(name string) FixedField { return ff(name, 4, "0000") }
)

var fixedFields = map[string][]FixedField{
	"93": {ff("uid_algorithm", 1, "0"), ff("pwd_algorithm", 1, "0")},
	"94": {fOK},
	"99": {ff("status_code", 1, "0"), ff("max_print_width", 3, "040"), ff("protocol_version", 4, "2.00")},
	"98": {ff("online_status", 1, "Y"), ff("checkin_ok", 1, "Y"), ff("checkout_ok", 1, "Y"),
		ff("acs_renewal_policy", 1, "Y"), ff("status_update_ok", 1, "N"), ff("offline_ok", 1, "N"),
		ff("timeout_period", 3, "999"), ff("retries_allowed", 3, "999"), ff("date_time_sync", DateLen, ""),
		ff("protocol_version", 4, "2.00")},
	"23": {fLang, fDate},
	"24": {fStatus, fLang, fDate},
	"01": {ff("card_retained", 1, "N"), fDate},
	"63": {fLang, fDate, ff("summary", 10, "          ")},
	"64": {fStatus, fLang, fDate, fCount("hold_items_count"), fCount("overdue_items_count"),
		fCount("charged_items_count"), fCount("fine_items_count"), fCount("recall_items_count"),
		fCount("unavailable_holds_count")},
	"11": {ff("sc_renewal_policy", 1, "N"), ff("no_block", 1, "N"), fDate, ff("nb_due_date", DateLen, blankDate)},
	"12": fCircResp,
	"09": {ff("no_block", 1, "N"), fDate, ff("return_date", DateLen, "")},
	"10": {fOK, ff("resensitize", 1, "N"), ff("magnetic_media", 1, "U"), ff("alert", 1, "N"), fDate},
	"15": {ff("hold_mode", 1, "+"), fDate},
	"16": {fOK, ff("available", 1, "N"), fDate},
	"17": {fDate},
	"18": {ff("circulation_status", 2, "01"), ff("security_marker", 2, "01"), ff("fee_type", 2, "01"), fDate},
	"19": {fDate},
	"20": {ff("item_properties_ok", 1, "0"), fDate},
	"25": {fDate},
	"26": {fStatus, fLang, fDate},
	"29": {ff("third_party_allowed", 1, "N"), ff("no_block", 1, "N"), fDate, ff("nb_due_date", DateLen, blankDate)},
	"30": fCircResp,
	"65": {fDate},
	"66": {fOK, fCount("renewed_count"), fCount("unrenewed_count"), fDate},
	"35": {fDate},
	"36": {ff("end_session", 1, "N"), fDate},
	"37": {fDate, ff("fee_type", 2, "01"), ff("payment_type", 2, "00"), ff("currency_type", 3, "USD")},
	"38": {ff("payment_accepted", 1, "N"), fDate},
	"96": {},
	"97": {},
}

// FixedFields returns the layout of the fixed part of messages with the
// code, or nil for unknown codes.
func FixedFields(code string) []FixedField { return fixedFields[code] }

// ParseFieldSpec builds a message from named parts, for command-line tools:
// "AA=12345" adds a variable field (in the order given, repeats allowed),
// "AY=3" sets the sequence number, "fixed=…" sets the whole fixed part, and
// "name=value" sets one fixed field by its FixedField name (e.g.
// "no_block=Y", "language=001"; a date field also takes "now" or "blank").
// Fixed fields not given get their defaults; dates default to now, written
// in now's location.
func ParseFieldSpec(code string, specs []string, now time.Time) (*Message, error) {
	if len(code) != 2 || !isDigit(code[0]) || !isDigit(code[1]) {
		return nil, fmt.Errorf("sip2: bad message code %q", code)
	}
	defs := fixedFields[code]
	vals := make([]string, len(defs))
	date := FormatDate(now, now.Location())
	for i, d := range defs {
		vals[i] = d.Default
		if d.Default == "" {
			vals[i] = date
		}
	}
	m := NewMessage(code)
	fixed := ""
	for _, spec := range specs {
		k, v, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("sip2: %q: want NAME=VALUE", spec)
		}
		switch key := strings.ToLower(strings.NewReplacer("-", "_", " ", "_").Replace(strings.TrimSpace(k))); {
		case key == "fixed":
			if n, known := FixedLen(code); known && len(v) != n {
				return nil, fmt.Errorf("sip2: fixed part of %s has %d characters, want %d", code, len(v), n)
			}
			fixed = v
		case len(k) == 2 && isAlnum(k[0]) && isAlnum(k[1]) && k == strings.ToUpper(k):
			switch k {
			case "AY":
				if !digits(v) {
					return nil, fmt.Errorf("sip2: AY=%q: sequence number must be digits", v)
				}
				m.Seq = v
			case "AZ":
				return nil, fmt.Errorf("sip2: AZ is computed, not given")
			default:
				m.Add(k, v)
			}
		default:
			i := indexFixed(defs, key)
			if i < 0 {
				return nil, fmt.Errorf("sip2: message %s has no fixed field %q (have: %s)", code, k, fixedNames(defs))
			}
			d := defs[i]
			switch {
			case d.Len == DateLen && strings.EqualFold(v, "now"):
				v = date
			case d.Len == DateLen && strings.EqualFold(v, "blank"):
				v = blankDate
			case len(v) < d.Len && digits(v):
				v = strings.Repeat("0", d.Len-len(v)) + v
			}
			if len(v) != d.Len {
				return nil, fmt.Errorf("sip2: %s=%q: want %d characters", d.Name, v, d.Len)
			}
			vals[i] = v
		}
	}
	if fixed == "" {
		fixed = strings.Join(vals, "")
	}
	m.Fixed = fixed
	return m, nil
}

func indexFixed(defs []FixedField, name string) int {
	for i, d := range defs {
		if d.Name == name {
			return i
		}
	}
	return -1
}

func fixedNames(defs []FixedField) string {
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}

// Pretty renders the message for people: one line per fixed and variable
// field with its name. With redact, secret and personal values are masked.
func (m *Message) Pretty(redact bool) string {
	var b strings.Builder
	name := MessageName(m.Code)
	if name == "" {
		name = "unknown message"
	}
	fmt.Fprintf(&b, "%s %s\n", m.Code, name)
	rest := m.Fixed
	if redact && m.shownFixed() != rest {
		fmt.Fprintf(&b, "   %-26s %q\n", "fixed", redactedText)
		rest = ""
	}
	for _, d := range fixedFields[m.Code] {
		if len(rest) < d.Len {
			break
		}
		fmt.Fprintf(&b, "   %-26s %q\n", strings.ReplaceAll(d.Name, "_", " "), rest[:d.Len])
		rest = rest[d.Len:]
	}
	if rest != "" {
		fmt.Fprintf(&b, "   %-26s %q\n", "fixed", rest)
	}
	for i, f := range m.Fields {
		v := f.Value
		if redact && hidden(m.fieldPrev(i), f.Tag, v) {
			v = redactedText
		}
		n := FieldName(f.Tag)
		if n == "" {
			n = "(unknown)"
		}
		fmt.Fprintf(&b, "%s %-26s %q\n", f.Tag, n, v)
	}
	seq, sum := m.Seq, m.Checksum
	if redact {
		seq, sum = m.shownSeq(), m.shownChecksum()
	}
	if m.Seq != "" {
		fmt.Fprintf(&b, "AY %-26s %q\n", FieldName("AY"), seq)
	}
	if m.Checksum != "" {
		fmt.Fprintf(&b, "AZ %-26s %q\n", FieldName("AZ"), sum)
	}
	return b.String()
}

// AppendRedacted appends the message in wire form (UTF-8) with every
// secret or personal value, and every value that may hold one, replaced by
// "***". It is the form used in logs and transcripts.
func (m *Message) AppendRedacted(dst []byte) []byte {
	dst = append(dst, m.Code...)
	dst = append(dst, m.shownFixed()...)
	for i, f := range m.Fields {
		dst = append(dst, f.Tag...)
		if hidden(m.fieldPrev(i), f.Tag, f.Value) {
			dst = append(dst, redactedText...)
		} else {
			dst = append(dst, f.Value...)
		}
		dst = append(dst, '|')
	}
	if m.Seq != "" {
		dst = append(dst, "AY"...)
		dst = append(dst, m.shownSeq()...)
	}
	if m.Checksum != "" {
		dst = append(dst, "AZ"...)
		dst = append(dst, m.shownChecksum()...)
	}
	return dst
}

// MarshalZerologObject logs the message with secret and personal values
// replaced by "***".
func (m *Message) MarshalZerologObject(e *zerolog.Event) {
	e.Str("code", m.Code)
	if m.Seq != "" {
		e.Str("seq", m.shownSeq())
	}
	e.Str("fixed", m.shownFixed())
	e.Array("fields", redactedFields{m})
}

type redactedFields struct{ m *Message }

// MarshalZerologArray logs each field as "TAG=value", masking secrets.
func (fs redactedFields) MarshalZerologArray(a *zerolog.Array) {
	for i, f := range fs.m.Fields {
		if hidden(fs.m.fieldPrev(i), f.Tag, f.Value) {
			a.Str(f.Tag + "=" + redactedText)
		} else {
			a.Str(f.Tag + "=" + f.Value)
		}
	}
}
