package sip2

import (
	"sync"
	"time"
)

// Response is a typed ACS response. Every response type of this package
// implements it; the server encodes it with the connection's settings.
type Response interface {
	// ResponseCode returns the command code, e.g. "12".
	ResponseCode() string
	// Succeeded reports the response's own success flag (ok, payment
	// accepted, …), used for logs and metrics.
	Succeeded() bool
	appendBody(e *encoder)
}

// Flag is an optional yes/no value. The zero value leaves an optional field
// out, or writes 'U' (unknown) in fixed fields that allow it.
type Flag uint8

// Flag values.
const (
	Unset Flag = iota
	No
	Yes
)

// FlagOf turns a bool into Yes or No.
func FlagOf(b bool) Flag {
	if b {
		return Yes
	}
	return No
}

// Patron status positions (the 14-character patron status field).
const (
	ChargePrivilegesDenied = iota
	RenewalPrivilegesDenied
	RecallPrivilegesDenied
	HoldPrivilegesDenied
	CardReportedLost
	TooManyItemsCharged
	TooManyItemsOverdue
	TooManyRenewals
	TooManyClaimsOfItemsReturned
	TooManyItemsLost
	ExcessiveOutstandingFines
	ExcessiveOutstandingFees
	RecallOverdue
	TooManyItemsBilled
)

// PatronStatus is the 14-flag patron status; true is written as 'Y',
// false as a space.
type PatronStatus [14]bool

// Circulation status values of message 18.
const (
	CircOther           = "01"
	CircOnOrder         = "02"
	CircAvailable       = "03"
	CircCharged         = "04"
	CircChargedNoRecall = "05"
	CircInProcess       = "06"
	CircRecalled        = "07"
	CircOnHoldShelf     = "08"
	CircWaitingReshelve = "09"
	CircInTransit       = "10"
	CircClaimedReturned = "11"
	CircLost            = "12"
	CircMissing         = "13"
)

// MaxFieldLen is the longest variable field value SIP2 allows; longer text
// is cut on output.
const MaxFieldLen = 255

// encoder appends the body of a response: fixed fields then variable
// fields. It applies the charset, fills defaults and never fails.
type encoder struct {
	buf []byte
	cs  Charset
	loc *time.Location
	now time.Time
	// fast copies text as it is; delims counts the delimiters written, so
	// one scan of the output shows whether any text held one (or needs
	// charset work) and the response must be encoded again the careful way.
	fast   bool
	delims int
	// dates remembers the last dates written: a kiosk's responses repeat
	// the same transaction second and, within a day, the same due date.
	dates [2]dateMemo
}

type dateMemo struct {
	sec  int64
	loc  *time.Location
	text [DateLen]byte
}

// appendDate appends t (never zero) in the SIP2 form, from memory when it
// was written recently.
func (e *encoder) appendDate(t time.Time) {
	sec := t.Unix()
	for i := range e.dates {
		if d := &e.dates[i]; d.loc == e.loc && d.sec == sec && d.loc != nil {
			e.buf = append(e.buf, d.text[:]...)
			return
		}
	}
	start := len(e.buf)
	e.buf = AppendDate(e.buf, t, e.loc)
	e.dates[1] = e.dates[0]
	e.dates[0] = dateMemo{sec: sec, loc: e.loc}
	copy(e.dates[0].text[:], e.buf[start:])
}

// text appends field text: copied in the fast pass, encoded and sanitised
// otherwise.
func (e *encoder) text(v string) {
	if e.fast {
		e.buf = append(e.buf, v...)
	} else {
		e.buf = e.cs.appendText(e.buf, v)
	}
}

// end closes a field.
func (e *encoder) end() {
	e.buf = append(e.buf, '|')
	e.delims++
}

func (e *encoder) raw(s string) { e.buf = append(e.buf, s...) }
func (e *encoder) ok(b bool)    { e.buf = append(e.buf, "01"[b2i(b)]) }
func (e *encoder) yn(b bool)    { e.buf = append(e.buf, "NY"[b2i(b)]) }
func (e *encoder) ynu(f Flag)   { e.buf = append(e.buf, "UNY"[min(f, Yes)]) }
func (e *encoder) num(n, w int) { e.buf = appendDigits(e.buf, n, w) }
func (e *encoder) date(t time.Time) {
	if t.IsZero() {
		t = e.now
	}
	e.appendDate(t)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// code writes a fixed code of width w, falling back to def unless v is
// exactly w printable ASCII characters (anything else would shift the
// fixed fields after it in some charset).
func (e *encoder) code(v string, w int, def string) {
	if len(v) != w {
		v = def
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] >= 0x7F || v[i] == '|' {
			v = def
			break
		}
	}
	e.raw(v)
}

func (e *encoder) status(s *PatronStatus) {
	var text [len(s)]byte
	for i, b := range s {
		text[i] = " Y"[b2i(b)]
	}
	e.buf = append(e.buf, text[:]...)
}

func (e *encoder) language(l string) {
	if len(l) != 3 || !digits(l) {
		l = "000"
	}
	e.raw(l)
}

// field writes a required field, even when empty; tag has two characters.
func (e *encoder) field(tag, v string) {
	if len(v) > MaxFieldLen {
		v = cut(v)
	}
	if e.fast { // in a local, the slice header stays out of memory between appends
		b := append(e.buf, tag[0], tag[1]) // every tag has two characters
		b = append(b, v...)
		e.buf = append(b, '|')
		e.delims++
		return
	}
	e.buf = append(e.buf, tag[0], tag[1])
	e.text(v)
	e.end()
}

// cut shortens v to MaxFieldLen characters.
func cut(v string) string {
	n := 0
	for i := range v {
		if n == MaxFieldLen {
			return v[:i]
		}
		n++
	}
	return v
}

// opt writes an optional field when it has a value.
func (e *encoder) opt(tag, v string) {
	if v != "" {
		e.field(tag, v)
	}
}

func (e *encoder) optFlag(tag string, f Flag) {
	if f != Unset {
		e.buf = append(e.buf, tag...)
		e.buf = append(e.buf, "NNY"[f])
		e.end()
	}
}

func (e *encoder) optNum(tag string, n *int, w int) {
	if n != nil {
		e.buf = append(e.buf, tag...)
		e.num(*n, w)
		e.end()
	}
}

func (e *encoder) optDate(tag string, t time.Time) {
	if !t.IsZero() {
		e.buf = append(e.buf, tag...)
		e.appendDate(t)
		e.end()
	}
}

func (e *encoder) list(tag string, vs []string) {
	for _, v := range vs {
		e.field(tag, v)
	}
}

// messages writes the screen (AF) and print (AG) lines and extra fields.
func (e *encoder) tail(af, ag []string, extra []Field) {
	e.list("AF", af)
	e.list("AG", ag)
	for _, f := range extra {
		if len(f.Tag) == 2 && f.Tag != "AY" && f.Tag != "AZ" {
			e.field(f.Tag, f.Value)
		}
	}
}

// AppendResponse appends r in wire form, without terminator. seq is the
// request's AY value, echoed when o.Checksum is set. Missing transaction
// dates are filled with o.Now (time.Now() when zero), written in o.Location.
func AppendResponse(dst []byte, r Response, seq string, o *EncodeOptions) []byte {
	if o == nil {
		o = &EncodeOptions{}
	}
	// The encoder escapes through the interface call, so it is pooled
	// rather than allocated per response.
	e := encoderPool.Get().(*encoder)
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	e.buf, e.cs, e.loc, e.now, e.fast, e.delims = dst, o.Charset, loc, o.Now, true, 0
	if e.now.IsZero() {
		e.now = time.Now()
	}
	start := len(dst)
	e.raw(r.ResponseCode())
	r.appendBody(e)
	// One pass checks the fast copy and sums it for the checksum.
	sum, clean, pipes := scanText(e.cs, view(e.buf[start:]))
	if !clean || pipes != e.delims {
		e.buf, e.fast = e.buf[:start], false
		e.raw(r.ResponseCode())
		r.appendBody(e)
		sum = byteSum(view(e.buf[start:]))
	}
	if o.Checksum {
		e.buf = appendTrailer(e.buf, sum, r.ResponseCode(), seq)
	}
	dst = e.buf
	e.buf, e.loc, e.now = nil, nil, time.Time{} // drop the references, keep the date memory
	encoderPool.Put(e)
	return dst
}

var encoderPool = sync.Pool{New: func() any { return new(encoder) }}

// ResponseMessage encodes r and decodes it back into a generic Message,
// for tools and tests that want to look at fields by tag.
func ResponseMessage(r Response, o *EncodeOptions) *Message {
	if o == nil {
		o = &EncodeOptions{}
	}
	b := AppendResponse(nil, r, "", &EncodeOptions{Charset: o.Charset, Location: o.Location, Now: o.Now})
	m, err := Decode(b, DecodeOptions{Charset: o.Charset, Checksum: ChecksumOff})
	if err != nil { // our own output always decodes
		panic("sip2: response does not decode: " + err.Error())
	}
	return m
}

// LoginResponse is message 94. Settings, when not nil, replace the
// connection's settings from this response on (the charset, terminator and
// checksum rules of the account that logged in). Account and Institution
// name the account in every later log line of the connection ("account",
// "inst"), and reach the Session's later calls through the ctx logger.
type LoginResponse struct {
	OK          bool
	Settings    *ConnSettings
	Account     string
	Institution string
}

// ResponseCode returns "94".
func (r *LoginResponse) ResponseCode() string { return "94" }

// Succeeded reports r.OK.
func (r *LoginResponse) Succeeded() bool { return r.OK }
func (r *LoginResponse) appendBody(e *encoder) {
	e.ok(r.OK)
}

// ACSStatus is message 98.
type ACSStatus struct {
	Online          bool
	CheckinOK       bool
	CheckoutOK      bool
	RenewalPolicy   bool // the ACS allows renewals requested by the SC
	StatusUpdateOK  bool
	OfflineOK       bool
	TimeoutPeriod   int // tenths of a second, 0–999; 999 means unknown
	RetriesAllowed  int // 0–999; 999 means unknown
	DateTimeSync    time.Time
	ProtocolVersion string // "2.00" when empty
	InstitutionID   string // AO
	LibraryName     string // AM
	// SupportedMessages is BX, 16 Y/N characters. The server computes it
	// from the add-on interfaces the Session implements; a value set here
	// can only narrow that.
	SupportedMessages string
	TerminalLocation  string // AN
	ScreenMessage     []string
	PrintLine         []string
	Extra             []Field
}

// ResponseCode returns "98".
func (r *ACSStatus) ResponseCode() string { return "98" }

// Succeeded reports whether the ACS is on-line.
func (r *ACSStatus) Succeeded() bool { return r.Online }
func (r *ACSStatus) appendBody(e *encoder) {
	e.yn(r.Online)
	e.yn(r.CheckinOK)
	e.yn(r.CheckoutOK)
	e.yn(r.RenewalPolicy)
	e.yn(r.StatusUpdateOK)
	e.yn(r.OfflineOK)
	e.num(r.TimeoutPeriod, 3)
	e.num(r.RetriesAllowed, 3)
	e.date(r.DateTimeSync)
	e.code(r.ProtocolVersion, 4, "2.00")
	e.field("AO", r.InstitutionID)
	e.opt("AM", r.LibraryName)
	bx := r.SupportedMessages
	if len(bx) != 16 {
		bx = "NNNNNNNNNNNNNNNN"
	}
	e.field("BX", bx)
	e.opt("AN", r.TerminalLocation)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// PatronStatusResponse is message 24, the answer to 23 and to 01.
type PatronStatusResponse struct {
	Status              PatronStatus
	Language            string // "000" (unknown) when empty
	TransactionDate     time.Time
	InstitutionID       string // AO
	PatronID            string // AA
	PersonalName        string // AE
	ValidPatron         Flag   // BL
	ValidPatronPassword Flag   // CQ
	Currency            string // BH
	FeeAmount           string // BV
	ScreenMessage       []string
	PrintLine           []string
	Extra               []Field
}

// ResponseCode returns "24".
func (r *PatronStatusResponse) ResponseCode() string { return "24" }

// Succeeded reports whether the patron is valid.
func (r *PatronStatusResponse) Succeeded() bool { return r.ValidPatron == Yes }
func (r *PatronStatusResponse) appendBody(e *encoder) {
	e.status(&r.Status)
	e.language(r.Language)
	e.date(r.TransactionDate)
	e.field("AO", r.InstitutionID)
	e.field("AA", r.PatronID)
	e.field("AE", r.PersonalName)
	e.optFlag("BL", r.ValidPatron)
	e.optFlag("CQ", r.ValidPatronPassword)
	e.opt("BH", r.Currency)
	e.opt("BV", r.FeeAmount)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// PatronEnableResponse is message 26.
type PatronEnableResponse struct {
	Status              PatronStatus
	Language            string
	TransactionDate     time.Time
	InstitutionID       string // AO
	PatronID            string // AA
	PersonalName        string // AE
	ValidPatron         Flag   // BL
	ValidPatronPassword Flag   // CQ
	ScreenMessage       []string
	PrintLine           []string
	Extra               []Field
}

// ResponseCode returns "26".
func (r *PatronEnableResponse) ResponseCode() string { return "26" }

// Succeeded reports whether the patron is valid.
func (r *PatronEnableResponse) Succeeded() bool { return r.ValidPatron == Yes }
func (r *PatronEnableResponse) appendBody(e *encoder) {
	e.status(&r.Status)
	e.language(r.Language)
	e.date(r.TransactionDate)
	e.field("AO", r.InstitutionID)
	e.field("AA", r.PatronID)
	e.field("AE", r.PersonalName)
	e.optFlag("BL", r.ValidPatron)
	e.optFlag("CQ", r.ValidPatronPassword)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// PatronInfoResponse is message 64. The item lists are written in the
// order of the specification; normally only the one the request's summary
// asked for is filled.
type PatronInfoResponse struct {
	Status                PatronStatus
	Language              string
	TransactionDate       time.Time
	HoldItemsCount        int
	OverdueItemsCount     int
	ChargedItemsCount     int
	FineItemsCount        int
	RecallItemsCount      int
	UnavailableHoldsCount int
	InstitutionID         string   // AO
	PatronID              string   // AA
	PersonalName          string   // AE
	HoldItemsLimit        *int     // BZ
	OverdueItemsLimit     *int     // CA
	ChargedItemsLimit     *int     // CB
	ValidPatron           Flag     // BL
	ValidPatronPassword   Flag     // CQ
	Currency              string   // BH
	FeeAmount             string   // BV
	FeeLimit              string   // CC
	HoldItems             []string // AS
	OverdueItems          []string // AT
	ChargedItems          []string // AU
	FineItems             []string // AV
	RecallItems           []string // BU
	UnavailableHoldItems  []string // CD
	HomeAddress           string   // BD
	Email                 string   // BE
	HomePhone             string   // BF
	ScreenMessage         []string
	PrintLine             []string
	Extra                 []Field
}

// ResponseCode returns "64".
func (r *PatronInfoResponse) ResponseCode() string { return "64" }

// Succeeded reports whether the patron is valid.
func (r *PatronInfoResponse) Succeeded() bool { return r.ValidPatron == Yes }
func (r *PatronInfoResponse) appendBody(e *encoder) {
	e.status(&r.Status)
	e.language(r.Language)
	e.date(r.TransactionDate)
	e.num(r.HoldItemsCount, 4)
	e.num(r.OverdueItemsCount, 4)
	e.num(r.ChargedItemsCount, 4)
	e.num(r.FineItemsCount, 4)
	e.num(r.RecallItemsCount, 4)
	e.num(r.UnavailableHoldsCount, 4)
	e.field("AO", r.InstitutionID)
	e.field("AA", r.PatronID)
	e.field("AE", r.PersonalName)
	e.optNum("BZ", r.HoldItemsLimit, 4)
	e.optNum("CA", r.OverdueItemsLimit, 4)
	e.optNum("CB", r.ChargedItemsLimit, 4)
	e.optFlag("BL", r.ValidPatron)
	e.optFlag("CQ", r.ValidPatronPassword)
	e.opt("BH", r.Currency)
	e.opt("BV", r.FeeAmount)
	e.opt("CC", r.FeeLimit)
	e.list("AS", r.HoldItems)
	e.list("AT", r.OverdueItems)
	e.list("AU", r.ChargedItems)
	e.list("AV", r.FineItems)
	e.list("BU", r.RecallItems)
	e.list("CD", r.UnavailableHoldItems)
	e.opt("BD", r.HomeAddress)
	e.opt("BE", r.Email)
	e.opt("BF", r.HomePhone)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// CheckoutResponse is message 12.
type CheckoutResponse struct {
	OK              bool
	RenewalOK       bool
	MagneticMedia   Flag // Unset is written as 'U'
	Desensitize     Flag // Unset is written as 'U'
	TransactionDate time.Time
	InstitutionID   string // AO
	PatronID        string // AA
	ItemID          string // AB
	TitleID         string // AJ
	// DueDate is written as a SIP2 date in AH; DueDateText, when set, is
	// written instead (for kiosks that show AH as it is). AH is always
	// present, empty when the checkout failed.
	DueDate         time.Time
	DueDateText     string
	FeeType         string // BT, 2 digits
	SecurityInhibit Flag   // CI
	Currency        string // BH
	FeeAmount       string // BV
	MediaType       string // CK, 3 digits
	ItemProperties  string // CH
	TransactionID   string // BK
	ScreenMessage   []string
	PrintLine       []string
	Extra           []Field
}

// ResponseCode returns "12".
func (r *CheckoutResponse) ResponseCode() string { return "12" }

// Succeeded reports r.OK.
func (r *CheckoutResponse) Succeeded() bool { return r.OK }
func (r *CheckoutResponse) appendBody(e *encoder) {
	e.ok(r.OK)
	e.yn(r.RenewalOK)
	e.ynu(r.MagneticMedia)
	e.ynu(r.Desensitize)
	e.date(r.TransactionDate)
	e.field("AO", r.InstitutionID)
	e.field("AA", r.PatronID)
	e.field("AB", r.ItemID)
	e.field("AJ", r.TitleID)
	switch {
	case r.DueDateText != "":
		e.field("AH", r.DueDateText)
	case r.DueDate.IsZero():
		e.field("AH", "")
	default:
		e.raw("AH")
		e.appendDate(r.DueDate)
		e.end()
	}
	e.opt("BT", r.FeeType)
	e.optFlag("CI", r.SecurityInhibit)
	e.opt("BH", r.Currency)
	e.opt("BV", r.FeeAmount)
	e.opt("CK", r.MediaType)
	e.opt("CH", r.ItemProperties)
	e.opt("BK", r.TransactionID)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// RenewResponse is message 30; it has the fields of message 12.
type RenewResponse CheckoutResponse

// ResponseCode returns "30".
func (r *RenewResponse) ResponseCode() string { return "30" }

// Succeeded reports r.OK.
func (r *RenewResponse) Succeeded() bool       { return r.OK }
func (r *RenewResponse) appendBody(e *encoder) { (*CheckoutResponse)(r).appendBody(e) }

// CheckinResponse is message 10, with the 3M sorter and hold-slip
// extensions (CR, CS, CT, CV, CY, DA).
type CheckinResponse struct {
	OK                  bool
	Resensitize         bool
	MagneticMedia       Flag // Unset is written as 'U'
	Alert               bool
	TransactionDate     time.Time
	InstitutionID       string // AO
	ItemID              string // AB
	PermanentLocation   string // AQ
	TitleID             string // AJ
	SortBin             string // CL
	PatronID            string // AA
	MediaType           string // CK
	ItemProperties      string // CH
	CollectionCode      string // CR
	CallNumber          string // CS
	DestinationLocation string // CT
	AlertType           string // CV, 2 digits
	HoldPatronID        string // CY
	HoldPatronName      string // DA
	ScreenMessage       []string
	PrintLine           []string
	Extra               []Field
}

// ResponseCode returns "10".
func (r *CheckinResponse) ResponseCode() string { return "10" }

// Succeeded reports r.OK.
func (r *CheckinResponse) Succeeded() bool { return r.OK }
func (r *CheckinResponse) appendBody(e *encoder) {
	e.ok(r.OK)
	e.yn(r.Resensitize)
	e.ynu(r.MagneticMedia)
	e.yn(r.Alert)
	e.date(r.TransactionDate)
	e.field("AO", r.InstitutionID)
	e.field("AB", r.ItemID)
	e.field("AQ", r.PermanentLocation)
	e.opt("AJ", r.TitleID)
	e.opt("CL", r.SortBin)
	e.opt("AA", r.PatronID)
	e.opt("CK", r.MediaType)
	e.opt("CH", r.ItemProperties)
	e.opt("CR", r.CollectionCode)
	e.opt("CS", r.CallNumber)
	e.opt("CT", r.DestinationLocation)
	e.opt("CV", r.AlertType)
	e.opt("CY", r.HoldPatronID)
	e.opt("DA", r.HoldPatronName)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// HoldResponse is message 16.
type HoldResponse struct {
	OK              bool
	Available       bool
	TransactionDate time.Time
	ExpirationDate  time.Time // BW; left out when zero
	QueuePosition   *int      // BR
	PickupLocation  string    // BS
	InstitutionID   string    // AO
	PatronID        string    // AA
	ItemID          string    // AB
	TitleID         string    // AJ
	ScreenMessage   []string
	PrintLine       []string
	Extra           []Field
}

// ResponseCode returns "16".
func (r *HoldResponse) ResponseCode() string { return "16" }

// Succeeded reports r.OK.
func (r *HoldResponse) Succeeded() bool { return r.OK }
func (r *HoldResponse) appendBody(e *encoder) {
	e.ok(r.OK)
	e.yn(r.Available)
	e.date(r.TransactionDate)
	e.optDate("BW", r.ExpirationDate)
	if r.QueuePosition != nil {
		e.raw("BR")
		e.buf = appendInt(e.buf, *r.QueuePosition)
		e.end()
	}
	e.opt("BS", r.PickupLocation)
	e.field("AO", r.InstitutionID)
	e.field("AA", r.PatronID)
	e.opt("AB", r.ItemID)
	e.opt("AJ", r.TitleID)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

func appendInt(dst []byte, n int) []byte {
	if n < 0 {
		n = 0
	}
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// ItemInfoResponse is message 18.
type ItemInfoResponse struct {
	CirculationStatus string // 2 digits, see Circ…; "01" (other) when invalid
	SecurityMarker    string // 2 digits: "00" other, "01" none, "02" tattle-tape, "03" whisper tape; "01" when invalid
	FeeType           string // 2 digits; "01" (other/unknown) when invalid
	TransactionDate   time.Time
	HoldQueueLength   *int      // CF
	DueDate           time.Time // AH; left out when zero and DueDateText is empty
	DueDateText       string    // AH as free text, written instead of DueDate
	RecallDate        time.Time // CJ
	HoldPickupDate    time.Time // CM
	ItemID            string    // AB
	TitleID           string    // AJ
	Owner             string    // BG
	Currency          string    // BH
	FeeAmount         string    // BV
	MediaType         string    // CK
	PermanentLocation string    // AQ
	CurrentLocation   string    // AP
	ItemProperties    string    // CH
	ScreenMessage     []string
	PrintLine         []string
	Extra             []Field
}

// ResponseCode returns "18".
func (r *ItemInfoResponse) ResponseCode() string { return "18" }

// Succeeded reports whether the item is known (a title was found).
func (r *ItemInfoResponse) Succeeded() bool { return r.TitleID != "" }
func (r *ItemInfoResponse) appendBody(e *encoder) {
	e.code(r.CirculationStatus, 2, CircOther)
	e.code(r.SecurityMarker, 2, "01")
	e.code(r.FeeType, 2, "01")
	e.date(r.TransactionDate)
	if r.HoldQueueLength != nil {
		e.raw("CF")
		e.buf = appendInt(e.buf, *r.HoldQueueLength)
		e.end()
	}
	if r.DueDateText != "" {
		e.field("AH", r.DueDateText)
	} else {
		e.optDate("AH", r.DueDate)
	}
	e.optDate("CJ", r.RecallDate)
	e.optDate("CM", r.HoldPickupDate)
	e.field("AB", r.ItemID)
	e.field("AJ", r.TitleID)
	e.opt("BG", r.Owner)
	e.opt("BH", r.Currency)
	e.opt("BV", r.FeeAmount)
	e.opt("CK", r.MediaType)
	e.opt("AQ", r.PermanentLocation)
	e.opt("AP", r.CurrentLocation)
	e.opt("CH", r.ItemProperties)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// ItemStatusUpdateResponse is message 20.
type ItemStatusUpdateResponse struct {
	ItemPropertiesOK bool
	TransactionDate  time.Time
	ItemID           string // AB
	TitleID          string // AJ
	ItemProperties   string // CH
	ScreenMessage    []string
	PrintLine        []string
	Extra            []Field
}

// ResponseCode returns "20".
func (r *ItemStatusUpdateResponse) ResponseCode() string { return "20" }

// Succeeded reports r.ItemPropertiesOK.
func (r *ItemStatusUpdateResponse) Succeeded() bool { return r.ItemPropertiesOK }
func (r *ItemStatusUpdateResponse) appendBody(e *encoder) {
	e.ok(r.ItemPropertiesOK)
	e.date(r.TransactionDate)
	e.field("AB", r.ItemID)
	e.opt("AJ", r.TitleID)
	e.opt("CH", r.ItemProperties)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// RenewAllResponse is message 66; the counts are those of the lists.
type RenewAllResponse struct {
	OK              bool
	TransactionDate time.Time
	InstitutionID   string   // AO
	Renewed         []string // BM
	Unrenewed       []string // BN
	ScreenMessage   []string
	PrintLine       []string
	Extra           []Field
}

// ResponseCode returns "66".
func (r *RenewAllResponse) ResponseCode() string { return "66" }

// Succeeded reports r.OK.
func (r *RenewAllResponse) Succeeded() bool { return r.OK }
func (r *RenewAllResponse) appendBody(e *encoder) {
	e.ok(r.OK)
	e.num(len(r.Renewed), 4)
	e.num(len(r.Unrenewed), 4)
	e.date(r.TransactionDate)
	e.field("AO", r.InstitutionID)
	e.list("BM", r.Renewed)
	e.list("BN", r.Unrenewed)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// EndSessionResponse is message 36.
type EndSessionResponse struct {
	EndSession      bool
	TransactionDate time.Time
	InstitutionID   string // AO
	PatronID        string // AA
	ScreenMessage   []string
	PrintLine       []string
	Extra           []Field
}

// ResponseCode returns "36".
func (r *EndSessionResponse) ResponseCode() string { return "36" }

// Succeeded reports r.EndSession.
func (r *EndSessionResponse) Succeeded() bool { return r.EndSession }
func (r *EndSessionResponse) appendBody(e *encoder) {
	e.yn(r.EndSession)
	e.date(r.TransactionDate)
	e.field("AO", r.InstitutionID)
	e.field("AA", r.PatronID)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}

// FeePaidResponse is message 38.
type FeePaidResponse struct {
	PaymentAccepted bool
	TransactionDate time.Time
	InstitutionID   string // AO
	PatronID        string // AA
	TransactionID   string // BK
	ScreenMessage   []string
	PrintLine       []string
	Extra           []Field
}

// ResponseCode returns "38".
func (r *FeePaidResponse) ResponseCode() string { return "38" }

// Succeeded reports r.PaymentAccepted.
func (r *FeePaidResponse) Succeeded() bool { return r.PaymentAccepted }
func (r *FeePaidResponse) appendBody(e *encoder) {
	e.yn(r.PaymentAccepted)
	e.date(r.TransactionDate)
	e.field("AO", r.InstitutionID)
	e.field("AA", r.PatronID)
	e.opt("BK", r.TransactionID)
	e.tail(r.ScreenMessage, r.PrintLine, r.Extra)
}
