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
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	db      *store.DB
	now     func() time.Time
	rules   atomic.Pointer[store.Rules]
	key     []byte    // per-installation key for patron refs
	refMACs sync.Pool // *keyedMAC under key

	zonesMu sync.Mutex
	zones   map[string]*time.Location

	pinLocks patronLocks
	pins     pinCounters
	logins   *LoginGuard

	// commit runs a write transaction: the store's group commit, or one
	// fsync'd transaction per operation for the baseline benchmarks measure
	// group commit against.
	commit func(ctx context.Context, fn func(*store.Tx) error) error
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces the wall clock, for tests.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithoutGroupCommit gives every operation its own fsync'd transaction. It
// exists as the baseline that benchmarks compare group commit against.
func WithoutGroupCommit() Option {
	return func(s *Service) {
		s.commit = func(_ context.Context, fn func(*store.Tx) error) error { return s.db.UpdateDirect(fn) }
	}
}

// New returns a Service over db, loading the rules stored in it.
func New(db *store.DB, opts ...Option) (*Service, error) {
	s := &Service{db: db, now: time.Now, zones: map[string]*time.Location{}}
	s.commit = db.Update
	for _, o := range opts {
		o(s)
	}
	s.logins = newLoginGuard(func() time.Time { return s.now().UTC() })
	err := db.View(context.Background(), func(tx *store.Tx) error {
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
	return s.db.View(ctx, func(tx *store.Tx) error {
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

// DB returns the store the service works on.
func (s *Service) DB() *store.DB { return s.db }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now().UTC() }

// Rules returns the rules in force.
func (s *Service) Rules() store.Rules { return *s.rules.Load() }

// SetRules validates and stores new rules, in force for the next operation.
func (s *Service) SetRules(ctx context.Context, r store.Rules) error {
	if err := ValidateRules(&r); err != nil {
		return err
	}
	at := s.Now()
	err := s.db.Update(ctx, func(tx *store.Tx) error {
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

// ValidateRules reports every problem of a rule set at once.
func ValidateRules(r *store.Rules) error {
	var errs []error
	for i, lr := range r.Loans {
		if lr.Circulates && lr.LoanDays <= 0 && lr.LoanHours <= 0 {
			errs = append(errs, fmt.Errorf("loan rule %d: a circulating rule needs loan_days or loan_hours", i+1))
		}
		if lr.RenewalLimit < 0 || lr.FinePerDay < 0 || lr.FineCap < 0 {
			errs = append(errs, fmt.Errorf("loan rule %d: negative limit or amount", i+1))
		}
	}
	for _, g := range r.Groups {
		if g.UserGroup == "" || g.LoanLimit < 0 {
			errs = append(errs, fmt.Errorf("group rule %q: needs a user group and a limit ≥ 0", g.UserGroup))
		}
	}
	if r.MaxBalance < 0 || r.MaxOverdue < 0 {
		errs = append(errs, errors.New("block thresholds must be ≥ 0"))
	}
	if len(r.Currency) != 3 {
		errs = append(errs, fmt.Errorf("currency %q is not an ISO 4217 code", r.Currency))
	}
	return errors.Join(errs...)
}

// Zone returns a library's time zone (UTC when unknown).
func (s *Service) Zone(tx *store.Tx, library string) *time.Location {
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

// update runs an operation in a group-committed transaction. With a key,
// the operation's result is stored under it in the same transaction, and a
// retry with the same key gets the stored result instead of acting again.
// res must be a pointer the operation fills; refusal is the operation's
// refusal (nil for success), stored with the result.
func (s *Service) update(ctx context.Context, key string, res any, fn func(tx *store.Tx) (*Error, error)) error {
	var refusal *Error
	err := s.commit(ctx, func(tx *store.Tx) error {
		refusal = nil
		if key != "" {
			e, found, err := tx.Remembered(key)
			if err != nil {
				return err
			}
			if found {
				var stored storedResult
				if err := json.Unmarshal(e.Result, &stored); err != nil {
					return fmt.Errorf("circ: stored result for retry: %w", err)
				}
				if err := json.Unmarshal(stored.Result, res); err != nil {
					return fmt.Errorf("circ: stored result for retry: %w", err)
				}
				refusal = stored.Refusal
				return nil
			}
		}
		r, err := fn(tx)
		if err != nil {
			return err
		}
		refusal = r
		if key != "" {
			doc, err := encodeStored(res, refusal)
			if err != nil {
				return err
			}
			return tx.Remember(key, s.Now(), doc)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if refusal != nil {
		return refusal
	}
	return nil
}

type storedResult struct {
	Result  json.RawMessage `json:"result"`
	Refusal *Error          `json:"refusal,omitempty"`
}

// encodeStored writes a storedResult without encoding the result twice
// (json.Marshal would re-validate the already encoded RawMessage).
func encodeStored(res any, refusal *Error) ([]byte, error) {
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	doc := make([]byte, 0, len(raw)+64)
	doc = append(doc, `{"result":`...)
	doc = append(doc, raw...)
	if refusal != nil {
		r, err := json.Marshal(refusal)
		if err != nil {
			return nil, err
		}
		doc = append(doc, `,"refusal":`...)
		doc = append(doc, r...)
	}
	return append(doc, '}'), nil
}

// view runs a read-only operation.
func (s *Service) view(ctx context.Context, fn func(tx *store.Tx) error) error {
	return s.db.View(ctx, fn)
}

// lookupPatron finds a patron by barcode and applies the verdict on the
// PIN that checkPIN reached before the transaction. The PIN must have
// matched the hash the patron has now: one changed in between is refused.
func (s *Service) lookupPatron(tx *store.Tx, barcode string, pin pinVerdict) (store.Patron, *Error, error) {
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
	if pin.need && (pin.hash == "" || pin.hash != p.PINHash) {
		return p, refuse(PatronAuthFailed, ""), nil
	}
	return p, nil, nil
}

func lookupItem(tx *store.Tx, barcode string) (store.Item, *Error, error) {
	it, err := tx.ItemByBarcode(barcode)
	if errors.Is(err, store.ErrNotFound) {
		return it, refuse(ItemUnknown, "no item with barcode "+barcode), nil
	}
	return it, nil, err
}

// standing loads what decides whether a patron may borrow.
func standing(tx *store.Tx, p *store.Patron, now time.Time) (Standing, []store.Loan, []store.Fee, error) {
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

func emit(tx *store.Tx, at time.Time, kind string, agent Agent, refs ...store.Ref) error {
	_, err := tx.Emit(store.Event{At: at, Kind: kind, Agent: agent.String(), Refs: refs})
	return err
}

func ref(kind string, id uint64) store.Ref { return store.Ref{Kind: kind, ID: id} }
