package initiator

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
)

// Kinds the online messages add to the storage report.
const (
	MismatchNotDelivered = "online_not_delivered" // the facility has not had the message yet
	MismatchRefused      = "online_refused"       // the facility answered a Problem
	MismatchDropped      = "online_dropped"       // given up with its removed profile, never answered
)

// Annotate adds the online profiles' messages to a storage report: the
// line of a retrieval not yet retrieved says what became of its
// RequestItem, and each message not yet delivered, or refused while it
// still matters (its retrieval is open, or for a cancellation, the
// facility has said nothing of the item since), gets a line of its own.
// facility "" means every facility. A profile no longer online still
// shows the messages it left undelivered, and a message dropped with its
// profile is listed for as long as it would have mattered.
func Annotate(ctx context.Context, db store.DB, snap *profiles.Snapshot, facility string, ms []circ.Mismatch) ([]circ.Mismatch, error) {
	var ps []*profiles.Storage
	for _, p := range snap.Storage {
		if facility == "" || p.Facility == facility {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Code < ps[j].Code })
	err := db.View(ctx, func(tx store.Tx) error {
		var gone []dropped
		if err := tx.Meta(droppedKey, &gone); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, d := range gone {
			if facility != "" && d.Facility != facility {
				continue
			}
			m, ok, err := loadMessage(tx, d.Profile, d.Key)
			if err != nil {
				return err
			}
			if !ok || m.Status != StatusDropped {
				continue
			}
			line, show, err := lineOf(tx, d.Facility, &m)
			if err != nil {
				return err
			}
			if show {
				ms = append(ms, line)
			}
		}
		for _, p := range ps {
			st, err := loadState(tx, p.Code)
			if err != nil {
				return err
			}
			for i := range ms {
				if ms[i].Kind != circ.MismatchNotRetrieved || ms[i].Facility != p.Facility || ms[i].Request == 0 {
					continue
				}
				if m, ok, err := loadMessage(tx, p.Code, keyOf(ms[i].Request, KindRequest)); err != nil {
					return err
				} else if ok {
					ms[i].Detail += "; " + m.Kind + " " + m.Outcome()
				}
			}
			for _, key := range append(st.Pending, st.Refused...) {
				m, ok, err := loadMessage(tx, p.Code, key)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				line, show, err := lineOf(tx, p.Facility, &m)
				if err != nil {
					return err
				}
				if show {
					ms = append(ms, line)
				}
			}
		}
		return nil
	})
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Since.Before(ms[j].Since) })
	return ms, err
}

func lineOf(tx store.Tx, facility string, m *Message) (circ.Mismatch, bool, error) {
	line := circ.Mismatch{Facility: facility, Item: m.Item, Request: m.Request, Since: m.Queued,
		Detail: m.Kind + " " + m.Outcome()}
	req, err := tx.Request(m.Request)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return line, false, err
	}
	if b, err := tx.Bib(req.BibID); err == nil {
		line.Title = b.Title
	}
	switch m.Status {
	case StatusPending:
		line.Kind = MismatchNotDelivered
		return line, true, nil
	case StatusRefused, StatusDropped:
		line.Kind, line.Since = MismatchRefused, m.Answered
		if m.Status == StatusDropped {
			line.Kind = MismatchDropped
		}
		if m.Kind == KindRequest {
			return line, req.Status.Open(), nil
		}
		return line, !heardSince(tx, req.ItemID, m.Answered), nil
	}
	return line, false, nil
}

// heardSince reports whether the item's storage history has news after t.
func heardSince(tx store.Tx, itemID uint64, t time.Time) bool {
	h, err := tx.StorageHistory(itemID)
	return err == nil && len(h) > 0 && h[len(h)-1].At.After(t) && h[len(h)-1].State != circ.StorageRequested
}
