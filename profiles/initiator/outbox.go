// Package initiator makes circa the NCIP initiator towards remote-storage
// facilities that take requests online (profiles.Storage with Online set):
// a retrieval on one of the facility's items becomes a RequestItem to its
// NCIP endpoint, and the patron's cancellation a CancelRequestItem.
//
// # Exactly once
//
// Messages are queued in a durable outbox inside the store transaction
// that advances the profile's change-journal cursor, so each retrieval is
// queued once however often the loop runs or restarts. A message is
// encoded when it is queued, with its RequestId fixed then; every attempt
// is counted before the message goes out, and its answer recorded after.
// A crash between the two sends the same bytes again, and the facility
// recognises the RequestId. Messages leave one profile's outbox strictly
// in order, the first that cannot be delivered holding back the rest, so a
// cancellation never overtakes its request.
//
// # Removing a profile
//
// Remove refuses a profile with unanswered messages unless they are handed
// to another profile of the facility or dropped, in the transaction that
// deletes it. The sender records an answer, and queues, only inside
// transactions that find the message still pending and the profile still
// stored, so an answer arriving after the removal never undoes it.
package initiator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
)

// Message kinds, the NCIP services sent.
const (
	KindRequest = "RequestItem"
	KindCancel  = "CancelRequestItem"
)

// Message statuses.
const (
	StatusPending   = "pending"   // queued, not yet answered
	StatusSent      = "sent"      // the facility accepted it
	StatusRefused   = "refused"   // the facility answered a Problem
	StatusWithdrawn = "withdrawn" // cancelled before any attempt: never sent
	// A removed profile's undelivered messages are handed over or dropped.
	StatusHandedOver = "handed_over" // moved to the outbox of the profile HandedTo
	StatusDropped    = "dropped"     // given up with its profile: never answered
)

// Message is one outgoing NCIP message and its delivery.
type Message struct {
	Profile string `json:"profile"`
	Kind    string `json:"kind"`
	// Request is the retrieval request; Hold the patron's request it serves.
	Request uint64 `json:"request"`
	Hold    uint64 `json:"hold,omitempty"`
	Item    string `json:"item"` // barcode
	// RequestID is the NCIP RequestId value, the facility's key for
	// recognising a repeat.
	RequestID string    `json:"request_id"`
	Body      []byte    `json:"body,omitempty"` // the encoded message, kept until answered
	Queued    time.Time `json:"queued"`
	Status    string    `json:"status"`
	// Attempts counts sends begun; LastError is why the last one failed.
	Attempts    int       `json:"attempts"`
	LastAttempt time.Time `json:"last_attempt,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	// Answer is the facility's answer: "accepted", or the Problem's type
	// and detail.
	Answer   string    `json:"answer,omitempty"`
	Answered time.Time `json:"answered,omitempty"`
	// HandedTo and HandedFrom name the profiles a message moved between
	// when its profile was removed.
	HandedTo   string `json:"handed_to,omitempty"`
	HandedFrom string `json:"handed_from,omitempty"`
}

// Outcome is a message's standing in a line: "sent", "refused: Unknown
// Item: …" or "not yet delivered: 3 attempts, last error …".
func (m *Message) Outcome() string {
	switch m.Status {
	case StatusSent:
		return "sent"
	case StatusRefused:
		return "refused: " + m.Answer
	case StatusWithdrawn:
		return "withdrawn before sending"
	case StatusHandedOver:
		return "handed to profile " + m.HandedTo
	case StatusDropped:
		return "dropped when profile " + m.Profile + " was removed (" + m.Answer + ")"
	}
	if m.Attempts == 0 {
		if m.LastError != "" {
			return "not yet delivered: " + m.LastError
		}
		return "not yet delivered: no attempt yet"
	}
	return fmt.Sprintf("not yet delivered: %d attempts, last error %s", m.Attempts, m.LastError)
}

// state is a profile's outbox: the keys of undelivered messages, oldest
// first, and the refusals still worth reporting.
type state struct {
	Pending []string `json:"pending,omitempty"`
	Refused []string `json:"refused,omitempty"`
}

// maxRefusedKept bounds the refusals a profile's state remembers.
const maxRefusedKept = 200

func cursorName(code string) string { return "initiator/" + code }
func stateKey(code string) string   { return "initiator/" + code + "/state" }
func msgKey(code, key string) string {
	return "initiator/" + code + "/msg/" + key
}
func keyOf(request uint64, kind string) string {
	return strconv.FormatUint(request, 10) + "/" + kind
}

// PendingCount returns how many messages wait in a profile's outbox.
func PendingCount(ctx context.Context, db store.DB, code string) (int, error) {
	var n int
	err := db.View(ctx, func(tx store.Tx) error {
		st, err := loadState(tx, code)
		n = len(st.Pending)
		return err
	})
	return n, err
}

func loadState(tx store.Tx, code string) (state, error) {
	var st state
	err := tx.Meta(stateKey(code), &st)
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return st, err
}

func loadMessage(tx store.Tx, code, key string) (Message, bool, error) {
	var m Message
	err := tx.Meta(msgKey(code, key), &m)
	if errors.Is(err, store.ErrNotFound) {
		return m, false, nil
	}
	return m, err == nil, err
}

// journalPage bounds the journal events one queueing transaction reads.
const journalPage = 10_000

// queue follows the change journal from the profile's cursor and queues a
// RequestItem for each open retrieval of the facility not queued before,
// and a CancelRequestItem for each such retrieval a cancellation closed
// after its RequestItem was queued. A RequestItem never attempted is
// withdrawn instead, and one the facility refused needs no cancellation:
// the facility does not hold either. It reports whether
// the journal holds more to read.
func queue(tx store.Tx, p *profiles.Storage, now time.Time) (queued int, more bool, err error) {
	// A profile removed since the caller's snapshot queues nothing: its
	// outbox was handed over or dropped, and nothing would send it.
	if _, err := tx.Profile(profiles.TypeStorage, p.Code); errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, err
	}
	cur := tx.Cursor(cursorName(p.Code))
	last, scanned := cur, 0
	st, err := loadState(tx, p.Code)
	if err != nil {
		return 0, false, err
	}
	var failed error
	err = tx.JournalAfter(cur, func(e store.Event) bool {
		if scanned >= journalPage {
			more = true
			return false
		}
		scanned++
		last = e.Seq
		for _, r := range e.Refs {
			if r.Kind != "request" {
				continue
			}
			n, err := queueRequest(tx, p, &st, r.ID, e.Kind == "request.cancel", now)
			if err != nil {
				failed = err
				return false
			}
			queued += n
		}
		return true
	})
	if err == nil {
		err = failed
	}
	if err != nil || last == cur {
		return 0, false, err
	}
	if err := tx.SetMeta(stateKey(p.Code), st); err != nil {
		return 0, false, err
	}
	return queued, more, tx.SetCursor(cursorName(p.Code), last)
}

func queueRequest(tx store.Tx, p *profiles.Storage, st *state, id uint64, cancel bool, now time.Time) (int, error) {
	req, err := tx.Request(id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if req.Kind != store.RequestRetrieval || req.Facility != p.Facility {
		return 0, nil
	}
	reqKey := keyOf(req.ID, KindRequest)
	sent, queued, err := loadMessage(tx, p.Code, reqKey)
	if err != nil {
		return 0, err
	}
	switch {
	case req.Status.Open() && !queued:
		it, err := tx.Item(req.ItemID)
		if errors.Is(err, store.ErrNotFound) || err == nil && it.Barcode == "" {
			return 0, nil // nothing the facility could retrieve
		}
		if err != nil {
			return 0, err
		}
		return 1, put(tx, p, st, req, it.Barcode, KindRequest, now)
	case cancel && req.Status == store.RequestCancelled && queued && (sent.Status == StatusPending || sent.Status == StatusSent):
		if _, done, err := loadMessage(tx, p.Code, keyOf(req.ID, KindCancel)); err != nil || done {
			return 0, err
		}
		if sent.Status == StatusPending && sent.Attempts == 0 {
			sent.Status, sent.Body, sent.Answered = StatusWithdrawn, nil, now
			st.Pending = slices.DeleteFunc(st.Pending, func(k string) bool { return k == reqKey })
			return 0, tx.SetMeta(msgKey(p.Code, reqKey), sent)
		}
		return 1, put(tx, p, st, req, sent.Item, KindCancel, now)
	}
	return 0, nil
}

// put encodes a message about the item with this barcode and appends it
// to the outbox.
func put(tx store.Tx, p *profiles.Storage, st *state, req store.Request, barcode, kind string, now time.Time) error {
	m := Message{Profile: p.Code, Kind: kind, Request: req.ID, Hold: req.ParentID, Item: barcode,
		RequestID: strconv.FormatUint(req.ID, 10), Queued: now, Status: StatusPending}
	var err error
	if m.Body, err = encode(p, &m, userOf(tx, p, &req), req.Pickup); err != nil {
		return fmt.Errorf("request %d: %w", req.ID, err)
	}
	key := keyOf(req.ID, kind)
	st.Pending = append(st.Pending, key)
	return tx.SetMeta(msgKey(p.Code, key), m)
}

// userOf is the UserId of a message about req: the pickup library, or the
// patron's barcode when the profile sends patron details.
func userOf(tx store.Tx, p *profiles.Storage, req *store.Request) string {
	user := req.Pickup
	if p.Online != nil && p.Online.PatronDetails {
		if pt, err := tx.Patron(req.PatronID); err == nil && pt.Barcode != "" {
			user = pt.Barcode
		}
	}
	if user == "" {
		user = p.LocalAgency // UserId is required
	}
	return user
}

// encode writes the message. The RequestId carries circa's agency, the
// ItemId the facility's; the request type is Loan (the item is wanted for
// circulation) and its scope the item.
func encode(p *profiles.Storage, m *Message, user, pickup string) ([]byte, error) {
	hdr := &ncip.InitiationHeader{FromAgencyID: ncip.SV(p.LocalAgency), ToAgencyID: ncip.SV(p.AgencyIDs[0])}
	uid := &ncip.Identifier{AgencyID: ncip.SV(p.LocalAgency), Value: user}
	rid := &ncip.Identifier{AgencyID: ncip.SV(p.LocalAgency), Value: m.RequestID}
	iid := ncip.Identifier{AgencyID: ncip.SV(p.AgencyIDs[0]), Value: m.Item}
	typ := ncip.SchemeValue{Scheme: ncip.SchemeRequestType, Value: "Loan"}
	scope := ncip.SchemeValue{Scheme: ncip.SchemeRequestScopeType, Value: "Item"}
	var r ncip.Request
	switch m.Kind {
	case KindRequest:
		r = &ncip.RequestItem{Header: hdr, UserRef: ncip.UserRef{UserID: uid}, ItemIDs: []ncip.Identifier{iid},
			RequestID: rid, RequestType: typ, RequestScopeType: scope, PickupLocation: ncip.SV(pickup)}
	case KindCancel:
		r = &ncip.CancelRequestItem{Header: hdr, UserRef: ncip.UserRef{UserID: uid}, ItemID: &iid, RequestID: rid,
			RequestType: typ, RequestScopeType: scope}
	}
	return ncip.EncodeRequest(r, ncip.WriteOptions{BareVersion: p.Compat.BareVersion, NoNamespace: p.Compat.NoNamespace})
}
