// Package circ holds the circulation rules: checkout, checkin, renewals,
// holds and requests, fees and payments, blocks, patron and item status. A
// SIP2 kiosk, an NCIP partner and the command line all run these operations,
// so the same request gets the same answer whatever protocol carried it.
//
// Each operation is one store transaction (shared with neighbours by group
// commit). A refusal is recorded as a value inside the transaction and
// returned as a *Error after the commit, so it never rolls a neighbour back.
package circ

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/circa-ils/circa/store"
)

// Agent says who asks: the protocol, the account or partner, and the library
// and desk the request is made at. It decides routing and is kept for audit.
type Agent struct {
	Protocol    string `json:"protocol"` // sip2, ncip, cli
	Account     string `json:"account,omitempty"`
	Institution string `json:"institution,omitempty"`
	Library     string `json:"library"`
	Desk        string `json:"desk,omitempty"`
}

func (a Agent) String() string {
	if a.Account == "" {
		return a.Protocol
	}
	return a.Protocol + "/" + a.Account
}

// Service runs circulation operations over a store.
type Service struct {
	db      store.DB
	now     func() time.Time
	rules   atomic.Pointer[store.Rules]
	key     []byte    // per-installation key for patron refs
	refMACs sync.Pool // *keyedMAC under key

	zonesMu sync.Mutex
	zones   map[string]*time.Location

	pinLocks  patronLocks
	pins      pinCounters
	directory Directory // checks the passwords of groups with an LDAP auth
	logins    *LoginGuard
	refusals  refusalTally

	// commit runs a write transaction: the store's group commit, or one
	// fsync'd transaction per operation for the baseline benchmarks measure
	// group commit against.
	commit func(ctx context.Context, fn func(store.Tx) error) error
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces the wall clock, for tests.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithCommit replaces the store's Update for write transactions: the
// benchmarks measure group commit against one fsync'd transaction per
// operation this way.
func WithCommit(commit func(ctx context.Context, fn func(store.Tx) error) error) Option {
	return func(s *Service) { s.commit = commit }
}

// New returns a Service over db, loading the rules stored in it.
func New(db store.DB, opts ...Option) (*Service, error) {
	s := &Service{db: db, now: time.Now, zones: map[string]*time.Location{}}
	s.commit = db.Update
	for _, o := range opts {
		o(s)
	}
	s.logins = newLoginGuard(func() time.Time { return s.now().UTC() })
	err := db.View(context.Background(), func(tx store.Tx) error {
		s.key = tx.InstallKey()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.refMACs.New = func() any { return newKeyedMAC(s.key) }
	if err := s.ReloadRules(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// ReloadRules reads the rules from the store again, after something other
// than SetRules wrote them (seeding, an import).
func (s *Service) ReloadRules(ctx context.Context) error {
	return s.db.View(ctx, func(tx store.Tx) error {
		r, err := tx.Rules()
		if errors.Is(err, store.ErrNotFound) {
			r, err = store.Rules{}, nil
		}
		if err != nil {
			return fmt.Errorf("circ: load rules: %w", err)
		}
		s.rules.Store(&r)
		return nil
	})
}

// Logins is the throttle of account logins.
func (s *Service) Logins() *LoginGuard { return s.logins }

// Key derives a secret for purpose from the installation's key: the same
// on every start and every node sharing the store, different per purpose,
// so a token a protocol signs with it stays valid across a restart.
func (s *Service) Key(purpose string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// DB returns the store the service works on.
func (s *Service) DB() store.DB { return s.db }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now().UTC() }

// Rules returns the rules in force.
func (s *Service) Rules() store.Rules { return *s.rules.Load() }

// SetRules validates and stores new rules, in force for the next operation.
// Every library, item policy and user group a rule names must exist
// (CheckRules).
func (s *Service) SetRules(ctx context.Context, r store.Rules) error {
	if err := s.CheckRules(ctx, &r); err != nil {
		return err
	}
	at := s.Now()
	err := s.db.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutRules(&r); err != nil {
			return err
		}
		_, err := tx.Emit(store.Event{At: at, Kind: "rules.update", Agent: "cli"})
		return err
	})
	if err == nil {
		s.rules.Store(&r)
	}
	return err
}

// CheckRules runs ValidateRules and CheckRuleRefs without storing anything.
func (s *Service) CheckRules(ctx context.Context, r *store.Rules) error {
	if err := ValidateRules(r); err != nil {
		return err
	}
	return s.db.View(ctx, func(tx store.Tx) error { return CheckRuleRefs(tx, r) })
}

// ruleName says which loan rule a message is about, in the rule's own terms.
func ruleName(i int, lr store.LoanRule) string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"user_group", lr.UserGroup}, {"item_policy", lr.ItemPolicy}, {"library", lr.Library}} {
		if f.v != "" {
			parts = append(parts, f.k+" "+f.v)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "any")
	}
	return fmt.Sprintf("loan rule %d (%s)", i+1, strings.Join(parts, ", "))
}

// ValidateRules reports every problem of a rule set at once.
func ValidateRules(r *store.Rules) error {
	var errs []error
	for i, lr := range r.Loans {
		name := ruleName(i, lr)
		if lr.LoanDays < 0 {
			errs = append(errs, fmt.Errorf("%s: loan_days is %d; it must be a positive number of days", name, lr.LoanDays))
		}
		if lr.LoanHours < 0 {
			errs = append(errs, fmt.Errorf("%s: loan_hours is %d; it must be a positive number of hours", name, lr.LoanHours))
		}
		if lr.Circulates && lr.LoanDays == 0 && lr.LoanHours == 0 {
			errs = append(errs, fmt.Errorf("%s: a circulating rule needs loan_days or loan_hours", name))
		}
		if lr.RenewalLimit < 0 {
			errs = append(errs, fmt.Errorf("%s: renewal_limit is %d; it must be 0 or more", name, lr.RenewalLimit))
		}
		if lr.FinePerDay < 0 {
			errs = append(errs, fmt.Errorf("%s: fine_per_day must not be negative", name))
		}
		if lr.FineCap < 0 {
			errs = append(errs, fmt.Errorf("%s: fine_cap must not be negative", name))
		}
	}
	for _, g := range r.Groups {
		if g.UserGroup == "" || g.LoanLimit < 0 {
			errs = append(errs, fmt.Errorf("group rule %q: needs a user group and a limit ≥ 0", g.UserGroup))
		}
	}
	for _, f := range r.RentalFees {
		if f.ItemPolicy == "" || f.Amount < 0 {
			errs = append(errs, fmt.Errorf("rental fee %q: needs an item policy and an amount ≥ 0", f.ItemPolicy))
		}
	}
	if r.MaxBalance < 0 || r.MaxOverdue < 0 {
		errs = append(errs, errors.New("block thresholds must be ≥ 0"))
	}
	if r.HoldShelfDays < 0 {
		errs = append(errs, fmt.Errorf("hold_shelf_days is %d; it must be 0 (the default) or a positive number of days", r.HoldShelfDays))
	}
	if r.HoldExpiryDays < 0 {
		errs = append(errs, fmt.Errorf("hold_expiry_days is %d; it must be 0 (never) or a positive number of days", r.HoldExpiryDays))
	}
	if len(r.Currency) != 3 {
		errs = append(errs, fmt.Errorf("currency %q is not an ISO 4217 code", r.Currency))
	}
	return errors.Join(errs...)
}

// CheckRuleRefs refuses rules naming a library, item policy or user group
// that does not exist, each with the nearest code that does.
func CheckRuleRefs(tx store.Tx, r *store.Rules) error {
	var errs []error
	check := func(what, kind, code string, exists func(store.Tx, string) error) error {
		if code == "" {
			return nil
		}
		var nf *NotFoundError
		if err := exists(tx, code); errors.As(err, &nf) {
			errs = append(errs, fmt.Errorf("%s: %s %q is unknown%s", what, kind, code, nf.hint))
		} else if err != nil {
			return err
		}
		return nil
	}
	library := func(tx store.Tx, code string) error {
		_, err := tx.Library(code)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(tx, "library", code)
		}
		return err
	}
	for i, lr := range r.Loans {
		name := ruleName(i, lr)
		if err := errors.Join(check(name, "library", lr.Library, library),
			check(name, "item policy", lr.ItemPolicy, CheckPolicy),
			check(name, "user group", lr.UserGroup, CheckGroup)); err != nil {
			return err
		}
	}
	for i, g := range r.Groups {
		if err := check(fmt.Sprintf("group rule %d", i+1), "user group", g.UserGroup, CheckGroup); err != nil {
			return err
		}
	}
	for _, f := range r.RentalFees {
		if err := check("rental fee", "item policy", f.ItemPolicy, CheckPolicy); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// sortedKeys lists a set's non-empty members in order, for DidYouMean.
func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Zone returns a library's time zone (UTC when unknown).
func (s *Service) Zone(tx store.Tx, library string) *time.Location {
	s.zonesMu.Lock()
	z, ok := s.zones[library]
	s.zonesMu.Unlock()
	if ok {
		return z
	}
	z = time.UTC
	if lib, err := tx.Library(library); err == nil && lib.Timezone != "" {
		if loc, err := time.LoadLocation(lib.Timezone); err == nil {
			z = loc
		}
	}
	s.zonesMu.Lock()
	s.zones[library] = z
	s.zonesMu.Unlock()
	return z
}

// PatronRef is a keyed hash of a patron barcode, safe to log: it links log
// lines about one patron without revealing who, and cannot be reversed by
// enumerating barcodes without the installation key.
func (s *Service) PatronRef(barcode string) string {
	if barcode == "" {
		return ""
	}
	m := s.refMACs.Get().(*keyedMAC)
	defer s.refMACs.Put(m)
	return hex.EncodeToString(m.sum(store.NormalizeBarcode(barcode))[:8])
}

// Retry says when a repeat of a changing request is a retry, answered with
// the stored answer instead of acting again (DESIGN.md, principle 3).
//
// Only a retry replays: the same request again (same Key and Match) within
// Window of its answer, when no later journal event names a record the
// first request changed. A repeat after the window, or after someone else
// checked the item in, renewed the loan or paid the fee, is a new request
// and acts. Refusals and answers that changed nothing are not kept: a
// repeat evaluates again and gets the same answer unless something changed,
// which is then the right answer; and reads store nothing.
type Retry struct {
	// Key names the request's slot. A SIP2 kiosk (account and location)
	// has one slot, holding its last changing request, so a new request
	// from it replaces the answer kept for the previous one; an NCIP
	// request has one per partner, service and request id.
	Key string
	// Match is what a repeat must equal, besides its key, to be a retry
	// (a kiosk's frame). Only a keyed hash of it is stored.
	Match string
	// Window is how long after its answer a repeat may be a retry; zero
	// keeps nothing.
	Window time.Duration
	// forever marks an id that names a payment or charge rather than a
	// message: any repeat, however late, gets the first answer.
	forever bool
}

// foreverKey is the slot of a payment or charge id.
func foreverKey(key string) Retry { return Retry{Key: key, forever: key != ""} }

func (r Retry) keeps() bool { return r.Key != "" && (r.forever || r.Window > 0) }

// update runs an operation in a group-committed transaction. With a retry
// key, a retry gets the stored result instead of acting again, and a
// changing success is stored in the same transaction. res must be a
// pointer the operation fills; the operation returns its refusal (nil for
// success).
func (s *Service) update(ctx context.Context, r Retry, res any, fn func(tx store.Tx) (*Error, error)) error {
	if !r.keeps() {
		var refusal *Error
		err := s.commit(ctx, func(tx store.Tx) error {
			var err error
			refusal, err = fn(tx)
			return err
		})
		if err == nil && refusal != nil {
			return refusal
		}
		return err
	}
	if r.Match != "" {
		// Kept as a keyed hash: a kiosk's frame may hold a PIN.
		m := s.refMACs.Get().(*keyedMAC)
		r.Match = hex.EncodeToString(m.sum("retry\x00", r.Match)[:16])
		s.refMACs.Put(m)
	}
	// A retry is answered from a read transaction: the stored answer is
	// committed, and reading the journal since it (which can be long) does
	// not hold up the writer or add a write. Only when that finds no answer
	// to give does the request go to the writer, which checks again for an
	// answer committed meanwhile (the same request still in flight).
	var seen retryCheck
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		seen, err = checkRetry(tx, r, s.Now(), retryCheck{}, res)
		return err
	})
	if err != nil || seen.replayed {
		markReplayed(res, seen.replayed && r.forever)
		return err
	}
	var refusal *Error
	replayed := false
	err = s.commit(ctx, func(tx store.Tx) error {
		refusal, replayed = nil, false
		now := s.Now()
		if c, err := checkRetry(tx, r, now, seen, res); err != nil || c.replayed {
			replayed = c.replayed
			return err
		}
		before := tx.Track()
		rf, err := fn(tx)
		if err != nil {
			return err
		}
		refusal = rf
		changed := distinct(tx.Touched()[before:])
		if refusal != nil || len(changed) == 0 {
			// Nothing to replay; the slot's previous answer is no longer
			// the kiosk's last request (only present ones are deleted, so
			// this writes nothing in the common case).
			if r.forever {
				return nil
			}
			return tx.Forget(r.Key)
		}
		doc, err := encodeStored(res)
		if err != nil {
			return err
		}
		e := store.IdemEntry{At: now, Head: tx.JournalHead(), Match: r.Match, Refs: changed, Result: doc}
		if !r.forever {
			e.Until = now.Add(r.Window)
		}
		return tx.Remember(r.Key, e)
	})
	if err != nil {
		return err
	}
	if refusal != nil {
		return refusal
	}
	markReplayed(res, replayed && r.forever)
	return nil
}

// replayMarker is a result that tells its caller it is the stored answer
// to a request named for good (a payment's transaction id). A kiosk's
// retransmitted frame is not told: it gets the first answer as it was.
type replayMarker interface{ markReplayed() }

func markReplayed(res any, replayed bool) {
	if m, ok := res.(replayMarker); ok && replayed {
		m.markReplayed()
	}
}

// retryCheck is what checkRetry learned about the entry under a key.
type retryCheck struct {
	replayed bool
	// changed: the entry answered at at with journal head head has been
	// changed since, which stays true.
	changed bool
	at      time.Time
	head    uint64
}

// checkRetry fills res with the stored answer when the request is a retry
// of the one stored under its key. seen, from an earlier check of the same
// entry, spares reading the journal again when it already found a change.
func checkRetry(tx store.Tx, r Retry, now time.Time, seen retryCheck, res any) (retryCheck, error) {
	e, found, err := tx.Remembered(r.Key)
	if err != nil || !found {
		return retryCheck{}, err
	}
	c := retryCheck{at: e.At, head: e.Head}
	if !e.Until.IsZero() {
		if r.forever || e.Match != r.Match || !now.Before(e.Until) {
			return c, nil
		}
		if seen.changed && seen.head == e.Head && seen.at.Equal(e.At) {
			return seen, nil
		}
		if c.changed, err = tx.ChangedSince(e.Head, e.Refs); err != nil || c.changed {
			return c, err
		}
	}
	var stored storedResult
	if err := json.Unmarshal(e.Result, &stored); err != nil {
		return c, fmt.Errorf("circ: stored result for retry: %w", err)
	}
	if stored.Refusal != nil {
		// Only files from before schema version 3 kept refusals.
		return c, nil
	}
	if err := json.Unmarshal(stored.Result, res); err != nil {
		return c, fmt.Errorf("circ: stored result for retry: %w", err)
	}
	c.replayed = true
	return c, nil
}

// distinct drops repeats. A stored answer depends on the records the
// operation wrote, not on every record its events name: a checkout's event
// names the patron and the title, but a block placed on the patron or a
// loan of another copy does not make "checked out" untrue, while a checkin
// of the item does.
func distinct(refs []store.Ref) []store.Ref {
	var out []store.Ref
	for _, r := range refs {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

type storedResult struct {
	Result  json.RawMessage `json:"result"`
	Refusal *Error          `json:"refusal,omitempty"`
}

// encodeStored writes a storedResult without encoding the result twice
// (json.Marshal would re-validate the already encoded RawMessage).
func encodeStored(res any) ([]byte, error) {
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	doc := make([]byte, 0, len(raw)+11)
	doc = append(doc, `{"result":`...)
	doc = append(doc, raw...)
	return append(doc, '}'), nil
}

// view runs a read-only operation.
func (s *Service) view(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.db.View(ctx, fn)
}

// lookupPatron finds a patron by barcode and applies the verdict on the
// PIN that checkPIN reached before the transaction. The PIN must have
// matched the hash the patron has now, or the password been accepted by the
// directory the patron's group names now: a change in between is refused.
func (s *Service) lookupPatron(tx store.Tx, barcode string, pin pinVerdict) (store.Patron, *Error, error) {
	p, err := tx.PatronByBarcode(barcode)
	if errors.Is(err, store.ErrNotFound) {
		return p, refuse(PatronUnknown, "no patron with that barcode"), nil
	}
	if err != nil {
		return p, nil, err
	}
	if pin.refusal != nil {
		return p, pin.refusal, nil
	}
	if pin.need {
		if ok, err := pin.accepts(tx, &p); err != nil || !ok {
			return p, refuse(PatronAuthFailed, ""), err
		}
	}
	return p, nil, nil
}

func lookupItem(tx store.Tx, barcode string) (store.Item, *Error, error) {
	it, err := tx.ItemByBarcode(barcode)
	if errors.Is(err, store.ErrNotFound) {
		return it, refuse(ItemUnknown, "no item with barcode "+barcode), nil
	}
	return it, nil, err
}

// standing loads what decides whether a patron may borrow.
func standing(tx store.Tx, p *store.Patron, now time.Time) (Standing, []store.Loan, []store.Fee, error) {
	loans, err := tx.OpenLoansOfPatron(p.ID)
	if err != nil {
		return Standing{}, nil, nil, err
	}
	fees, err := tx.FeesOfPatron(p.ID)
	if err != nil {
		return Standing{}, nil, nil, err
	}
	return StandingOf(p, loans, fees, now), loans, fees, nil
}

func emit(tx store.Tx, at time.Time, kind string, agent Agent, refs ...store.Ref) error {
	_, err := tx.Emit(store.Event{At: at, Kind: kind, Agent: agent.String(), Refs: refs})
	return err
}

func ref(kind string, id uint64) store.Ref { return store.Ref{Kind: kind, ID: id} }
