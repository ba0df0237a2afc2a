package statuspage

import (
	"cmp"
	"context"
	"slices"
	"time"

	fx "github.com/circa-ils/circa/profiles/exchange"
	"github.com/circa-ils/circa/profiles/publishing"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/store"
)

// view is everything the page shows, gathered at one moment. It holds no
// patron data by construction: kiosks by account and address, runs by
// counts, circulation by library totals.
type view struct {
	At         time.Time
	Zone       *time.Location
	Health     store.Health
	Commits    store.CommitStats
	StoreBytes int64
	Store      string
	Listeners  []Listener
	Kiosks     []kiosk
	// NotLoggedIn counts SIP2 connections that have not logged in.
	NotLoggedIn int
	Exchange    []exchangeProfile
	Publishing  []publishing.Status
	Libraries   []libraryDay
	Overdue     int
}

type kiosk struct {
	Listener string
	Profile  string
	Library  string
	sip2.SessionInfo
}

type exchangeProfile struct {
	Code, Type string
	Runs       []fx.Run // newest first, at most runsShown
	Status     fx.Status
}

// libraryDay is one library's circulation on its current day.
type libraryDay struct {
	Code                     string
	Date                     string
	Loans, Returns, Refusals int
}

// runsShown is how many recent runs of each file-exchange profile show.
const runsShown = 3

// collect gathers the page. Its cost is bounded whatever the size of the
// library: the overdue count reads keys of the due index up to now, the
// day's counts read only the journal events since the last collection,
// and the rest reads a record per profile.
func (h *Handler) collect(ctx context.Context) (*view, error) {
	now := h.now()
	v := &view{At: now, Store: h.o.DB.Describe()}
	v.Health = h.o.Health(ctx)
	v.Commits = h.o.DB.CommitStats()
	if n, err := h.o.DB.Size(); err == nil {
		v.StoreBytes = n
	}
	if h.o.Listeners != nil {
		v.Listeners = h.o.Listeners()
	}
	snap := h.o.Registry.Current()
	for _, l := range h.o.SIP2 {
		s := l.Server.Snapshot()
		v.NotLoggedIn += s.NotLoggedIn
		for _, si := range s.Sessions {
			k := kiosk{Listener: l.Name, Profile: si.Account, SessionInfo: si}
			if p, ok := snap.SelfCheck[si.Account]; ok {
				k.Library = p.Library
			}
			v.Kiosks = append(v.Kiosks, k)
		}
	}
	for code, p := range snap.Exchange {
		runs, err := fx.History(ctx, h.o.DB, code)
		if err != nil {
			return nil, err
		}
		st, err := fx.ProfileStatus(ctx, h.o.DB, code)
		if err != nil {
			return nil, err
		}
		v.Exchange = append(v.Exchange, exchangeProfile{Code: code, Type: p.Type, Runs: runs[:min(len(runs), runsShown)], Status: st})
	}
	slices.SortFunc(v.Exchange, func(a, b exchangeProfile) int { return cmp.Compare(a.Code, b.Code) })
	pubs, err := publishing.LoadProfiles(ctx, h.o.DB)
	if err != nil {
		return nil, err
	}
	for _, p := range pubs {
		if p.Target == nil {
			continue // an OAI set only: no files to deliver
		}
		st, err := publishing.LoadStatus(ctx, h.o.DB, p.Code)
		if err != nil {
			return nil, err
		}
		v.Publishing = append(v.Publishing, st)
	}
	err = h.o.DB.View(ctx, func(tx store.Tx) error {
		v.Overdue = tx.CountOpenLoansDueBefore(now)
		libs, err := tx.Libraries()
		if err != nil {
			return err
		}
		v.Zone = time.UTC
		if len(libs) > 0 {
			v.Zone = h.o.Circ.Zone(tx, libs[0].Code)
		}
		days, err := h.tally.update(tx, h.o.Circ, libs, now)
		if err != nil {
			return err
		}
		refused := h.o.Circ.RefusedToday(ctx)
		for _, lib := range libs {
			d := days[lib.Code]
			d.Code, d.Refusals = lib.Code, refused[lib.Code]
			v.Libraries = append(v.Libraries, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}
