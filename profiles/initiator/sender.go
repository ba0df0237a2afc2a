package initiator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/tlsproxy"
)

// Backoff spaces the attempts at a facility that cannot be reached: the
// first retry after Initial, each next one twice as late, never later than
// Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// DefaultBackoff is used when Options.Backoff is zero.
var DefaultBackoff = Backoff{Initial: 5 * time.Second, Max: 10 * time.Minute}

// delay is the wait after n failures in a row (n ≥ 1).
func (b Backoff) delay(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Report tells an Observer about one answered or failed attempt.
type Report struct {
	Profile string
	Kind    string
	// Result is StatusSent, StatusRefused or "failed" (to be retried).
	Result string
	// Pending is how many messages wait in the profile's outbox after it.
	Pending int
}

// ResultFailed is the Report result of an attempt that will be retried.
const ResultFailed = "failed"

// Options configure a Sender.
type Options struct {
	DB       store.DB
	Registry *profiles.Registry
	// Clock stamps messages; nil means time.Now.
	Clock   func() time.Time
	Logger  zerolog.Logger
	Backoff Backoff
	// Observer, when set, sees every attempt; it must not block.
	Observer func(Report)
}

// Sender queues and sends the messages of every active online storage
// profile.
type Sender struct {
	o   Options
	log zerolog.Logger

	mu    sync.Mutex
	fails map[string]int       // failures in a row, by profile
	retry map[string]time.Time // no attempt before, by profile

	// afterSend, in tests, runs once a message went out and before its
	// answer is recorded; an error ends the pass there, as if the process
	// died.
	afterSend func(Message) error
}

// New checks o.
func New(o Options) (*Sender, error) {
	if o.DB == nil || o.Registry == nil {
		return nil, errors.New("initiator: a store and a profile registry are required")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Backoff.Max < o.Backoff.Initial {
		o.Backoff.Max = o.Backoff.Initial
	}
	return &Sender{o: o, log: o.Logger.With().Str("component", "initiator").Logger(),
		fails: map[string]int{}, retry: map[string]time.Time{}}, nil
}

// settle is how long the loop lets commits gather after a change before
// it reads the journal, so a busy desk does not wake it at every commit.
const settle = 200 * time.Millisecond

// Run queues and sends until ctx ends, waking at each commit, at each
// retry time and at least once a minute; it returns nil then.
func (s *Sender) Run(ctx context.Context) error {
	for {
		changed := s.o.DB.Changed()
		next := s.Pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = min(max(time.Until(next), settle), time.Minute)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-changed:
			t.Stop()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(settle):
			}
		case <-t.C:
		}
	}
}

// Pass queues what the journal holds for every active online profile and
// sends each profile's outbox unless it is waiting out a backoff. It
// returns the earliest time a waiting profile may be tried again (zero
// when none waits).
func (s *Sender) Pass(ctx context.Context) time.Time {
	var next time.Time
	for _, p := range s.active() {
		if err := s.Queue(ctx, p); err != nil {
			if ctx.Err() != nil {
				return next
			}
			s.log.Error().Err(err).Str("profile", p.Code).Msg("queueing storage requests failed")
			continue
		}
		s.mu.Lock()
		at := s.retry[p.Code]
		s.mu.Unlock()
		if !at.IsZero() && time.Now().Before(at) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		err := s.Flush(ctx, p)
		s.mu.Lock()
		if err == nil {
			delete(s.fails, p.Code)
			delete(s.retry, p.Code)
		} else if ctx.Err() == nil {
			s.fails[p.Code]++
			d := s.o.Backoff.delay(s.fails[p.Code])
			s.retry[p.Code] = time.Now().Add(d)
			if next.IsZero() || s.retry[p.Code].Before(next) {
				next = s.retry[p.Code]
			}
			// The reason, which may quote a facility's Problem, is in
			// `circa storage report`, not the log.
			s.log.Warn().Str("profile", p.Code).Int("failures", s.fails[p.Code]).Dur("retry_in", d).Msg("facility not reached")
		}
		s.mu.Unlock()
	}
	return next
}

func (s *Sender) active() []*profiles.Storage {
	var out []*profiles.Storage
	for _, p := range s.o.Registry.Current().Storage {
		if p.Active && p.Online != nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Queue reads the change journal up to its end, queueing messages. It
// writes nothing when the profile's cursor is at the journal's head, so an
// idle loop makes no commits.
func (s *Sender) Queue(ctx context.Context, p *profiles.Storage) error {
	for {
		behind := false
		if err := s.o.DB.View(ctx, func(tx store.Tx) error {
			behind = tx.Cursor(cursorName(p.Code)) < tx.JournalHead()
			return nil
		}); err != nil || !behind {
			return err
		}
		var more bool
		err := s.o.DB.Update(ctx, func(tx store.Tx) error {
			var err error
			_, more, err = queue(tx, p, s.o.Clock().UTC())
			return err
		})
		if err != nil || !more {
			return err
		}
	}
}

// Flush sends the profile's outbox, oldest first, and stops at the first
// message that cannot be delivered (it returns why).
func (s *Sender) Flush(ctx context.Context, p *profiles.Storage) error {
	var pending []string
	if err := s.o.DB.View(ctx, func(tx store.Tx) error {
		st, err := loadState(tx, p.Code)
		pending = st.Pending
		return err
	}); err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	hc, err := httpClient(p.Online)
	if err != nil {
		// A missing key or certificate file: recorded on the first message.
		return s.fail(ctx, p, pending[0], err)
	}
	defer hc.CloseIdleConnections()
	for _, key := range pending {
		if err := s.send(ctx, p, hc, key); err != nil {
			return err
		}
	}
	return nil
}

// send makes one attempt at a message: the attempt is counted first, then
// the message goes out, then its answer is recorded.
func (s *Sender) send(ctx context.Context, p *profiles.Storage, hc *http.Client, key string) error {
	var m Message
	var live bool
	err := s.o.DB.Update(ctx, func(tx store.Tx) error {
		var err error
		if m, live, err = loadMessage(tx, p.Code, key); err != nil || !live || m.Status != StatusPending {
			live = false
			return err
		}
		m.Attempts++
		m.LastAttempt = s.o.Clock().UTC()
		return tx.SetMeta(msgKey(p.Code, key), m)
	})
	if err != nil || !live {
		return err
	}
	apiKey, err := readKey(p.Online.APIKeyFile)
	if err != nil {
		return s.fail(ctx, p, key, err)
	}
	cl := ncip.Client{URL: p.Online.URL, APIKey: apiKey, HTTP: hc}
	res, err := cl.Send(ctx, m.Body)
	if err == nil {
		err = transient(res)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.fail(ctx, p, key, err)
	}
	if s.afterSend != nil {
		if err := s.afterSend(m); err != nil {
			return err
		}
	}
	status, answer, problem := StatusSent, "accepted", ""
	if pr := res.Problem; pr != nil {
		status, answer, problem = StatusRefused, problemText(pr), pr.Type.Value
		// The facility already holds this RequestId: an earlier attempt
		// reached it before its answer was lost.
		if m.Attempts > 1 && pr.Type.Is(ncip.DuplicateRequest) {
			status, answer = StatusSent, "accepted (already held: "+answer+")"
		}
	}
	return s.answer(ctx, p, key, status, answer, problem)
}

// transient says why an exchange that did not yield the facility's
// answer to the request must be tried again: an HTTP error status, a body
// that is no NCIP message, a Problem outside any service response, or one
// that faults the set-up of the two systems (agency, authentication,
// service) or says the facility is busy rather than anything about the
// request.
func transient(res *ncip.Result) error {
	switch {
	case res.Status != http.StatusOK:
		return fmt.Errorf("HTTP %d %s", res.Status, http.StatusText(res.Status))
	case res.Response == nil:
		return errors.New("the answer is not an NCIP message")
	case res.Problem != nil && (res.Response.Service == "" || slices.ContainsFunc(setupProblems, res.Problem.Type.Is)):
		return errors.New("the facility answered " + problemText(res.Problem))
	}
	return nil
}

// setupProblems are the Problem types retried: fixing them is up to the
// people running the two systems, and the request stands meanwhile.
var setupProblems = []string{ncip.TemporaryProcessingFailure, ncip.UnknownAgency, ncip.AgencyAuthenticationFailed,
	ncip.SystemAuthenticationFailed, ncip.UnauthorizedServiceForAgency, ncip.UnknownSystem, ncip.UnsupportedService,
	ncip.UnknownService}

func problemText(p *ncip.Problem) string {
	s := strings.TrimSpace(p.Type.Value)
	if d := strings.TrimSpace(p.Detail); d != "" {
		s += ": " + d
	}
	if e := strings.TrimSpace(p.Element); e != "" {
		s += " (" + e + ")"
	}
	return s
}

// fail records why an attempt failed and tells the observer.
func (s *Sender) fail(ctx context.Context, p *profiles.Storage, key string, cause error) error {
	msg := oneLine(cause.Error())
	var kind string
	var pending int
	err := s.o.DB.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		m, ok, err := loadMessage(tx, p.Code, key)
		if err != nil || !ok || m.Status != StatusPending {
			return err // handed over or dropped meanwhile: not this sender's any more
		}
		st, err := loadState(tx, p.Code)
		if err != nil {
			return err
		}
		kind, pending = m.Kind, len(st.Pending)
		m.LastError = msg
		return tx.SetMeta(msgKey(p.Code, key), m)
	})
	if kind != "" {
		s.observe(Report{Profile: p.Code, Kind: kind, Result: ResultFailed, Pending: pending})
	}
	return errors.Join(fmt.Errorf("facility %s: %s", p.Code, msg), err)
}

// answer records the facility's answer on the message and, as a note, on
// the retrieval request, and takes the message out of the outbox.
// Only the Problem's type is logged: its detail may quote the patron.
func (s *Sender) answer(ctx context.Context, p *profiles.Storage, key, status, answer, problem string) error {
	var m Message
	var pending int
	late := false
	now := s.o.Clock().UTC()
	err := s.o.DB.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		var ok bool
		var err error
		if m, ok, err = loadMessage(tx, p.Code, key); err != nil || !ok {
			return err
		}
		if m.Status != StatusPending {
			// Its profile was removed while the message was out: the
			// profile it was handed to sends it again under the same
			// RequestId, or it was dropped. Either stands.
			late = true
			return nil
		}
		m.Status, m.Answer, m.Answered, m.Body, m.LastError = status, answer, now, nil, ""
		if err := tx.SetMeta(msgKey(p.Code, key), m); err != nil {
			return err
		}
		st, err := loadState(tx, p.Code)
		if err != nil {
			return err
		}
		st.Pending = slices.DeleteFunc(st.Pending, func(k string) bool { return k == key })
		if status == StatusRefused {
			st.Refused = append(st.Refused, key)
			if len(st.Refused) > maxRefusedKept {
				st.Refused = st.Refused[len(st.Refused)-maxRefusedKept:]
			}
		}
		pending = len(st.Pending)
		if err := tx.SetMeta(stateKey(p.Code), st); err != nil {
			return err
		}
		return note(tx, p, &m)
	})
	if err != nil {
		return err
	}
	if late {
		s.log.Info().Str("profile", p.Code).Str("kind", m.Kind).Uint64("request", m.Request).Str("result", status).
			Str("now", m.Status).Msg("storage message answered after its profile was removed")
		return nil
	}
	ev := s.log.Info()
	if status == StatusRefused {
		ev = s.log.Warn().Str("problem", problem)
	}
	ev.Str("profile", p.Code).Str("kind", m.Kind).Uint64("request", m.Request).Int("attempts", m.Attempts).
		Str("result", status).Msg("storage message answered")
	s.observe(Report{Profile: p.Code, Kind: m.Kind, Result: status, Pending: pending})
	return nil
}

func (s *Sender) observe(r Report) {
	if s.o.Observer != nil {
		s.o.Observer(r)
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// readKey reads the API key from the first line of its file.
func readKey(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api key: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("api key file %s is empty", path)
	}
	return line, nil
}

// httpClient builds the client of one pass from the profile's files.
func httpClient(o *profiles.StorageOnline) (*http.Client, error) {
	cfg, err := tlsproxy.ClientConfig(o.CAFile, o.ClientCertFile, o.ClientKeyFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: o.Timeout()}, nil
}
