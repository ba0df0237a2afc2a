package responder

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/ncip"
)

// What one LookupItemSet answer may cost. A request may name as many
// titles and items as the reader's element limit lets through (about a
// thousand); each answer covers at most itemSetMaxTitles of them and
// itemSetMaxItems items, and its NextItemToken leads to the rest.
const (
	itemSetMaxTitles    = 50
	itemSetDefaultItems = 100
	itemSetMaxItems     = 500
)

// LookupItemSet describes the items of titles (BibliographicId: our bib id
// or the MARC 001, as BibliographicRecordIdentifier or, as VuFind sends it,
// BibliographicItemIdentifier), holdings (HoldingsSetId) or items (ItemId),
// grouped by title and holding, a page at a time. A title or item circa
// does not know gets a Problem of its own; the others are answered.
func (r *Responder) LookupItemSet(ctx context.Context, c *ncip.Call, req *ncip.LookupItemSet) (*ncip.LookupItemSetResponse, error) {
	cl, err := r.caller(c)
	if err != nil {
		return nil, err
	}
	targets := make([]circ.ItemSetTarget, 0, len(req.BibliographicIDs)+len(req.HoldingsSetIDs)+len(req.ItemIDs))
	for _, b := range req.BibliographicIDs {
		targets = append(targets, circ.ItemSetTarget{Kind: circ.TargetTitle, ID: bibIdentifier(b)})
	}
	for _, h := range req.HoldingsSetIDs {
		targets = append(targets, circ.ItemSetTarget{Kind: circ.TargetHolding, ID: h})
	}
	for _, it := range req.ItemIDs {
		targets = append(targets, circ.ItemSetTarget{Kind: circ.TargetItem, ID: it.Value})
	}
	if len(targets) == 0 {
		return nil, missing(c.Service, "BibliographicId")
	}
	digest := targetsDigest(cl.code, targets)
	var cur circ.ItemSetCursor
	if req.NextItemToken != "" {
		var ok bool
		if cur, ok = r.openItemToken(req.NextItemToken, digest, len(targets)); !ok {
			return nil, ncip.NewProblem(c.Service, ncip.ElementRuleViolated,
				"NextItemToken is not one circa gave for this request, or circa has restarted since").At("NextItemToken", "")
		}
	}
	maxItems := itemSetDefaultItems
	if req.MaximumItemsCount > 0 {
		maxItems = min(req.MaximumItemsCount, itemSetMaxItems)
	}
	sets, next, done, err := r.svc.ItemSetPage(ctx, targets, cur, itemSetMaxTitles, maxItems)
	if err != nil {
		return nil, err
	}
	resp := &ncip.LookupItemSetResponse{Header: header(c, cl)}
	for i := range sets {
		resp.Bibs = append(resp.Bibs, bibInformation(cl, req, &sets[i], targets[sets[i].Target].Kind, c.Service))
	}
	if !done {
		resp.NextItemToken = r.itemToken(next, digest)
	}
	return resp, nil
}

// bibIdentifier is the id a BibliographicId names a title by.
func bibIdentifier(b ncip.BibliographicID) string {
	switch {
	case b.RecordID != nil:
		return b.RecordID.Identifier
	case b.ItemID != nil:
		return b.ItemID.Identifier
	}
	return ""
}

// bibInformation writes one title's part of a page. The schema wants the
// BibliographicId and ItemId the request named echoed, a Problem where a
// title or item is unknown, and at least one item in each HoldingsSet.
func bibInformation(cl *caller, req *ncip.LookupItemSet, set *circ.ItemSet, kind circ.ItemSetKind, service string) ncip.BibInformation {
	var bi ncip.BibInformation
	t := set.Target
	var named *ncip.Identifier
	switch kind {
	case circ.TargetTitle:
		bi.BibliographicID = &req.BibliographicIDs[t]
	case circ.TargetHolding:
		t -= len(req.BibliographicIDs)
	case circ.TargetItem:
		named = &req.ItemIDs[t-len(req.BibliographicIDs)-len(req.HoldingsSetIDs)]
	}
	if !set.Found {
		switch kind {
		case circ.TargetTitle:
			bi.Problems = []ncip.Problem{*ncip.NewProblem(service, ncip.UnknownItem, "no such title").At("BibliographicId", bibIdentifier(*bi.BibliographicID))}
		case circ.TargetHolding:
			bi.HoldingsSets = []ncip.HoldingsSet{{ID: req.HoldingsSetIDs[t],
				Problems: []ncip.Problem{*ncip.NewProblem(service, ncip.UnknownItem, "no such holding").At("HoldingsSetId", req.HoldingsSetIDs[t])}}}
		case circ.TargetItem:
			bi.HoldingsSets = []ncip.HoldingsSet{{Items: []ncip.ItemInformation{{ItemID: named,
				Problems: []ncip.Problem{*ncip.NewProblem(service, ncip.UnknownItem, "no such item").At("ItemId", named.Value)}}}}}
		}
		return bi
	}
	if req.Wants(ncip.ElementBibliographicDescription) {
		b := set.Bib
		bi.Description = &ncip.BibliographicDescription{Title: b.Title, Author: b.Author,
			RecordIDs: []ncip.BibliographicRecordID{{Identifier: strconv.FormatUint(b.ID, 10), AgencyID: ncip.SV(cl.localAgency)}}}
		if b.ISBN != "" {
			bi.Description.ItemID = &ncip.BibliographicItemID{Identifier: b.ISBN, Code: ncip.SV("ISBN")}
		}
	}
	if req.Wants(ncip.ElementHoldQueueLength) {
		n := set.TitleHolds
		bi.TitleHoldQueueLength = &n
	}
	if len(set.Holdings) == 0 {
		// The schema has no place for a title or holding without items.
		bi.Description, bi.TitleHoldQueueLength = nil, nil
		if kind == circ.TargetHolding {
			bi.HoldingsSets = []ncip.HoldingsSet{{ID: req.HoldingsSetIDs[t],
				Problems: []ncip.Problem{*ncip.NewProblem(service, ncip.UnknownItem, "the holding has no items").At("HoldingsSetId", req.HoldingsSetIDs[t])}}}
			return bi
		}
		bi.Problems = []ncip.Problem{*ncip.NewProblem(service, ncip.UnknownItem, "the title has no items").At("BibliographicId", bibIdentifier(*bi.BibliographicID))}
		return bi
	}
	for _, h := range set.Holdings {
		hs := ncip.HoldingsSet{}
		if h.Holding.ID != 0 {
			hs.ID = strconv.FormatUint(h.Holding.ID, 10)
			if req.Wants(ncip.ElementLocation) && h.Holding.Library != "" {
				hs.Location = location(h.Holding.Library, h.Holding.Location)
			}
			if req.Wants(ncip.ElementItemDescription) {
				hs.CallNumber = h.Holding.CallNumber
			}
		}
		for i := range h.Items {
			hs.Items = append(hs.Items, itemInformation(cl, req, &h.Items[i], named))
		}
		bi.HoldingsSets = append(bi.HoldingsSets, hs)
	}
	return bi
}

func location(library, shelf string) *ncip.Location {
	l := &ncip.Location{Type: ncip.SV("Permanent"), Names: []ncip.LocationNameInstance{{Level: 1, Value: library}}}
	if shelf != "" {
		l.Names = append(l.Names, ncip.LocationNameInstance{Level: 2, Value: shelf})
	}
	return l
}

// itemInformation describes one item with the element types asked for.
// The item is named as the request named it, or by our barcode.
func itemInformation(cl *caller, req *ncip.LookupItemSet, st *circ.ItemState, named *ncip.Identifier) ncip.ItemInformation {
	it := &st.Item
	info := ncip.ItemInformation{ItemID: named}
	if named == nil {
		id := ours(cl, it.Barcode)
		id.Type = ncip.SV("Barcode")
		info.ItemID = &id
	}
	var f ncip.ItemOptionalFields
	asked := false
	if req.Wants(ncip.ElementCirculationStatus) {
		f.CirculationStatus, asked = ncip.SV(circulationStatus(it.Status, st.Recalled)), true
	}
	if req.Wants(ncip.ElementHoldQueueLength) {
		n := st.HoldQueue
		f.HoldQueueLength, asked = &n, true
	}
	if req.Wants(ncip.ElementItemDescription) && st.CallNumber != "" {
		f.Description, asked = &ncip.ItemDescription{CallNumber: st.CallNumber}, true
	}
	if req.Wants(ncip.ElementLocation) && it.Library != "" {
		f.Locations, asked = []ncip.Location{*location(it.Library, it.Location)}, true
	}
	if req.Wants(ncip.ElementDateDue) && !st.Due.IsZero() {
		f.DateDue, asked = st.Due, true
	}
	if asked {
		info.ItemOptionalFields = &f
	}
	return info
}

// A NextItemToken is the cursor of the next page, a digest of the
// request's targets and caller, and a MAC over both under a key made when
// the responder started: a peer can neither forge nor alter one, nor use
// one with another request. Tokens die with the process that made them.
const itemTokenVersion = 1

func targetsDigest(caller string, targets []circ.ItemSetTarget) [8]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	write := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	write(caller)
	for _, t := range targets {
		write(strconv.Itoa(int(t.Kind)))
		write(t.ID)
	}
	var d [8]byte
	copy(d[:], h.Sum(nil))
	return d
}

func (r *Responder) itemToken(cur circ.ItemSetCursor, digest [8]byte) string {
	b := []byte{itemTokenVersion}
	b = binary.AppendUvarint(b, uint64(cur.Target))
	b = binary.AppendUvarint(b, uint64(cur.Offset))
	b = append(b, digest[:]...)
	m := hmac.New(sha256.New, r.tokenKey)
	m.Write(b)
	b = m.Sum(b)[:len(b)+16]
	return base64.RawURLEncoding.EncodeToString(b)
}

func (r *Responder) openItemToken(token string, digest [8]byte, targets int) (circ.ItemSetCursor, bool) {
	const maxToken = 64
	if len(token) > maxToken {
		return circ.ItemSetCursor{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 1+2+8+16 {
		return circ.ItemSetCursor{}, false
	}
	body, mac := b[:len(b)-16], b[len(b)-16:]
	m := hmac.New(sha256.New, r.tokenKey)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)[:16]) || body[0] != itemTokenVersion {
		return circ.ItemSetCursor{}, false
	}
	rest := body[1:]
	target, n := binary.Uvarint(rest)
	if n <= 0 {
		return circ.ItemSetCursor{}, false
	}
	rest = rest[n:]
	offset, n := binary.Uvarint(rest)
	if n <= 0 || len(rest[n:]) != len(digest) || !hmac.Equal(rest[n:], digest[:]) {
		return circ.ItemSetCursor{}, false
	}
	if target >= uint64(targets) || offset > math.MaxInt32 {
		return circ.ItemSetCursor{}, false
	}
	return circ.ItemSetCursor{Target: int(target), Offset: int(offset)}, true
}
