package exchange

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/store"
)

// requestsNamespace is the namespace of Alma's remote-storage request
// export, bound to the prefix xb as Alma writes it: facility software
// written for Alma looks elements up by the names "xb:barcode" ….
const requestsNamespace = "http://com/exlibris/urm/rep/externalsysremotestorage/xmlbeans"

// Request types in the file: Alma's for a patron's request and for a
// resource-sharing partner's, and circa's own for a withdrawn one.
const (
	RequestTypePatron          = "PATRON_PHYSICAL"
	RequestTypeResourceSharing = "RESOURCE_SHARING_PHYSICAL_SHIPMENT"
	RequestTypeCancel          = "CANCEL" // the request was withdrawn before retrieval
)

// rsLine is one request or cancellation of the file.
type rsLine struct {
	typ    string
	req    store.Request
	note   string
	item   store.Item
	bib    store.Bib
	pickup store.Library
	loc    store.Location
	patron *store.Patron
}

// buildRequests sends the retrieval requests placed on the facility's
// items since the last file and, when the profile asks, the cancellations
// of requests already sent, following the change journal from the
// profile's cursor. The cursor
// advances in the transaction that stores the file, so each request and
// each cancellation goes out exactly once.
func (s *Scheduler) buildRequests(ctx context.Context, p *profiles.Exchange) (int, error) {
	return s.pages(ctx, func() (int, bool, error) { return s.buildRequestsPage(ctx, p) })
}

func (s *Scheduler) buildRequestsPage(ctx context.Context, p *profiles.Exchange) (int, bool, error) {
	rs := p.Requests
	now := s.o.Circ.Now().Truncate(time.Second)
	n, scanned := 0, 0
	err := s.db.Update(ctx, func(tx store.Tx) error {
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
					l, err := requestLine(tx, req, false, rs.PatronDetails)
					if err != nil {
						failed = err
						return false
					}
					lines = append(lines, l)
				}
			case "request.cancel":
				if !rs.Cancellations {
					break
				}
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
					l, err := requestLine(tx, req, true, false)
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
			if l.typ == RequestTypeCancel {
				continue
			}
			// Remember what was sent, under the request and the hold it
			// serves, so either one's cancellation finds it (also while
			// cancellations are off, for a profile that turns them on).
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
		_, err = addEntry(tx, p, now, "xml", renderRequests(lines), delivery.Summary{Records: n,
			FirstID: strconv.FormatUint(lines[0].req.ID, 10), LastID: strconv.FormatUint(lines[n-1].req.ID, 10)})
		return err
	})
	return n, scanned >= journalPage, err
}

// requestLine gathers what the file says of a retrieval: its item, record,
// pickup library, the item's location, and the type and note of the
// request it serves.
func requestLine(tx store.Tx, req store.Request, cancel, withPatron bool) (rsLine, error) {
	l := rsLine{typ: RequestTypePatron, req: req, note: req.Note}
	if cancel {
		l.typ = RequestTypeCancel
	}
	var err error
	if l.item, err = tx.Item(req.ItemID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return l, err
	}
	if l.bib, err = tx.Bib(req.BibID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return l, err
	}
	if l.pickup, err = tx.Library(req.Pickup); err != nil && !errors.Is(err, store.ErrNotFound) {
		return l, err
	}
	if l.loc, err = tx.Location(l.item.Location); err != nil && !errors.Is(err, store.ErrNotFound) {
		return l, err
	}
	if req.ParentID != 0 {
		parent, err := tx.Request(req.ParentID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return l, err
		}
		if parent.Kind == store.RequestResourceSharing && !cancel {
			l.typ = RequestTypeResourceSharing
		}
		if l.note == "" {
			l.note = parent.Note
		}
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

// renderRequests writes the file in the layout of Alma's remote-storage
// request export, in its element order: rsExportList holding one rsExport
// per request with requestType, requestId, pickup/library (the library's
// name), operationalRecordinformation (call-number type as Alma's code,
// call number, location code), barcode, mmsId, itemId, title, patronInfo
// where the profile allows, shipAddress (the pickup library's address),
// libraryCode (the pickup library's code), requestNote and
// bibliographicInformation. No text separates the elements: Ex Libris'
// sample reader takes every child node of the root for a request.
func renderRequests(lines []rsLine) []byte {
	w := newFlatXW()
	w.open("xb:rsExportList", "xmlns:xb", requestsNamespace)
	for _, l := range lines {
		w.open("xb:rsExport")
		w.elem("xb:requestType", l.typ)
		w.elem("xb:requestId", strconv.FormatUint(l.req.ID, 10))
		w.open("xb:pickup")
		w.elem("xb:library", cmp.Or(l.pickup.Name, l.req.Pickup))
		w.close("xb:pickup")
		w.open("xb:operationalRecordinformation")
		if scheme := oai.ShelvingScheme(l.loc.CallNumberType); scheme != " " {
			w.elem("xb:call_number_type", scheme)
		}
		w.opt("xb:permanent_call_number", cmp.Or(l.item.CallNumber, l.bib.CallNumber))
		w.elem("xb:permanent_physical_location_code", l.item.Location)
		w.close("xb:operationalRecordinformation")
		w.elem("xb:barcode", l.item.Barcode)
		w.elem("xb:mmsId", cmp.Or(l.bib.ControlNumber, strconv.FormatUint(l.req.BibID, 10)))
		w.elem("xb:itemId", strconv.FormatUint(l.req.ItemID, 10))
		w.opt("xb:title", l.bib.Title)
		if p := l.patron; p != nil {
			w.open("xb:patronInfo")
			name := p.LastName // "Last, First", as Alma writes it
			if p.FirstName != "" {
				name += ", " + p.FirstName
			}
			w.elem("xb:patronName", name)
			w.elem("xb:patronIdentifier", p.Barcode)
			if c, ok := p.ContactOf("email"); ok {
				w.opt("xb:patronEmail", c.Value)
			}
			w.close("xb:patronInfo")
		}
		if l.pickup.Address == "" {
			w.elem("xb:shipAddress", "")
		} else {
			w.open("xb:shipAddress")
			w.elem("xb:line1", l.pickup.Address)
			w.close("xb:shipAddress")
		}
		w.elem("xb:libraryCode", l.req.Pickup)
		w.opt("xb:requestNote", l.note)
		if l.bib.Author != "" || l.bib.ISBN != "" {
			w.open("xb:bibliographicInformation")
			w.opt("xb:author", l.bib.Author)
			w.opt("xb:isbn", l.bib.ISBN)
			w.close("xb:bibliographicInformation")
		}
		w.close("xb:rsExport")
	}
	w.close("xb:rsExportList")
	return w.bytes()
}
