package circ

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/circa-ils/circa/store"
)

// Remote-storage states recorded in an item's storage history.
const (
	StorageRequested   = "requested"
	StorageRetrieved   = "retrieved"
	StorageRefiled     = "refiled"
	StorageAccessioned = "accessioned"
	StorageNotFound    = "not_found"
)

// StorageEvent is a message from a remote-storage facility about one item.
type StorageEvent struct {
	Agent    Agent
	Facility string // the facility code its locations name
	Item     string // barcode
	Note     string // kept in the storage history
	Retry    Retry
}

// StorageResult says what the event did.
type StorageResult struct {
	Item  ItemBrief `json:"item"`
	State string    `json:"state"`
	// Retrieval is the retrieval request the event settled, if any.
	Retrieval uint64 `json:"retrieval,omitempty"`
	// Hold is the patron's request the retrieval served, if any.
	Hold uint64 `json:"hold,omitempty"`
	// Destination is the library a retrieved item is sent to.
	Destination string `json:"destination,omitempty"`
	// MovedTo is the barcode of the copy a hold moved to after its item
	// was not found.
	MovedTo string `json:"moved_to,omitempty"`
	// Repeat says the item was already in this state: nothing changed.
	Repeat bool      `json:"repeat,omitempty"`
	At     time.Time `json:"at"`
}

// facilityItem finds an item kept by a facility.
func facilityItem(tx store.Tx, facility, barcode string) (store.Item, store.Location, *Error, error) {
	it, refusal, err := lookupItem(tx, barcode)
	if err != nil || refusal != nil {
		return it, store.Location{}, refusal, err
	}
	loc, err := tx.Location(it.Location)
	if errors.Is(err, store.ErrNotFound) || err == nil && (!loc.RemoteStorage || loc.Facility != facility) {
		return it, loc, refuse(LocationUnknown, "item "+barcode+" is not kept by facility "+facility), nil
	}
	return it, loc, nil, err
}

func lastState(tx store.Tx, itemID uint64) (store.StorageState, error) {
	h, err := tx.StorageHistory(itemID)
	if err != nil || len(h) == 0 {
		return store.StorageState{}, err
	}
	return h[len(h)-1], nil
}

// openRetrieval returns the item's open retrieval request from the facility.
func openRetrieval(tx store.Tx, it *store.Item, facility string) (store.Request, bool, error) {
	reqs, err := tx.OpenRequestsOfBib(it.BibID)
	if err != nil {
		return store.Request{}, false, err
	}
	for _, r := range reqs {
		if r.Kind == store.RequestRetrieval && r.ItemID == it.ID && (r.Facility == facility || r.Facility == "") {
			return r, true, nil
		}
	}
	return store.Request{}, false, nil
}

// StorageCheckin records that the facility holds the item at rest:
// "accessioned" the first time, "refiled" after. The item becomes available
// in its annex location; a loan still open is closed (the item came back
// through the facility) and a hold it was on its way to goes back to
// waiting. A repeat while the item is already at rest changes nothing.
func (s *Service) StorageCheckin(ctx context.Context, ev StorageEvent) (StorageResult, error) {
	var res StorageResult
	now := s.Now()
	rules := s.rules.Load()
	err := s.update(ctx, ev.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = StorageResult{At: now}
		it, _, refusal, err := facilityItem(tx, ev.Facility, ev.Item)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Item = briefOf(tx, &it)
		hist, err := tx.StorageHistory(it.ID)
		if err != nil {
			return nil, err
		}
		loan, open, err := tx.OpenLoanOfItem(it.ID)
		if err != nil {
			return nil, err
		}
		if n := len(hist); n > 0 && !open && it.Status == store.ItemAvailable && it.HeldFor == 0 &&
			(hist[n-1].State == StorageRefiled || hist[n-1].State == StorageAccessioned) {
			res.State, res.Repeat = hist[n-1].State, true
			return nil, nil
		}
		refs := []store.Ref{ref("item", it.ID)}
		if open {
			var cr CheckinResult
			more, err := s.closeLoan(tx, rules, &it, &loan, now, ev.Agent.Library, now, &cr)
			if err != nil {
				return nil, err
			}
			refs = append(refs, more...)
		}
		if it.HeldFor != 0 {
			if r, err := tx.Request(it.HeldFor); err == nil && r.Status.Open() {
				r.Status, r.ShelfExpires = store.RequestWaiting, time.Time{}
				if err := tx.PutRequest(&r); err != nil {
					return nil, err
				}
				res.Hold = r.ID
				refs = append(refs, ref("request", r.ID))
			}
		}
		it.Status, it.HeldFor, it.TransitTo = store.ItemAvailable, 0, ""
		res.State = StorageRefiled
		if len(hist) == 0 {
			res.State = StorageAccessioned
		}
		it.StorageNote = res.State
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		if err := tx.AddStorageState(store.StorageState{ItemID: it.ID, At: now, State: res.State, Facility: ev.Facility, Note: ev.Note}); err != nil {
			return nil, err
		}
		res.Item = briefOf(tx, &it)
		return nil, emit(tx, now, "storage."+res.State, ev.Agent, refs...)
	})
	return res, err
}

// StorageRetrieve records that the facility retrieved the item and sent it
// out. The open retrieval request is fulfilled and the item travels to the
// pickup library of the hold it serves (held for that hold, which is then in
// transit), or home to its library's shelf when nobody asked. A repeat
// while the item is already on its way changes nothing.
func (s *Service) StorageRetrieve(ctx context.Context, ev StorageEvent) (StorageResult, error) {
	var res StorageResult
	now := s.Now()
	err := s.update(ctx, ev.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = StorageResult{At: now}
		it, _, refusal, err := facilityItem(tx, ev.Facility, ev.Item)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Item = briefOf(tx, &it)
		last, err := lastState(tx, it.ID)
		if err != nil {
			return nil, err
		}
		retr, found, err := openRetrieval(tx, &it, ev.Facility)
		if err != nil {
			return nil, err
		}
		if !found && last.State == StorageRetrieved && (it.Status == store.ItemInTransit || it.Status == store.ItemOnHoldShelf) {
			res.State, res.Repeat, res.Retrieval, res.Destination = StorageRetrieved, true, last.Request, it.TransitTo
			return nil, nil
		}
		if _, open, err := tx.OpenLoanOfItem(it.ID); err != nil {
			return nil, err
		} else if open {
			return refuse(ItemHasLoan, "the item is on loan"), nil
		}
		refs := []store.Ref{ref("item", it.ID)}
		dest := it.Library
		if ev.Agent.Library != "" && dest == "" {
			dest = ev.Agent.Library
		}
		it.HeldFor = 0
		if found {
			retr.Status, retr.Closed = store.RequestFulfilled, now
			if err := tx.PutRequest(&retr); err != nil {
				return nil, err
			}
			res.Retrieval = retr.ID
			refs = append(refs, ref("request", retr.ID))
			if retr.ParentID != 0 {
				if hold, err := tx.Request(retr.ParentID); err == nil && hold.Status.Open() {
					hold.ItemID, hold.Status = it.ID, store.RequestInTransit
					if err := tx.PutRequest(&hold); err != nil {
						return nil, err
					}
					it.HeldFor, dest, res.Hold = hold.ID, hold.Pickup, hold.ID
					refs = append(refs, ref("request", hold.ID))
				}
			}
		}
		it.Status, it.TransitTo = store.ItemInTransit, dest
		it.StorageNote = StorageRetrieved
		res.State, res.Destination = StorageRetrieved, dest
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		if err := tx.AddStorageState(store.StorageState{ItemID: it.ID, At: now, State: StorageRetrieved,
			Facility: ev.Facility, Request: res.Retrieval, Note: ev.Note}); err != nil {
			return nil, err
		}
		res.Item = briefOf(tx, &it)
		return nil, emit(tx, now, "storage.retrieved", ev.Agent, refs...)
	})
	return res, err
}

// StorageMissing records that the facility could not find the item: it is
// marked missing and its retrieval cancelled. The hold the retrieval served
// moves to another available copy of the title when there is one (with a
// new retrieval when that copy is in remote storage too); otherwise it
// stays waiting. A repeat changes nothing.
func (s *Service) StorageMissing(ctx context.Context, ev StorageEvent) (StorageResult, error) {
	var res StorageResult
	now := s.Now()
	err := s.update(ctx, ev.Retry, &res, func(tx store.Tx) (*Error, error) {
		res = StorageResult{At: now}
		it, _, refusal, err := facilityItem(tx, ev.Facility, ev.Item)
		if err != nil || refusal != nil {
			return refusal, err
		}
		res.Item = briefOf(tx, &it)
		last, err := lastState(tx, it.ID)
		if err != nil {
			return nil, err
		}
		retr, found, err := openRetrieval(tx, &it, ev.Facility)
		if err != nil {
			return nil, err
		}
		if !found && it.Status == store.ItemMissing && last.State == StorageNotFound {
			res.State, res.Repeat, res.Retrieval = StorageNotFound, true, last.Request
			return nil, nil
		}
		if _, open, err := tx.OpenLoanOfItem(it.ID); err != nil {
			return nil, err
		} else if open {
			return refuse(ItemHasLoan, "the item is on loan"), nil
		}
		refs := []store.Ref{ref("item", it.ID)}
		holdID := it.HeldFor
		if found {
			retr.Status, retr.Closed, retr.Note = store.RequestCancelled, now, "not found by the facility"
			if err := tx.PutRequest(&retr); err != nil {
				return nil, err
			}
			res.Retrieval = retr.ID
			refs = append(refs, ref("request", retr.ID))
			if retr.ParentID != 0 {
				holdID = retr.ParentID
			}
		}
		it.Status, it.HeldFor, it.TransitTo, it.StorageNote = store.ItemMissing, 0, "", StorageNotFound
		if err := tx.PutItem(&it, now); err != nil {
			return nil, err
		}
		if holdID != 0 {
			hold, err := tx.Request(holdID)
			if err == nil && hold.Status.Open() {
				res.Hold = hold.ID
				refs = append(refs, ref("request", hold.ID))
				moved, more, err := moveHold(tx, &hold, &it, now)
				if err != nil {
					return nil, err
				}
				res.MovedTo = moved
				refs = append(refs, more...)
			}
		}
		if err := tx.AddStorageState(store.StorageState{ItemID: it.ID, At: now, State: StorageNotFound,
			Facility: ev.Facility, Request: res.Retrieval, Note: ev.Note}); err != nil {
			return nil, err
		}
		res.State = StorageNotFound
		res.Item = briefOf(tx, &it)
		return nil, emit(tx, now, "storage.not_found", ev.Agent, refs...)
	})
	return res, err
}

// moveHold points a hold whose item went missing at the first available
// other copy of the title, asking a facility for it when it is in remote
// storage. Without one the hold waits as it is. It returns the new copy's
// barcode.
func moveHold(tx store.Tx, hold *store.Request, missing *store.Item, now time.Time) (string, []store.Ref, error) {
	hold.Status, hold.ShelfExpires = store.RequestWaiting, time.Time{}
	items, err := tx.ItemsOfBib(hold.BibID)
	if err != nil {
		return "", nil, err
	}
	for _, other := range items {
		if other.ID == missing.ID || other.Status != store.ItemAvailable || other.HeldFor != 0 {
			continue
		}
		if !hold.TitleLevel {
			hold.ItemID = other.ID
		}
		if err := tx.PutRequest(hold); err != nil {
			return "", nil, err
		}
		refs := []store.Ref{ref("item", other.ID)}
		if loc, err := tx.Location(other.Location); err == nil && loc.RemoteStorage {
			retr := store.Request{Kind: store.RequestRetrieval, BibID: hold.BibID, ItemID: other.ID, PatronID: hold.PatronID,
				Pickup: hold.Pickup, Status: store.RequestWaiting, Created: now, Facility: loc.Facility, ParentID: hold.ID}
			if err := tx.PutRequest(&retr); err != nil {
				return "", nil, err
			}
			if err := tx.AddStorageState(store.StorageState{ItemID: other.ID, At: now, State: StorageRequested,
				Facility: loc.Facility, Request: retr.ID}); err != nil {
				return "", nil, err
			}
			refs = append(refs, ref("request", retr.ID))
		}
		return other.Barcode, refs, nil
	}
	return "", nil, tx.PutRequest(hold)
}

// StorageHistory returns an item's remote-storage history, oldest first.
func (s *Service) StorageHistory(ctx context.Context, barcode string) ([]store.StorageState, error) {
	var out []store.StorageState
	var refusal *Error
	err := s.view(ctx, func(tx store.Tx) error {
		it, r, err := lookupItem(tx, barcode)
		if err != nil || r != nil {
			refusal = r
			return err
		}
		out, err = tx.StorageHistory(it.ID)
		return err
	})
	if err == nil && refusal != nil {
		err = refusal
	}
	return out, err
}

// Mismatch kinds of the storage report.
const (
	MismatchNotRetrieved  = "requested_not_retrieved"  // a retrieval waits longer than the limit
	MismatchNotReceived   = "retrieved_not_received"   // sent by the facility, never arrived
	MismatchRefiledWaits  = "refiled_while_requested"  // at rest while a request waits for it
	MismatchMissingOnFile = "not_found_but_available"  // reported missing, yet shown available
	MismatchStateUnknown  = "no_state_in_remote_store" // in a remote location with no history
)

// StorageReportOptions select what the report covers.
type StorageReportOptions struct {
	Facility string // "" for every facility
	// Days is how old a retrieval or a transit must be to count as stuck.
	Days int
}

// Mismatch is one discrepancy between circulation and a facility.
type Mismatch struct {
	Kind     string    `json:"kind"`
	Facility string    `json:"facility"`
	Item     string    `json:"item"` // barcode
	Title    string    `json:"title"`
	Request  uint64    `json:"request,omitempty"`
	Since    time.Time `json:"since"`
	Detail   string    `json:"detail"`
}

// StorageReport lists the mismatches between circulation and the
// facilities: retrievals requested but not done after Days, items
// retrieved but not received after Days, items at rest while a request
// waits for them without a retrieval, items reported not found yet shown
// available, and items in remote locations with no storage history. The
// list is oldest first.
func (s *Service) StorageReport(ctx context.Context, o StorageReportOptions) ([]Mismatch, error) {
	now := s.Now()
	cutoff := now.AddDate(0, 0, -o.Days)
	var out []Mismatch
	err := s.view(ctx, func(tx store.Tx) error {
		locs, err := tx.Locations()
		if err != nil {
			return err
		}
		remote := map[string]string{}
		for _, l := range locs {
			if l.RemoteStorage && (o.Facility == "" || l.Facility == o.Facility) {
				remote[l.Code] = l.Facility
			}
		}
		title := func(bibID uint64) string {
			if b, err := tx.Bib(bibID); err == nil {
				return b.Title
			}
			return ""
		}
		err = tx.ForEachRequest(func(r store.Request) bool {
			if r.Kind != store.RequestRetrieval || !r.Status.Open() || (o.Facility != "" && r.Facility != o.Facility) || r.Created.After(cutoff) {
				return true
			}
			m := Mismatch{Kind: MismatchNotRetrieved, Facility: r.Facility, Title: title(r.BibID), Request: r.ID, Since: r.Created,
				Detail: "retrieval requested, not yet retrieved"}
			if it, err := tx.Item(r.ItemID); err == nil {
				m.Item = it.Barcode
			}
			out = append(out, m)
			return true
		})
		if err != nil {
			return err
		}
		var inner error
		err = tx.ForEachItem(func(it store.Item) bool {
			facility, ok := remote[it.Location]
			if !ok {
				return true
			}
			hist, err := tx.StorageHistory(it.ID)
			if err != nil {
				inner = err
				return false
			}
			m := Mismatch{Facility: facility, Item: it.Barcode, Title: title(it.BibID)}
			if len(hist) == 0 {
				m.Kind, m.Since, m.Detail = MismatchStateUnknown, it.Created, "no remote-storage history"
				out = append(out, m)
				return true
			}
			last := hist[len(hist)-1]
			m.Since, m.Request = last.At, last.Request
			switch last.State {
			case StorageRetrieved:
				if it.Status == store.ItemInTransit && last.At.Before(cutoff) {
					m.Kind, m.Detail = MismatchNotReceived, "sent to "+it.TransitTo+", not received"
				}
			case StorageNotFound:
				if it.Status == store.ItemAvailable {
					m.Kind, m.Detail = MismatchMissingOnFile, "reported not found, shown available"
				}
			case StorageRefiled, StorageAccessioned:
				reqs, err := tx.OpenRequestsOfBib(it.BibID)
				if err != nil {
					inner = err
					return false
				}
				waiting, retrieving := uint64(0), false
				for _, r := range reqs {
					if r.ItemID != it.ID {
						continue
					}
					if r.Kind == store.RequestRetrieval {
						retrieving = true
					} else if r.Status == store.RequestWaiting && waiting == 0 {
						waiting = r.ID
					}
				}
				if waiting != 0 && !retrieving {
					m.Kind, m.Request, m.Detail = MismatchRefiledWaits, waiting, "at rest while request waits, no retrieval open"
				}
			}
			if m.Kind != "" {
				out = append(out, m)
			}
			return true
		})
		if err == nil {
			err = inner
		}
		return err
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out, err
}

// MismatchKinds lists the report's kinds, for documentation and filters.
func MismatchKinds() []string {
	return []string{MismatchNotRetrieved, MismatchNotReceived, MismatchRefiledWaits, MismatchMissingOnFile, MismatchStateUnknown}
}
