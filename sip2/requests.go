package sip2

import (
	"fmt"
	"time"
)

// Header is embedded in every typed request. It keeps the decoded message,
// so the sequence number, the checksum, the raw frame and any field the
// typed struct has no name for stay available, e.g. to deduplicate
// retransmissions in a journal or to read a site-defined extension field.
type Header struct {
	Message *Message
}

// Seq returns the AY sequence number as received, or "".
func (h Header) Seq() string { return h.Message.Seq }

// Checksum returns the AZ checksum as received, or "".
func (h Header) Checksum() string { return h.Message.Checksum }

// Raw returns the frame as received (wire charset, no terminator). It
// contains passwords and PINs: never log it.
func (h Header) Raw() string { return h.Message.Raw }

// fixedReader walks the fixed part of a request leniently: short or
// malformed values read as zero values.
type fixedReader struct {
	s   string
	loc *time.Location
}

func (r *fixedReader) take(n int) string {
	if n > len(r.s) {
		n = len(r.s)
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

func (r *fixedReader) yes() bool {
	v := r.take(1)
	return v == "Y" || v == "y"
}

func (r *fixedReader) date() time.Time {
	t, _ := ParseDate(r.take(DateLen), r.loc)
	return t
}

func checkCode(m *Message, code string) (fixedReader, error) {
	if m.Code != code {
		return fixedReader{}, fmt.Errorf("sip2: message %s is not a %s", m.Code, code)
	}
	return fixedReader{s: m.Fixed}, nil
}

func yes(v string) bool { return v == "Y" || v == "y" }

// LoginRequest is message 93.
type LoginRequest struct {
	Header
	UIDAlgorithm    byte   // '0' = plain text
	PWDAlgorithm    byte   // '0' = plain text
	UserID          string // CN
	Password        string // CO
	LocationCode    string // CP
	HasPassword     bool   // CO was present (possibly empty)
	HasLocationCode bool   // CP was present
}

// Decode fills r from message 93. Dates are read in loc (nil: time.Local).
func (r *LoginRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "93")
	if err != nil {
		return err
	}
	*r = LoginRequest{Header: Header{m}, UIDAlgorithm: '0', PWDAlgorithm: '0'}
	if a := f.take(1); a != "" {
		r.UIDAlgorithm = a[0]
	}
	if a := f.take(1); a != "" {
		r.PWDAlgorithm = a[0]
	}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "CN":
			r.UserID = fl.Value
		case "CO":
			r.Password, r.HasPassword = fl.Value, true
		case "CP":
			r.LocationCode, r.HasLocationCode = fl.Value, true
		}
	}
	return nil
}

// SCStatus is message 99.
type SCStatus struct {
	Header
	StatusCode      int // 0 ok, 1 printer out of paper, 2 shutting down
	MaxPrintWidth   int // characters; 0 when the device did not say
	ProtocolVersion string
}

// Decode fills r from message 99.
func (r *SCStatus) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "99")
	if err != nil {
		return err
	}
	*r = SCStatus{Header: Header{m}}
	r.StatusCode = atoi(f.take(1))
	r.MaxPrintWidth = atoi(f.take(3))
	r.ProtocolVersion = f.take(4)
	return nil
}

// PatronStatusRequest is message 23.
type PatronStatusRequest struct {
	Header
	Language          string // 3 digits, e.g. "001" English
	TransactionDate   time.Time
	InstitutionID     string // AO
	PatronID          string // AA
	TerminalPassword  string // AC
	PatronPassword    string // AD
	HasPatronPassword bool   // AD was present (possibly empty)
}

// Decode fills r from message 23.
func (r *PatronStatusRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "23")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = PatronStatusRequest{Header: Header{m}, Language: f.take(3), TransactionDate: f.date()}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AO":
			r.InstitutionID = fl.Value
		case "AA":
			r.PatronID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		case "AD":
			r.PatronPassword, r.HasPatronPassword = fl.Value, true
		}
	}
	return nil
}

// BlockPatronRequest is message 01; it is answered with a 24.
type BlockPatronRequest struct {
	Header
	CardRetained     bool
	TransactionDate  time.Time
	InstitutionID    string // AO
	BlockedCardMsg   string // AL
	PatronID         string // AA
	TerminalPassword string // AC
}

// Decode fills r from message 01.
func (r *BlockPatronRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "01")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = BlockPatronRequest{Header: Header{m}, CardRetained: f.yes(), TransactionDate: f.date()}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AO":
			r.InstitutionID = fl.Value
		case "AL":
			r.BlockedCardMsg = fl.Value
		case "AA":
			r.PatronID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		}
	}
	return nil
}

// Summary selects the item list a 64 response carries.
type Summary int8

// Item lists a patron information request can ask for.
const (
	SummaryNone             Summary = -1
	SummaryHoldItems        Summary = 0
	SummaryOverdueItems     Summary = 1
	SummaryChargedItems     Summary = 2
	SummaryFineItems        Summary = 3
	SummaryRecallItems      Summary = 4
	SummaryUnavailableHolds Summary = 5
	summaryPositionsDefined         = 6
)

// PatronInfoRequest is message 63.
type PatronInfoRequest struct {
	Header
	Language          string
	TransactionDate   time.Time
	Summary           Summary // the first 'Y' in the summary field, or SummaryNone
	InstitutionID     string  // AO
	PatronID          string  // AA
	TerminalPassword  string  // AC
	PatronPassword    string  // AD
	HasPatronPassword bool
	StartItem         int // BP, 1-based; 0 when absent
	EndItem           int // BQ, 1-based; 0 when absent
}

// Decode fills r from message 63.
func (r *PatronInfoRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "63")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = PatronInfoRequest{Header: Header{m}, Language: f.take(3), TransactionDate: f.date(), Summary: SummaryNone}
	sum := f.take(10)
	for i := 0; i < len(sum) && i < summaryPositionsDefined; i++ {
		if sum[i] == 'Y' || sum[i] == 'y' {
			r.Summary = Summary(i)
			break
		}
	}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AO":
			r.InstitutionID = fl.Value
		case "AA":
			r.PatronID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		case "AD":
			r.PatronPassword, r.HasPatronPassword = fl.Value, true
		case "BP":
			r.StartItem = atoi(fl.Value)
		case "BQ":
			r.EndItem = atoi(fl.Value)
		}
	}
	return nil
}

// CheckoutRequest is message 11.
type CheckoutRequest struct {
	Header
	SCRenewalPolicy   bool // the SC allows renewal by checkout
	NoBlock           bool // an offline transaction replayed later
	TransactionDate   time.Time
	NBDueDate         time.Time // no-block due date; zero when blank
	InstitutionID     string    // AO
	PatronID          string    // AA
	ItemID            string    // AB
	TerminalPassword  string    // AC
	ItemProperties    string    // CH
	PatronPassword    string    // AD
	HasPatronPassword bool
	FeeAcknowledged   bool // BO=Y
	Cancel            bool // BI=Y: cancel a failed checkout
}

// Decode fills r from message 11.
func (r *CheckoutRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "11")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = CheckoutRequest{Header: Header{m}, SCRenewalPolicy: f.yes(), NoBlock: f.yes(), TransactionDate: f.date(), NBDueDate: f.date()}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AO":
			r.InstitutionID = fl.Value
		case "AA":
			r.PatronID = fl.Value
		case "AB":
			r.ItemID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		case "CH":
			r.ItemProperties = fl.Value
		case "AD":
			r.PatronPassword, r.HasPatronPassword = fl.Value, true
		case "BO":
			r.FeeAcknowledged = yes(fl.Value)
		case "BI":
			r.Cancel = yes(fl.Value)
		}
	}
	return nil
}

// CheckinRequest is message 09.
type CheckinRequest struct {
	Header
	NoBlock          bool
	TransactionDate  time.Time
	ReturnDate       time.Time
	CurrentLocation  string // AP
	InstitutionID    string // AO
	ItemID           string // AB
	TerminalPassword string // AC
	ItemProperties   string // CH
	Cancel           bool   // BI=Y
}

// Decode fills r from message 09.
func (r *CheckinRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "09")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = CheckinRequest{Header: Header{m}, NoBlock: f.yes(), TransactionDate: f.date(), ReturnDate: f.date()}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AP":
			r.CurrentLocation = fl.Value
		case "AO":
			r.InstitutionID = fl.Value
		case "AB":
			r.ItemID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		case "CH":
			r.ItemProperties = fl.Value
		case "BI":
			r.Cancel = yes(fl.Value)
		}
	}
	return nil
}

// HoldRequest is message 15.
type HoldRequest struct {
	Header
	Mode              byte // '+' add, '-' delete, '*' change
	TransactionDate   time.Time
	ExpirationDate    time.Time // BW; zero when absent
	PickupLocation    string    // BS
	HoldType          byte      // BY: '1' other, '2' any copy, '3' specific copy, '4' any copy at a location; 0 when absent
	InstitutionID     string    // AO
	PatronID          string    // AA
	PatronPassword    string    // AD
	HasPatronPassword bool
	ItemID            string // AB
	TitleID           string // AJ
	TerminalPassword  string // AC
	FeeAcknowledged   bool   // BO=Y
}

// Decode fills r from message 15.
func (r *HoldRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "15")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = HoldRequest{Header: Header{m}}
	if mode := f.take(1); mode != "" {
		r.Mode = mode[0]
	}
	r.TransactionDate = f.date()
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "BW":
			r.ExpirationDate, _ = ParseDate(fl.Value, loc)
		case "BS":
			r.PickupLocation = fl.Value
		case "BY":
			if fl.Value != "" {
				r.HoldType = fl.Value[0]
			}
		case "AO":
			r.InstitutionID = fl.Value
		case "AA":
			r.PatronID = fl.Value
		case "AD":
			r.PatronPassword, r.HasPatronPassword = fl.Value, true
		case "AB":
			r.ItemID = fl.Value
		case "AJ":
			r.TitleID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		case "BO":
			r.FeeAcknowledged = yes(fl.Value)
		}
	}
	return nil
}

// ItemInfoRequest is message 17.
type ItemInfoRequest struct {
	Header
	TransactionDate  time.Time
	InstitutionID    string // AO
	ItemID           string // AB
	TerminalPassword string // AC
}

// Decode fills r from message 17.
func (r *ItemInfoRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "17")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = ItemInfoRequest{Header: Header{m}, TransactionDate: f.date()}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AO":
			r.InstitutionID = fl.Value
		case "AB":
			r.ItemID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		}
	}
	return nil
}

// ItemStatusUpdateRequest is message 19.
type ItemStatusUpdateRequest struct {
	Header
	TransactionDate  time.Time
	InstitutionID    string // AO
	ItemID           string // AB
	TerminalPassword string // AC
	ItemProperties   string // CH
}

// Decode fills r from message 19.
func (r *ItemStatusUpdateRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "19")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = ItemStatusUpdateRequest{Header: Header{m}, TransactionDate: f.date()}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AO":
			r.InstitutionID = fl.Value
		case "AB":
			r.ItemID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		case "CH":
			r.ItemProperties = fl.Value
		}
	}
	return nil
}

// PatronEnableRequest is message 25.
type PatronEnableRequest struct {
	Header
	TransactionDate   time.Time
	InstitutionID     string // AO
	PatronID          string // AA
	TerminalPassword  string // AC
	PatronPassword    string // AD
	HasPatronPassword bool
}

// Decode fills r from message 25.
func (r *PatronEnableRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "25")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = PatronEnableRequest{Header: Header{m}, TransactionDate: f.date()}
	r.decodePatron(m)
	return nil
}

func (r *PatronEnableRequest) decodePatron(m *Message) {
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AO":
			r.InstitutionID = fl.Value
		case "AA":
			r.PatronID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		case "AD":
			r.PatronPassword, r.HasPatronPassword = fl.Value, true
		}
	}
}

// EndSessionRequest is message 35.
type EndSessionRequest PatronEnableRequest

// Decode fills r from message 35.
func (r *EndSessionRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "35")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = EndSessionRequest{Header: Header{m}, TransactionDate: f.date()}
	(*PatronEnableRequest)(r).decodePatron(m)
	return nil
}

// RenewRequest is message 29.
type RenewRequest struct {
	Header
	ThirdPartyAllowed bool
	NoBlock           bool
	TransactionDate   time.Time
	NBDueDate         time.Time
	InstitutionID     string // AO
	PatronID          string // AA
	PatronPassword    string // AD
	HasPatronPassword bool
	ItemID            string // AB
	TitleID           string // AJ
	TerminalPassword  string // AC
	ItemProperties    string // CH
	FeeAcknowledged   bool   // BO=Y
}

// Decode fills r from message 29.
func (r *RenewRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "29")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = RenewRequest{Header: Header{m}, ThirdPartyAllowed: f.yes(), NoBlock: f.yes(), TransactionDate: f.date(), NBDueDate: f.date()}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AO":
			r.InstitutionID = fl.Value
		case "AA":
			r.PatronID = fl.Value
		case "AD":
			r.PatronPassword, r.HasPatronPassword = fl.Value, true
		case "AB":
			r.ItemID = fl.Value
		case "AJ":
			r.TitleID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		case "CH":
			r.ItemProperties = fl.Value
		case "BO":
			r.FeeAcknowledged = yes(fl.Value)
		}
	}
	return nil
}

// RenewAllRequest is message 65.
type RenewAllRequest struct {
	Header
	TransactionDate   time.Time
	InstitutionID     string // AO
	PatronID          string // AA
	PatronPassword    string // AD
	HasPatronPassword bool
	TerminalPassword  string // AC
	FeeAcknowledged   bool   // BO=Y
}

// Decode fills r from message 65.
func (r *RenewAllRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "65")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = RenewAllRequest{Header: Header{m}, TransactionDate: f.date()}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "AO":
			r.InstitutionID = fl.Value
		case "AA":
			r.PatronID = fl.Value
		case "AD":
			r.PatronPassword, r.HasPatronPassword = fl.Value, true
		case "AC":
			r.TerminalPassword = fl.Value
		case "BO":
			r.FeeAcknowledged = yes(fl.Value)
		}
	}
	return nil
}

// FeePaidRequest is message 37.
type FeePaidRequest struct {
	Header
	TransactionDate   time.Time
	FeeType           string // 2 digits, e.g. "04" overdue
	PaymentType       string // 2 digits: "00" cash, "01" VISA, "02" credit card
	Currency          string // ISO 4217, e.g. "USD"
	FeeAmount         string // BV, as sent (e.g. "1.50")
	InstitutionID     string // AO
	PatronID          string // AA
	TerminalPassword  string // AC
	PatronPassword    string // AD
	HasPatronPassword bool
	FeeID             string // CG
	TransactionID     string // BK
}

// Decode fills r from message 37.
func (r *FeePaidRequest) Decode(m *Message, loc *time.Location) error {
	f, err := checkCode(m, "37")
	if err != nil {
		return err
	}
	f.loc = loc
	*r = FeePaidRequest{Header: Header{m}, TransactionDate: f.date(), FeeType: f.take(2), PaymentType: f.take(2), Currency: f.take(3)}
	for _, fl := range m.Fields {
		switch fl.Tag {
		case "BV":
			r.FeeAmount = fl.Value
		case "AO":
			r.InstitutionID = fl.Value
		case "AA":
			r.PatronID = fl.Value
		case "AC":
			r.TerminalPassword = fl.Value
		case "AD":
			r.PatronPassword, r.HasPatronPassword = fl.Value, true
		case "CG":
			r.FeeID = fl.Value
		case "BK":
			r.TransactionID = fl.Value
		}
	}
	return nil
}
