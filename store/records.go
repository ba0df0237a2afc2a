package store

import "time"

// Money is in integer minor units of the record's currency; times are UTC.
// The records circulation touches on every message are stored in the binary
// layouts of encoding.go, the rest as JSON; the json tags also name the
// fields in the CLI's --json output.

// Library is a library of the institution (MAIN, BRANCH, …).
type Library struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"` // IANA zone in which times are shown
	Currency string `json:"currency"` // ISO 4217
	Address  string `json:"address,omitempty"`
}

// Institution is the installation's own identity in files partners read:
// 852 $a of published holdings, in OAI-PMH and in files, and the
// InstitutionId of bursar files. It is one setting so that every file
// names the institution the same way.
type Institution struct {
	Code string `json:"code"`
	Name string `json:"name,omitempty"`
}

// Location is a shelving location of a library. A remote-storage location
// names the facility that holds its items.
type Location struct {
	Code          string `json:"code"`
	Library       string `json:"library"`
	Name          string `json:"name"`
	RemoteStorage bool   `json:"remote_storage,omitempty"`
	Facility      string `json:"facility,omitempty"`
	// NotCirculating marks a location whose items stay in the building
	// (reference, reading room); the zero value circulates, as every
	// location stored before the field existed did.
	NotCirculating bool   `json:"not_circulating,omitempty"`
	CallNumberType string `json:"call_number_type,omitempty"` // lc, dewey, local, …
}

// Desk is a circulation desk: the library it belongs to and the locations
// whose items it serves.
type Desk struct {
	Code      string   `json:"code"`
	Library   string   `json:"library"`
	Name      string   `json:"name"`
	Locations []string `json:"locations"`
}

// Bib is a bibliographic record: the MARCXML kept as given, plus fields
// extracted from it for display and search.
type Bib struct {
	ID            uint64    `json:"id"`
	ControlNumber string    `json:"control_number,omitempty"` // MARC 001
	MARCXML       string    `json:"-"`                        // stored apart; filled by BibMARC, written by PutBib when set
	Title         string    `json:"title"`
	Author        string    `json:"author,omitempty"`
	ISBN          string    `json:"isbn,omitempty"`
	CallNumber    string    `json:"call_number,omitempty"`
	MaterialType  string    `json:"material_type,omitempty"`  // e.g. book, video
	SystemNumbers []string  `json:"system_numbers,omitempty"` // 035 $a, as NormalizeSystemNumber gives them
	Temporary     bool      `json:"temporary,omitempty"`      // created for a borrowed ILL item
	Suppressed    bool      `json:"suppressed,omitempty"`
	Deleted       bool      `json:"deleted,omitempty"` // tombstone, kept for harvesters
	Created       time.Time `json:"created"`
	Changed       time.Time `json:"-"` // latest change to the record, its holdings or items (kept apart, cheap to touch)
}

// Holding groups the items of a bib at one location.
type Holding struct {
	ID         uint64 `json:"id"`
	BibID      uint64 `json:"bib_id"`
	Library    string `json:"library"`
	Location   string `json:"location"`
	CallNumber string `json:"call_number,omitempty"`
}

// ItemStatus is the physical and circulation state of an item.
type ItemStatus string

// Item statuses; each maps to one SIP2 circulation status.
const (
	ItemAvailable       ItemStatus = "available"
	ItemOnLoan          ItemStatus = "on_loan"
	ItemOnHoldShelf     ItemStatus = "on_hold_shelf"
	ItemInTransit       ItemStatus = "in_transit"
	ItemReshelving      ItemStatus = "reshelving"
	ItemInProcess       ItemStatus = "in_process"
	ItemOnOrder         ItemStatus = "on_order"
	ItemClaimedReturned ItemStatus = "claimed_returned"
	ItemLost            ItemStatus = "lost"
	ItemMissing         ItemStatus = "missing"
)

// ItemStatuses lists every status, for validation and reports.
var ItemStatuses = []ItemStatus{ItemAvailable, ItemOnLoan, ItemOnHoldShelf, ItemInTransit,
	ItemReshelving, ItemInProcess, ItemOnOrder, ItemClaimedReturned, ItemLost, ItemMissing}

// Item is one physical copy.
type Item struct {
	ID          uint64     `json:"id"`
	Barcode     string     `json:"barcode"`
	BibID       uint64     `json:"bib_id"`
	HoldingID   uint64     `json:"holding_id"`
	Library     string     `json:"library"`
	Location    string     `json:"location"`
	CallNumber  string     `json:"call_number,omitempty"`
	MediaType   string     `json:"media_type"` // SIP2 media type code, 000–010
	Policy      string     `json:"policy"`     // item policy, the column of the loan rules
	Status      ItemStatus `json:"status"`
	Magnetic    bool       `json:"magnetic,omitempty"`
	Pieces      int        `json:"pieces"`
	Properties  string     `json:"properties,omitempty"`   // SIP2 CH, set by message 19
	TransitTo   string     `json:"transit_to,omitempty"`   // library code while in transit
	HeldFor     uint64     `json:"held_for,omitempty"`     // request id while on the hold shelf
	StorageNote string     `json:"storage_note,omitempty"` // last remote-storage state
	Temporary   bool       `json:"temporary,omitempty"`    // borrowed through ILL
	Created     time.Time  `json:"created"`
	Updated     time.Time  `json:"updated"`
	Price       int64      `json:"price,omitempty"` // replacement or purchase price, minor units of the library's currency
	Note        string     `json:"note,omitempty"`  // for staff
}

// Identifier is a typed patron identifier (barcode, university id, e-mail …).
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// IdentBarcode is the identifier type of a patron's primary id.
const IdentBarcode = "barcode"

// Contact is one contact segment of a patron. External segments come from
// the student information system and are replaced by its files; internal
// ones were added by library staff and are kept.
type Contact struct {
	Kind      string `json:"kind"` // address, email, phone, sms
	Type      string `json:"type,omitempty"`
	Value     string `json:"value,omitempty"` // e-mail, phone number
	Line1     string `json:"line1,omitempty"`
	Line2     string `json:"line2,omitempty"`
	City      string `json:"city,omitempty"`
	Region    string `json:"region,omitempty"`
	Postal    string `json:"postal,omitempty"`
	Country   string `json:"country,omitempty"`
	Preferred bool   `json:"preferred,omitempty"`
	External  bool   `json:"external,omitempty"`
}

// Block is a block placed on a patron.
type Block struct {
	Type     string    `json:"type"` // manual, …
	Note     string    `json:"note,omitempty"`
	Created  time.Time `json:"created"`
	External bool      `json:"external,omitempty"`
}

// Patron is a library user.
type Patron struct {
	ID          uint64       `json:"id"`
	Barcode     string       `json:"barcode"` // primary id
	Identifiers []Identifier `json:"identifiers,omitempty"`
	FirstName   string       `json:"first_name,omitempty"`
	LastName    string       `json:"last_name"`
	Birthdate   string       `json:"birthdate,omitempty"` // YYYY-MM-DD
	UserGroup   string       `json:"user_group"`
	HomeLibrary string       `json:"home_library"`
	Expiry      time.Time    `json:"expiry"`
	PINHash     string       `json:"pin_hash,omitempty"`
	Language    string       `json:"language,omitempty"` // ISO 639-2, e.g. eng
	Contacts    []Contact    `json:"contacts,omitempty"`
	Blocks      []Block      `json:"blocks,omitempty"`
	JobTitle    string       `json:"job_title,omitempty"`
	Campus      string       `json:"campus,omitempty"`
	ShareLib    string       `json:"resource_sharing_library,omitempty"`
	External    bool         `json:"external,omitempty"` // owned by the student information system
	StaffEdited []string     `json:"staff_edited,omitempty"`
	Institution bool         `json:"institution,omitempty"` // an institutional patron used for lending
	Created     time.Time    `json:"created"`
	Updated     time.Time    `json:"updated"`
}

// FullName is the patron's name for display.
func (p *Patron) FullName() string {
	if p.FirstName == "" {
		return p.LastName
	}
	return p.FirstName + " " + p.LastName
}

// ContactOf returns the patron's preferred contact of a kind, or the first.
func (p *Patron) ContactOf(kind string) (Contact, bool) {
	var found Contact
	ok := false
	for _, c := range p.Contacts {
		if c.Kind != kind {
			continue
		}
		if !ok || c.Preferred {
			found, ok = c, true
			if c.Preferred {
				break
			}
		}
	}
	return found, ok
}

// Loan is a checkout, open while Returned is zero.
type Loan struct {
	ID          uint64    `json:"id"`
	ItemID      uint64    `json:"item_id"`
	PatronID    uint64    `json:"patron_id"`
	Library     string    `json:"library"`
	Out         time.Time `json:"out"`
	Due         time.Time `json:"due"`
	Renewals    int       `json:"renewals"`
	Recalled    bool      `json:"recalled,omitempty"`
	NoBlock     bool      `json:"no_block,omitempty"`     // accepted offline, with the kiosk's due date
	NeedsReview bool      `json:"needs_review,omitempty"` // flagged for staff
	Agent       string    `json:"agent,omitempty"`        // protocol/account that made it
	Returned    time.Time `json:"returned,omitempty"`
	ReturnedAt  string    `json:"returned_at,omitempty"` // library code
}

// Open reports whether the loan is still out.
func (l *Loan) Open() bool { return l.Returned.IsZero() }

// RequestKind says who a request serves.
type RequestKind string

// Request kinds.
const (
	RequestHold            RequestKind = "hold"
	RequestRetrieval       RequestKind = "retrieval" // from a remote-storage facility
	RequestResourceSharing RequestKind = "resource_sharing"
)

// RequestStatus is the lifecycle state of a request.
type RequestStatus string

// Request statuses; the first three are open.
const (
	RequestWaiting   RequestStatus = "waiting"
	RequestInTransit RequestStatus = "in_transit"
	RequestOnShelf   RequestStatus = "on_shelf"
	RequestFulfilled RequestStatus = "fulfilled"
	RequestCancelled RequestStatus = "cancelled"
	RequestExpired   RequestStatus = "expired"
)

// Open reports whether a request in this status still waits.
func (s RequestStatus) Open() bool {
	return s == RequestWaiting || s == RequestInTransit || s == RequestOnShelf
}

// Request is a hold, a remote-storage retrieval or a resource-sharing request.
type Request struct {
	ID           uint64        `json:"id"`
	Kind         RequestKind   `json:"kind"`
	TitleLevel   bool          `json:"title_level"`
	BibID        uint64        `json:"bib_id"`
	ItemID       uint64        `json:"item_id,omitempty"` // the requested item, or the one trapped for it
	PatronID     uint64        `json:"patron_id"`
	Pickup       string        `json:"pickup"` // library code
	Status       RequestStatus `json:"status"`
	Created      time.Time     `json:"created"`
	Expires      time.Time     `json:"expires,omitempty"`       // not wanted after
	ShelfExpires time.Time     `json:"shelf_expires,omitempty"` // pickup deadline once on the shelf
	Facility     string        `json:"facility,omitempty"`
	Partner      string        `json:"partner,omitempty"`     // NCIP partner code
	ExternalID   string        `json:"external_id,omitempty"` // partner's request id
	ParentID     uint64        `json:"parent_id,omitempty"`   // the hold a retrieval serves
	Closed       time.Time     `json:"closed,omitempty"`
	Note         string        `json:"note,omitempty"`
}

// FeeStatus is the state of a fee.
type FeeStatus string

// Fee statuses.
const (
	FeeOpen         FeeStatus = "open"
	FeePaid         FeeStatus = "paid"
	FeeWaived       FeeStatus = "waived"
	FeeExported     FeeStatus = "exported"      // sent to the bursar
	FeeExportedPaid FeeStatus = "exported_paid" // the bursar reported payment
	// FeeCredit is money the library owes the patron (a bursar's
	// overpayment): Balance is what is left of it. It is never outstanding
	// and it lowers what the patron owes (circ.StandingOf).
	FeeCredit FeeStatus = "credit"
)

// FeeTxnKind is what a fee transaction did.
type FeeTxnKind string

// Fee transaction kinds.
const (
	TxnPayment FeeTxnKind = "payment"
	TxnWaive   FeeTxnKind = "waive"
	TxnCredit  FeeTxnKind = "credit"
	TxnExport  FeeTxnKind = "export"
)

// FeeTxn is one transaction on a fee.
type FeeTxn struct {
	Kind        FeeTxnKind `json:"kind"`
	Amount      int64      `json:"amount"`
	At          time.Time  `json:"at"`
	ExternalID  string     `json:"external_id,omitempty"`
	PaymentType string     `json:"payment_type,omitempty"` // SIP2 00 cash, 01 VISA, 02 credit card
	Agent       string     `json:"agent,omitempty"`
}

// Fee is a charge on a patron's account.
type Fee struct {
	ID           uint64    `json:"id"`
	PatronID     uint64    `json:"patron_id"`
	ItemID       uint64    `json:"item_id,omitempty"`
	LoanID       uint64    `json:"loan_id,omitempty"`
	Type         string    `json:"type"` // SIP2 fee type 01–16
	Amount       int64     `json:"amount"`
	Balance      int64     `json:"balance"`
	Currency     string    `json:"currency"`
	Status       FeeStatus `json:"status"`
	Library      string    `json:"library"`
	Description  string    `json:"description,omitempty"`
	Created      time.Time `json:"created"`
	Transactions []FeeTxn  `json:"transactions,omitempty"`
}

// Outstanding reports whether the patron still owes on the fee.
func (f *Fee) Outstanding() bool {
	return f.Balance > 0 && (f.Status == FeeOpen || f.Status == FeeExported)
}

// LoanRule is one cell of the loan-rule table; empty fields match any value.
type LoanRule struct {
	UserGroup    string `json:"user_group,omitempty" yaml:"user_group,omitempty"`
	ItemPolicy   string `json:"item_policy,omitempty" yaml:"item_policy,omitempty"`
	Library      string `json:"library,omitempty" yaml:"library,omitempty"`
	Circulates   bool   `json:"circulates" yaml:"circulates"`
	LoanDays     int    `json:"loan_days,omitempty" yaml:"loan_days,omitempty"`
	LoanHours    int    `json:"loan_hours,omitempty" yaml:"loan_hours,omitempty"` // short loans
	RenewalLimit int    `json:"renewal_limit" yaml:"renewal_limit"`
	FinePerDay   int64  `json:"fine_per_day" yaml:"fine_per_day"`
	FineCap      int64  `json:"fine_cap" yaml:"fine_cap"`
}

// GroupRule holds the limits of a user group.
type GroupRule struct {
	UserGroup string `json:"user_group" yaml:"user_group"`
	LoanLimit int    `json:"loan_limit" yaml:"loan_limit"`
}

// Rules is the circulation policy of the installation.
type Rules struct {
	Loans  []LoanRule  `json:"loans" yaml:"loans"`
	Groups []GroupRule `json:"groups" yaml:"groups"`
	// Blocks: a patron is blocked from borrowing at or above these.
	MaxOverdue   int   `json:"max_overdue" yaml:"max_overdue"`
	MaxBalance   int64 `json:"max_balance" yaml:"max_balance"`
	BlockExpired bool  `json:"block_expired" yaml:"block_expired"`
	// RefuseOwnCheckout refuses, instead of renewing, a checkout of an item
	// already on loan to the same patron.
	RefuseOwnCheckout bool `json:"refuse_own_checkout" yaml:"refuse_own_checkout"`
	HoldShelfDays     int  `json:"hold_shelf_days" yaml:"hold_shelf_days"`
	HoldExpiryDays    int  `json:"hold_expiry_days" yaml:"hold_expiry_days"`
	// FeeAckAbove: a checkout of an item whose policy charges a rental fee
	// needs the patron's acknowledgement (SIP2 BO) when the fee is above this.
	RentalFees []RentalFee `json:"rental_fees,omitempty" yaml:"rental_fees,omitempty"`
	Currency   string      `json:"currency" yaml:"currency"`
}

// RentalFee charges a fee for each checkout of items with a policy.
type RentalFee struct {
	ItemPolicy string `json:"item_policy" yaml:"item_policy"`
	Amount     int64  `json:"amount" yaml:"amount"`
}

// Ref names a record an event touched.
type Ref struct {
	Kind string `json:"kind"` // bib, holding, item, patron, loan, request, fee, profile
	ID   uint64 `json:"id"`
}

// Event is one entry of the change journal.
type Event struct {
	Seq   uint64    `json:"seq"`
	At    time.Time `json:"at"`
	Kind  string    `json:"kind"` // checkout, checkin, fee.paid, item.update, …
	Refs  []Ref     `json:"refs"`
	Agent string    `json:"agent,omitempty"`
}

// StorageState is one step of an item's remote-storage history.
type StorageState struct {
	ItemID   uint64    `json:"item_id"`
	At       time.Time `json:"at"`
	State    string    `json:"state"` // requested, retrieved, refiled, not_found, accessioned
	Facility string    `json:"facility"`
	Request  uint64    `json:"request,omitempty"`
	Note     string    `json:"note,omitempty"`
}

// Group is a patron group (user group): the row of the loan rules a
// patron borrows under, and the key of the group loan limits.
type Group struct {
	Code    string    `json:"code"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Auth is where the group's patrons prove who they are: empty or
	// "local" for their PIN, "ldap:CODE" for the directory of LDAP
	// profile CODE.
	Auth string `json:"auth,omitempty"`
}

// Policy is an item policy: the column of the loan rules an item lends
// under, and the key of the rental fees.
type Policy struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// MediaType is the SIP2 media type (000–010) an item of the policy
	// gets when it is added without one; empty leaves the default, 001.
	MediaType string    `json:"media_type,omitempty"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// StaffAccount is a member of staff who may sign in to the status page.
// The password is kept only as a hash (circ.HashSecret).
type StaffAccount struct {
	Name         string    `json:"name"`
	PasswordHash string    `json:"password_hash"`
	Created      time.Time `json:"created"`
	// PasswordSet is when the password was last set; a sign-in from
	// before it is no longer valid.
	PasswordSet time.Time `json:"password_set"`
}

// IdemEntry is a stored answer to a request that may be repeated.
//
// A payment id (or a partner's charge id) names one payment for good: its
// entry has no Until and answers every repeat, however late. Any other
// entry answers only a retry: a repeat before Until whose Match is the
// entry's, when no journal event after Head names one of Refs (the records
// the first request changed). The caller decides that with ChangedSince.
type IdemEntry struct {
	At    time.Time `json:"at"`    // when the request was answered
	Until time.Time `json:"until"` // end of the retry window; zero: kept for good
	// Head is the journal head after the request's own events.
	Head uint64 `json:"head"`
	// Match is what a repeat under the same key must equal to be a retry
	// (a SIP2 kiosk's slot holds the hash of its last frame).
	Match  string `json:"match,omitempty"`
	Refs   []Ref  `json:"refs,omitempty"`
	Result []byte `json:"result"`
}

// PINFailures is a patron's run of wrong PINs since the last right one (or
// staff's unlock). It is kept apart from the patron record so a failure
// writes one small key and nothing in the journal.
type PINFailures struct {
	Count       int       `json:"count"`
	Last        time.Time `json:"last"`
	LockedUntil time.Time `json:"locked_until,omitempty"`
}
