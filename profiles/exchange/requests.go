package exchange

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/store"
)

// DefaultRequestsNamespace is the namespace of request files when the
// profile names none. Ex Libris' remote-storage schema defines its own;
// facilities that check it set theirs in the profile.
const DefaultRequestsNamespace = "urn:circa:remote-storage-requests"

// Request types in the file.
const (
	RequestTypeHold   = "HOLD"   // retrieve the item for a patron's request
	RequestTypeCancel = "CANCEL" // the request was withdrawn before retrieval
)

// rsLine is one request or cancellation of the file.
type rsLine struct {
	typ    string
	req    store.Request
	item   store.Item
	bib    store.Bib
	patron *store.Patron
}

// buildRequests sends the retrieval requests placed on the facility's
// items since the last file, and the cancellations of requests already
// sent, following the change journal from the profile's cursor. The cursor
// advances in the transaction that stores the file, so each request and
// each cancellation goes out exactly once.
func (s *Scheduler) buildRequests(ctx context.Context, p *profiles.Exchange) (int, error) {
	return s.pages(ctx, func() (int, bool, error) { return s.buildRequestsPage(ctx, p) })
}

func (s *Scheduler) buildRequestsPage(ctx context.Context, p *profiles.Exchange) (int, bool, error) {
	rs := p.Requests
	now := s.o.Circ.Now().Truncate(time.Second)
	n, scanned := 0, 0
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		n, scanned = 0, 0
		cur := tx.Cursor(cursorName(p.Code))
		last := cur
		var lines []rsLine
		var failed error
		// A cancellation names both the hold and the retrieval serving it,
		// and both lead to the one retrieval sent: it is cancelled once.
		cancelled := map[uint64]bool{}
		err := tx.JournalAfter(cur, func(e store.Event) bool {
			if len(lines) >= p.Records() || scanned >= journalPage {
				return false
			}
			scanned++
			last = e.Seq
			switch e.Kind {
			case "request.place":
				for _, r := range e.Refs {
					if r.Kind != "request" {
						continue
					}
					req, err := tx.Request(r.ID)
					if err != nil {
						if !errors.Is(err, store.ErrNotFound) {
							failed = err
							return false
						}
						continue
					}
					if req.Kind != store.RequestRetrieval || req.Facility != rs.Facility || !req.Status.Open() {
						continue
					}
					l, err := requestLine(tx, RequestTypeHold, req, rs.PatronDetails)
					if err != nil {
						failed = err
						return false
					}
					lines = append(lines, l)
				}
			case "request.cancel":
				for _, r := range e.Refs {
					if r.Kind != "request" {
						continue
					}
					var sent uint64
					if err := tx.Meta(markKey(p.Code, "request/"+strconv.FormatUint(r.ID, 10)), &sent); err != nil {
						if !errors.Is(err, store.ErrNotFound) {
							failed = err
							return false
						}
						continue
					}
					req, err := tx.Request(sent)
					if err != nil || req.Status != store.RequestCancelled || cancelled[req.ID] {
						continue
					}
					cancelled[req.ID] = true
					l, err := requestLine(tx, RequestTypeCancel, req, false)
					if err != nil {
						failed = err
						return false
					}
					lines = append(lines, l)
				}
			}
			return true
		})
		if err == nil {
			err = failed
		}
		if err != nil {
			return err
		}
		if last == cur {
			return nil
		}
		if err := tx.SetCursor(cursorName(p.Code), last); err != nil {
			return err
		}
		if len(lines) == 0 {
			return nil
		}
		for _, l := range lines {
			if l.typ != RequestTypeHold {
				continue
			}
			// Remember what was sent, under the request and the hold it
			// serves, so either one's cancellation finds it.
			for _, id := range []uint64{l.req.ID, l.req.ParentID} {
				if id == 0 {
					continue
				}
				if err := tx.SetMeta(markKey(p.Code, "request/"+strconv.FormatUint(id, 10)), l.req.ID); err != nil {
					return err
				}
			}
		}
		n = len(lines)
		ns := rs.Namespace
		if ns == "" {
			ns = DefaultRequestsNamespace
		}
		_, err = addEntry(tx, p, now, "xml", renderRequests(ns, lines), delivery.Summary{Records: n,
			FirstID: strconv.FormatUint(lines[0].req.ID, 10), LastID: strconv.FormatUint(lines[n-1].req.ID, 10)})
		return err
	})
	return n, scanned >= journalPage, err
}

func requestLine(tx *store.Tx, typ string, req store.Request, withPatron bool) (rsLine, error) {
	l := rsLine{typ: typ, req: req}
	var err error
	if l.item, err = tx.Item(req.ItemID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return l, err
	}
	if l.bib, err = tx.Bib(req.BibID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return l, err
	}
	if withPatron {
		if pt, err := tx.Patron(req.PatronID); err == nil {
			l.patron = &pt
		} else if !errors.Is(err, store.ErrNotFound) {
			return l, err
		}
	}
	return l, nil
}

// renderRequests writes the file in the element names of Alma's
// remote-storage request export: requestType, requestId, barcode, mmsId,
// itemId, pickup/library, operationalRecordinformation (the item's
// location), requestedInfo (when it was requested) and, where the profile
// allows, patronInfo.
func renderRequests(ns string, lines []rsLine) []byte {
	w := newXW()
	w.open("xb:requests", "xmlns:xb", ns)
	for _, l := range lines {
		w.open("xb:rsExport")
		w.elem("xb:requestType", l.typ)
		w.elem("xb:requestId", strconv.FormatUint(l.req.ID, 10))
		w.elem("xb:barcode", l.item.Barcode)
		mms := l.bib.ControlNumber
		if mms == "" {
			mms = strconv.FormatUint(l.req.BibID, 10)
		}
		w.elem("xb:mmsId", mms)
		w.elem("xb:itemId", strconv.FormatUint(l.req.ItemID, 10))
		w.opt("xb:title", l.bib.Title)
		w.open("xb:pickup")
		w.elem("xb:library", l.req.Pickup)
		w.close("xb:pickup")
		w.elem("xb:operationalRecordinformation", l.item.Location)
		w.elem("xb:requestedInfo", l.req.Created.UTC().Format(time.RFC3339))
		if l.patron != nil {
			w.open("xb:patronInfo")
			w.elem("xb:name", l.patron.FullName())
			w.elem("xb:barcode", l.patron.Barcode)
			w.close("xb:patronInfo")
		}
		w.close("xb:rsExport")
	}
	w.close("xb:requests")
	return w.bytes()
}
