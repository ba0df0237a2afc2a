package initiator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
)

// ErrUndelivered refuses to remove a storage profile whose outbox holds
// messages the facility has not answered: nothing else would send them.
var ErrUndelivered = errors.New("initiator: profile has messages the facility has not answered")

// RemoveOptions say what becomes of a removed profile's undelivered
// messages: handed to another profile, dropped, or (neither) the removal
// is refused.
type RemoveOptions struct {
	// HandTo is another online storage profile of the same facility and
	// library; it sends them, in their order, after its own.
	HandTo string
	// Drop gives them up: each is marked dropped, noted on its retrieval
	// and listed by the storage report.
	Drop bool
	Now  time.Time
}

// maxDroppedKept bounds the dropped messages the storage report lists.
const maxDroppedKept = 1000

// droppedKey holds the keys of dropped messages, for the report; the
// profiles that dropped them are gone.
const droppedKey = "initiator/dropped"

// dropped is one dropped message's place.
type dropped struct {
	Profile  string `json:"profile"`
	Facility string `json:"facility"`
	Key      string `json:"key"`
}

// Remove deletes a storage profile. While its outbox holds messages not
// yet answered the removal is refused (ErrUndelivered, with how many),
// unless o says to hand them over or drop them; that happens in the
// transaction that deletes the profile. A sender with one of them out at
// that moment finds it no longer pending when the answer comes, and leaves
// it as Remove left it: the profile handed it sends it again under the
// same RequestId, which the facility recognises. It returns the messages
// handed over or dropped, as they now stand.
func Remove(ctx context.Context, db store.DB, reg *profiles.Registry, code string, o RemoveOptions) ([]Message, error) {
	snap := reg.Current()
	p, ok := snap.Storage[code]
	if !ok {
		return nil, fmt.Errorf("%w: %s %s", profiles.ErrNotFound, profiles.TypeStorage, code)
	}
	var to *profiles.Storage
	switch {
	case o.HandTo != "" && o.Drop:
		return nil, errors.New("initiator: hand the messages over or drop them, not both")
	case o.HandTo == code:
		return nil, fmt.Errorf("initiator: cannot hand %s's messages to itself", code)
	case o.HandTo != "":
		to = snap.Storage[o.HandTo]
		switch {
		case to == nil:
			return nil, fmt.Errorf("%w: %s %s", profiles.ErrNotFound, profiles.TypeStorage, o.HandTo)
		case to.Facility != p.Facility || to.Library != p.Library:
			return nil, fmt.Errorf("initiator: %s serves facility %s for library %s; %s's messages go to a profile of facility %s for library %s",
				to.Code, to.Facility, to.Library, code, p.Facility, p.Library)
		case to.Online == nil:
			return nil, fmt.Errorf("initiator: %s does not take requests online (give it --online-url first)", to.Code)
		}
	}
	now := o.Now.UTC()
	var out []Message
	err := db.Update(ctx, func(tx store.Tx) error {
		out = nil
		st, err := loadState(tx, code)
		if err != nil {
			return err
		}
		if n := len(st.Pending); n > 0 {
			switch {
			case to != nil:
				out, err = handOver(tx, p, to, st.Pending)
			case o.Drop:
				out, err = drop(tx, p, st.Pending, now)
			default:
				return fmt.Errorf("%w: %s has %d (%s); give --hand-to another online storage profile of facility %s, or --drop",
					ErrUndelivered, code, n, describe(tx, code, st.Pending), p.Facility)
			}
			if err != nil {
				return err
			}
			st.Pending = nil
			if err := tx.SetMeta(stateKey(code), st); err != nil {
				return err
			}
		}
		err = tx.DeleteProfile(profiles.TypeStorage, code)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s %s", profiles.ErrNotFound, profiles.TypeStorage, code)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, reg.Reload(ctx)
}

// describe names the first few undelivered messages of a refusal.
func describe(tx store.Tx, code string, keys []string) string {
	const shown = 3
	var parts []string
	for _, key := range keys[:min(len(keys), shown)] {
		if m, ok, err := loadMessage(tx, code, key); err == nil && ok {
			parts = append(parts, fmt.Sprintf("%s of request %d, %s", m.Kind, m.Request, m.Outcome()))
		}
	}
	if len(keys) > shown {
		parts = append(parts, fmt.Sprintf("%d more", len(keys)-shown))
	}
	return strings.Join(parts, "; ")
}

// handOver moves messages to another profile's outbox, after its own,
// written again with its settings and the same RequestId; the attempts
// already made go with them, so a Duplicate Request from the facility
// reads as the request received. A message the other profile already
// carries (it queued the retrieval itself) is not doubled.
func handOver(tx store.Tx, from, to *profiles.Storage, keys []string) ([]Message, error) {
	dst, err := loadState(tx, to.Code)
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, key := range keys {
		m, ok, err := loadMessage(tx, from.Code, key)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if _, has, err := loadMessage(tx, to.Code, key); err != nil {
			return nil, err
		} else if !has {
			moved := m
			moved.Profile, moved.HandedFrom, moved.LastError = to.Code, from.Code, ""
			req, err := tx.Request(m.Request)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// Nothing to write it again from: it goes as it was.
			case err != nil:
				return nil, err
			default:
				if moved.Body, err = encode(to, &moved, userOf(tx, to, &req), req.Pickup); err != nil {
					return nil, fmt.Errorf("request %d: %w", m.Request, err)
				}
			}
			if err := tx.SetMeta(msgKey(to.Code, key), moved); err != nil {
				return nil, err
			}
			if !slices.Contains(dst.Pending, key) {
				dst.Pending = append(dst.Pending, key)
			}
		}
		m.Status, m.HandedTo, m.Body = StatusHandedOver, to.Code, nil
		if err := tx.SetMeta(msgKey(from.Code, key), m); err != nil {
			return nil, err
		}
		if err := note(tx, from, &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, tx.SetMeta(stateKey(to.Code), dst)
}

// drop gives messages up, recording each on itself, on its retrieval and
// in the list the storage report reads.
func drop(tx store.Tx, p *profiles.Storage, keys []string, now time.Time) ([]Message, error) {
	var list []dropped
	if err := tx.Meta(droppedKey, &list); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var out []Message
	for _, key := range keys {
		m, ok, err := loadMessage(tx, p.Code, key)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		was := "never sent"
		if m.Attempts > 0 {
			was = m.Outcome()
		}
		m.Status, m.Answer, m.Answered, m.Body = StatusDropped, was, now, nil
		if err := tx.SetMeta(msgKey(p.Code, key), m); err != nil {
			return nil, err
		}
		if err := note(tx, p, &m); err != nil {
			return nil, err
		}
		list = append(list, dropped{Profile: p.Code, Facility: p.Facility, Key: key})
		out = append(out, m)
	}
	if len(list) > maxDroppedKept {
		list = list[len(list)-maxDroppedKept:]
	}
	return out, tx.SetMeta(droppedKey, list)
}

// note records what became of a message on its retrieval request.
func note(tx store.Tx, p *profiles.Storage, m *Message) error {
	req, err := tx.Request(m.Request)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	req.Note = "facility " + p.Code + ": " + m.Kind + " " + m.Outcome()
	return tx.PutRequest(&req)
}
