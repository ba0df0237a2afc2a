// Package store is circa's store contract: the record types (bibs, items,
// patrons, loans, requests, fees, profiles, the journals), the interfaces a
// backend implements (DB, and Tx with its roles), and the sentinels and
// pure helpers every backend shares. The backends are store/boltstore, one
// embedded bbolt file, and store/pgstore, PostgreSQL for several nodes.
//
// circ and profiles use the interfaces; only the command-line program picks
// a backend.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// The store's contract: what circ, profiles and the command-line program may
// ask of a backend. A backend (store/boltstore, store/pgstore) implements DB
// and the Tx its View and Update hand to their functions; the small role
// interfaces below name the parts a caller needs, so a function that only
// reads the catalogue can say so.
//
// Every backend keeps the same semantics, and the same suites check them:
//   - Records returned are copies, valid after the transaction ends.
//   - Every Put keeps the record's indexes (barcodes, identifiers, open
//     loans, change order) in step in the same transaction.
//   - A transaction's function may run more than once (a group commit that
//     one operation failed, a serialization conflict): it must not have
//     effects outside the transaction except through its return value.
//   - ErrNotFound for a missing record, ErrConflict for a broken uniqueness
//     rule (a second open loan of an item, a barcode in use).

// Settings are the library-wide settings: the institution, the circulation
// rules, named settings and cursors, and the installation key.
type Settings interface {
	Institution() (Institution, error)
	PutInstitution(in *Institution) error
	Rules() (Rules, error)
	PutRules(r *Rules) error
	// Meta decodes the named setting into v (ErrNotFound when unset);
	// SetMeta stores v as JSON under name.
	Meta(name string, v any) error
	SetMeta(name string, v any) error
	// Cursor is a named reader's position in the change journal (0 when
	// unset); SetCursor moves it.
	Cursor(name string) uint64
	SetCursor(name string, seq uint64) error
	// InstallKey is the random key made when the store was created, from
	// which circ derives its signing keys.
	InstallKey() []byte
}

// Structure is the library's structure: libraries, locations, service
// desks, patron groups and item policies, each by code.
type Structure interface {
	PutLibrary(l *Library) error
	Library(code string) (Library, error)
	Libraries() ([]Library, error)
	DeleteLibrary(code string) error
	PutLocation(l *Location) error
	Location(code string) (Location, error)
	Locations() ([]Location, error)
	DeleteLocation(code string) error
	PutDesk(d *Desk) error
	Desk(code string) (Desk, error)
	Desks() ([]Desk, error)
	DeleteDesk(code string) error
	PutGroup(g *Group) error
	Group(code string) (Group, error)
	Groups() ([]Group, error)
	DeleteGroup(code string) error
	PutPolicy(p *Policy) error
	Policy(code string) (Policy, error)
	Policies() ([]Policy, error)
	DeletePolicy(code string) error
}

// Catalogue holds bibliographic records and holdings, with the change order
// that OAI-PMH harvests read.
type Catalogue interface {
	// PutBib creates (ID 0) or replaces a bib, stamping it changed at at.
	PutBib(b *Bib, at time.Time) error
	Bib(id uint64) (Bib, error)
	BibMARC(id uint64) (string, error)
	BibByControlNumber(cn string) (Bib, error)
	BibsByISBN(isbn string) []uint64
	BibsBySystemNumber(n string) []uint64
	// TouchBib stamps a bib changed at at without changing it (its items
	// or holdings changed).
	TouchBib(id uint64, at time.Time) error
	// BibsChanged calls fn in change order with the bibs changed in
	// [from, until) after the position (afterTime, afterID); zero bounds
	// are open.
	BibsChanged(from, until time.Time, afterTime time.Time, afterID uint64, fn func(Bib) bool) error
	EarliestChange() (time.Time, bool)
	ForEachBib(fn func(Bib) bool) error
	// ForEachBibHolding calls fn with the bibs whose stored form contains
	// text (ASCII case folded), a coarse filter before a precise match.
	ForEachBibHolding(text string, fn func(Bib) bool) error
	PutHolding(h *Holding, at time.Time) error
	Holding(id uint64) (Holding, error)
	HoldingsOfBib(bibID uint64) ([]Holding, error)
	ForEachHolding(fn func(Holding) bool) error
}

// Items holds the physical items and their remote-storage history.
type Items interface {
	PutItem(it *Item, at time.Time) error
	DeleteItem(id uint64, at time.Time) error
	Item(id uint64) (Item, error)
	ItemByBarcode(barcode string) (Item, error)
	ItemsOfBib(bibID uint64) ([]Item, error)
	ForEachItem(fn func(Item) bool) error
	ForEachItemHolding(text string, fn func(Item) bool) error
	AddStorageState(s StorageState) error
	StorageHistory(itemID uint64) ([]StorageState, error)
}

// Patrons holds patrons, their identifiers and their runs of wrong PINs.
type Patrons interface {
	PutPatron(p *Patron, at time.Time) error
	Patron(id uint64) (Patron, error)
	PatronByBarcode(barcode string) (Patron, error)
	PatronByIdentifier(typ, value string) (Patron, error)
	PatronsWithValue(value string) []uint64
	ForEachPatron(fn func(Patron) bool) error
	ForEachPatronHolding(text string, fn func(Patron) bool) error
	DeletePatron(id uint64) error
	PINFailures(patronID uint64) (PINFailures, error)
	PutPINFailures(patronID uint64, f PINFailures) error
}

// Loans holds loans, open and closed. An item has at most one open loan:
// OpenLoan answers ErrConflict for a second.
type Loans interface {
	OpenLoan(l *Loan) error
	UpdateLoan(l *Loan) error
	CloseLoan(l *Loan, at time.Time, library string) error
	Loan(id uint64) (Loan, error)
	OpenLoanOfItem(itemID uint64) (Loan, bool, error)
	OpenLoansOfPatron(patronID uint64) ([]Loan, error)
	LoanHistoryOfPatron(patronID uint64) ([]Loan, error)
	CountOpenLoansDueBefore(t time.Time) int
	OpenLoansDueBefore(t time.Time, fn func(Loan) bool) error
}

// Requests holds holds, recalls and interlibrary requests.
type Requests interface {
	PutRequest(r *Request) error
	Request(id uint64) (Request, error)
	RequestByExternalID(partner, externalID string) (Request, error)
	OpenRequestsOfBib(bibID uint64) ([]Request, error)
	OpenRequestsOfPatron(patronID uint64) ([]Request, error)
	ForEachRequest(fn func(Request) bool) error
}

// Fees holds fees and fines with their transactions.
type Fees interface {
	PutFee(f *Fee) error
	Fee(id uint64) (Fee, error)
	FeeByTransaction(txnID string) (Fee, error)
	FeesOfPatron(patronID uint64) ([]Fee, error)
	ForEachFee(fn func(Fee) bool) error
}

// Journal is the change journal that background loops read in order.
type Journal interface {
	// Emit appends an event and returns its sequence number.
	Emit(e Event) (uint64, error)
	JournalAfter(after uint64, fn func(Event) bool) error
	// JournalStart is the sequence of the first event at or after t.
	JournalStart(t time.Time) (uint64, error)
	JournalHead() uint64
}

// Idempotency keeps the answers of requests that may be repeated, and the
// records each operation touched, so a retry gets the stored answer only
// while nothing it changed has changed since.
type Idempotency interface {
	// Track starts collecting the circulation records the transaction
	// writes and returns how many it has collected so far; Touched returns
	// them in order, with repeats.
	Track() int
	Touched() []Ref
	Remembered(key string) (IdemEntry, bool, error)
	Remember(key string, e IdemEntry) error
	Forget(key string) error
	// ChangedSince reports whether a journal event after head names one
	// of refs.
	ChangedSince(head uint64, refs []Ref) (bool, error)
	// ForgetBefore drops the entries whose retry window ended before
	// cutoff, keeping those kept for good.
	ForgetBefore(cutoff time.Time) (int, error)
}

// ProfileDocs holds the profiles (kiosk, partner, exchange, publishing,
// storage…) as JSON documents by type and code.
type ProfileDocs interface {
	PutProfile(typ, code string, doc []byte) error
	Profile(typ, code string) ([]byte, error)
	DeleteProfile(typ, code string) error
	Profiles(typ string, fn func(code string, doc []byte) error) error
	ForEachProfile(fn func(typ, code string, doc []byte) error) error
}

// StaffAccounts holds the accounts that sign in to the status page.
type StaffAccounts interface {
	PutStaff(s *StaffAccount) error
	Staff(name string) (StaffAccount, error)
	StaffAccounts() ([]StaffAccount, error)
	DeleteStaff(name string) error
}

// AuditTrail is the trail of changes made by people and profiles.
type AuditTrail interface {
	ForEachAudit(f AuditFilter, fn func(AuditEntry) bool) error
	AuditRetention() time.Duration
	SetAuditRetention(d time.Duration) error
}

// Lease is a leadership Lead granted.
type Lease interface {
	// Lost is closed when the leadership ends without Release: the
	// database connection that held it failed, and another node may lead.
	Lost() <-chan struct{}
	// Release gives the leadership up.
	Release()
}

// Transfer reads and writes a library whole, for circa db copy: each kind
// of record enumerated, and written back as it was, ids, journal sequence
// numbers and the installation key kept. Records with ids of their own go
// through the roles' Put methods with the id set.
type Transfer interface {
	ForEachLoan(fn func(Loan) bool) error
	ForEachStorageState(fn func(StorageState) bool) error
	ForEachPINFailures(fn func(patronID uint64, f PINFailures) bool) error
	ForEachRemembered(fn func(key string, e IdemEntry) bool) error
	ForEachCursor(fn func(name string, seq uint64) bool) error
	// ForEachMeta calls fn with every named setting (SetMeta) as JSON.
	ForEachMeta(fn func(name string, raw json.RawMessage) bool) error
	CopyLoan(l *Loan) error
	CopyEvent(e Event) error
	CopyAuditEntry(e AuditEntry) error
	SetInstallKey(key []byte) error
	// FinishCopy moves every id sequence past the largest id copied, so
	// records created afterwards get new ids.
	FinishCopy() error
}

// Tx is one transaction over every role.
type Tx interface {
	Settings
	Structure
	Catalogue
	Items
	Patrons
	Loans
	Requests
	Fees
	Journal
	Idempotency
	ProfileDocs
	StaffAccounts
	AuditTrail
	Transfer
	// Writable reports whether the transaction can write.
	Writable() bool
}

// DB is an open store.
type DB interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a write transaction and returns once it is
	// durable. fn may run more than once; when ctx carries an audit scope
	// (WithAudit) the changes it makes are recorded in the audit trail.
	Update(ctx context.Context, fn func(Tx) error) error
	// Changed is closed at the next commit: background loops wait on it.
	Changed() <-chan struct{}
	// WaitCommitted returns once every commit started before t is done,
	// so a reader then sees every change stamped before t.
	WaitCommitted(t time.Time)
	// RecordAudit records one entry of its own in the audit scope ctx
	// carries (a bulk run with its counts); nothing without a scope.
	RecordAudit(ctx context.Context, kind, key, profile string, what any) error
	// PruneAudit drops audit entries older than the retention, in bounded
	// batches, and reports how many went.
	PruneAudit(ctx context.Context, now time.Time) (int, error)
	// Check verifies the indexes and circulation invariants and returns
	// every problem found.
	Check() ([]Problem, error)
	// Stats counts the records of each kind.
	Stats() (map[string]int, error)
	// Version is the schema version of the open store.
	Version() (uint64, error)
	CommitStats() CommitStats
	// Health is what the store last learnt of its ability to write;
	// CheckHealth writes a probe first when the store has been idle.
	Health() Health
	CheckHealth(ctx context.Context) Health
	// Lead returns once this process leads the named group of background
	// loops, or with ctx's error: on the embedded store at once, since one
	// process holds the file; on a shared database while this node holds
	// its lock, which passes to another node when this one dies. The
	// loops run only while they lead.
	Lead(ctx context.Context, name string) (Lease, error)
	// Describe names the store for people: a file path, or a database
	// address without its password.
	Describe() string
	// Size is how many bytes the store occupies: its file, or its database.
	Size() (int64, error)
	Close() error
}

// Storage sentinels. circ turns them into circulation codes where it knows
// which thing was missing.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
	ErrLocked   = errors.New("store: database is in use by another process")
	ErrNewer    = errors.New("store: database was written by a newer circa")
	ErrClosed   = errors.New("store: database is closed")
	// ErrUnavailable wraps the error of a commit that could not be written
	// (a full disk, an I/O error): nothing of it was stored, and the store
	// reports itself failing (Health) until a later commit succeeds.
	ErrUnavailable = errors.New("store: cannot write")
)

// CommitStats counts the work of the group-committing writer.
type CommitStats struct {
	Commits      uint64        // write transactions committed
	Operations   uint64        // operations they carried
	PagesWritten uint64        // pages written (each dirty node)
	Apply        time.Duration // running the operations' functions
	Spill        time.Duration // bbolt turning dirty nodes into pages
	Write        time.Duration // writing the pages and syncing them
	Failed       uint64        // commits the disk refused (their operations got ErrUnavailable)
	Last         time.Duration // the latest successful commit, from its start to the end of its sync
}

// Problem is one inconsistency found by Check.
type Problem struct {
	Where  string
	Detail string
}

func (p Problem) String() string { return p.Where + ": " + p.Detail }

// Health is what the store knows of its ability to write.
type Health struct {
	// OK is false from a commit the disk refused until a later commit
	// succeeds, and while a commit has been writing for longer than
	// StallAfter.
	OK        bool      `json:"ok"`
	Committed time.Time `json:"last_commit,omitzero"`  // end of the latest successful commit
	Failed    time.Time `json:"last_failure,omitzero"` // end of the latest failed commit
	// Failure is why the latest failed commit failed (the operating
	// system's error, such as "no space left on device"); it names the
	// file but never a record's content.
	Failure      string    `json:"failure,omitempty"`
	Failures     uint64    `json:"failures"`               // failed commits since Open
	WritingSince time.Time `json:"writing_since,omitzero"` // start of the commit in progress
}

// StallAfter is how long a commit may take before Health reports the store
// failing: a disk that takes this long to sync holds every kiosk waiting.
const StallAfter = 10 * time.Second

// ProbeAfter is how old the latest commit may be before CheckHealth writes
// a probe: an idle server would otherwise report the disk it last saw.
const ProbeAfter = 5 * time.Second
