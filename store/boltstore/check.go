package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

// Check verifies bbolt's own page consistency, that every index entry points
// at a record that agrees with it and every record is indexed, and the
// circulation invariants (one open loan per item, on-loan items have a loan,
// fee balances within their amounts), and that records name libraries,
// locations, desks, groups, item policies, items and patrons that exist. It returns every problem
// found.
func (db *DB) Check() ([]store.Problem, error) {
	var probs []store.Problem
	err := db.bolt.View(func(btx *bolt.Tx) error {
		for err := range btx.Check() {
			probs = append(probs, store.Problem{Where: "bbolt", Detail: err.Error()})
		}
		for _, name := range allBuckets {
			if btx.Bucket(name) == nil {
				probs = append(probs, store.Problem{Where: "buckets", Detail: fmt.Sprintf("bucket %s missing", name)})
			}
		}
		if len(probs) > 0 {
			return nil
		}
		c := &checker{tx: &Tx{btx: btx}}
		c.items()
		c.patrons()
		c.loans()
		c.requests()
		c.fees()
		c.bibs()
		c.lookups()
		c.references()
		probs = append(probs, c.probs...)
		return nil
	})
	return probs, err
}

type checker struct {
	tx    *Tx
	probs []store.Problem
}

func (c *checker) add(where, format string, args ...any) {
	c.probs = append(c.probs, store.Problem{Where: where, Detail: fmt.Sprintf(format, args...)})
}

func (c *checker) forEach(bucket []byte, fn func(k, v []byte)) {
	_ = c.tx.b(bucket).ForEach(func(k, v []byte) error { fn(k, v); return nil })
}

func (c *checker) items() {
	seen := 0
	c.forEach(bucketItems, func(k, v []byte) {
		var it store.Item
		if err := decodeRecord(v, &it); err != nil {
			c.add("items", "record %x undecodable: %v", k, err)
			return
		}
		seen++
		if decodeU64(c.tx.b(idxItemBarcode).Get([]byte(store.NormalizeBarcode(it.Barcode)))) != it.ID {
			c.add("items", "item %d (%s) missing from barcode index", it.ID, it.Barcode)
		}
		if c.tx.b(idxItemsBib).Get(pair(it.BibID, it.ID)) == nil {
			c.add("items", "item %d missing from bib index", it.ID)
		}
		if _, err := c.tx.Bib(it.BibID); err != nil {
			c.add("items", "item %d names bib %d: %v", it.ID, it.BibID, err)
		}
		_, open, _ := c.tx.OpenLoanOfItem(it.ID)
		if open != (it.Status == store.ItemOnLoan) {
			c.add("items", "item %d status %s but open loan=%v", it.ID, it.Status, open)
		}
	})
	n := 0
	c.forEach(idxItemBarcode, func(k, v []byte) {
		n++
		it, err := c.tx.Item(decodeU64(v))
		if err != nil || store.NormalizeBarcode(it.Barcode) != string(k) {
			c.add("idx_item_barcode", "entry %q points at item %d that does not carry it", k, decodeU64(v))
		}
	})
	if n != seen {
		c.add("idx_item_barcode", "%d entries for %d items", n, seen)
	}
	c.forEach(idxItemsBib, func(k, v []byte) {
		it, err := c.tx.Item(pairSecond(k))
		if err != nil || it.BibID != decodeU64(k) {
			c.add("idx_items_bib", "stale entry bib %d item %d", decodeU64(k), pairSecond(k))
		}
	})
}

func (c *checker) patrons() {
	keys := 0
	c.forEach(bucketPatrons, func(k, v []byte) {
		var p store.Patron
		if err := decodeRecord(v, &p); err != nil {
			c.add("patrons", "record %x undecodable: %v", k, err)
			return
		}
		for _, ik := range c.tx.patronIdents(&p) {
			keys++
			if decodeU64(c.tx.b(idxPatronIdent).Get(ik)) != p.ID {
				c.add("patrons", "patron %d identifier %q not indexed", p.ID, bytes.ReplaceAll(ik, []byte{0}, []byte{':'}))
			}
		}
	})
	n := c.tx.b(idxPatronIdent).Stats().KeyN
	if n != keys {
		c.add("idx_patron_ident", "%d entries for %d identifiers", n, keys)
	}
}

func (c *checker) loans() {
	open := 0
	c.forEach(bucketLoans, func(k, v []byte) {
		var l store.Loan
		if err := decodeRecord(v, &l); err != nil {
			c.add("loans", "record %x undecodable: %v", k, err)
			return
		}
		if l.Open() {
			// A returned loan outlives its patron (Tx.DeletePatron).
			if _, err := c.tx.Patron(l.PatronID); err != nil {
				c.add("loans", "loan %d names patron %d: %v", l.ID, l.PatronID, err)
			}
			open++
			if decodeU64(c.tx.b(idxLoanOpenItem).Get(u64(l.ItemID))) != l.ID {
				c.add("loans", "open loan %d not the item %d's open loan (two open loans?)", l.ID, l.ItemID)
			}
			if c.tx.b(idxLoanOpenPatron).Get(pair(l.PatronID, l.ID)) == nil {
				c.add("loans", "open loan %d missing from patron index", l.ID)
			}
			if c.tx.b(idxLoanOpenDue).Get(timeKey(l.Due, l.ID)) == nil {
				c.add("loans", "open loan %d missing from due index", l.ID)
			}
		} else if c.tx.b(idxLoanHistPatron).Get(pair(l.PatronID, l.ID)) == nil {
			c.add("loans", "returned loan %d missing from history index", l.ID)
		}
	})
	for _, idx := range [][]byte{idxLoanOpenItem, idxLoanOpenPatron, idxLoanOpenDue} {
		if n := c.tx.b(idx).Stats().KeyN; n != open {
			c.add(string(idx), "%d entries for %d open loans", n, open)
		}
	}
}

func (c *checker) requests() {
	open := 0
	c.forEach(bucketRequests, func(k, v []byte) {
		var r store.Request
		if err := decodeRecord(v, &r); err != nil {
			c.add("requests", "record %x undecodable: %v", k, err)
			return
		}
		if r.Status.Open() {
			open++
			if c.tx.b(idxReqOpenBib).Get(pair(r.BibID, r.ID)) == nil || c.tx.b(idxReqOpenPatron).Get(pair(r.PatronID, r.ID)) == nil {
				c.add("requests", "open request %d not indexed", r.ID)
			}
		}
		if r.Status == store.RequestOnShelf && r.ItemID != 0 {
			if it, err := c.tx.Item(r.ItemID); err != nil || it.HeldFor != r.ID {
				c.add("requests", "request %d on shelf but item %d not held for it", r.ID, r.ItemID)
			}
		}
	})
	for _, idx := range [][]byte{idxReqOpenBib, idxReqOpenPatron} {
		if n := c.tx.b(idx).Stats().KeyN; n != open {
			c.add(string(idx), "%d entries for %d open requests", n, open)
		}
	}
}

func (c *checker) fees() {
	c.forEach(bucketFees, func(k, v []byte) {
		var f store.Fee
		if err := decodeRecord(v, &f); err != nil {
			c.add("fees", "record %x undecodable: %v", k, err)
			return
		}
		if f.Balance < 0 || f.Balance > f.Amount {
			c.add("fees", "fee %d balance %d outside 0..%d", f.ID, f.Balance, f.Amount)
		}
		var paid int64
		for _, t := range f.Transactions {
			if t.Kind != store.TxnExport {
				paid += t.Amount
			}
		}
		if f.Amount-paid != f.Balance {
			c.add("fees", "fee %d: amount %d less transactions %d is not balance %d", f.ID, f.Amount, paid, f.Balance)
		}
		if c.tx.b(idxFeesPatron).Get(pair(f.PatronID, f.ID)) == nil {
			c.add("fees", "fee %d missing from patron index", f.ID)
		}
	})
}

func (c *checker) bibs() {
	n := 0
	c.forEach(bucketBibs, func(k, v []byte) {
		var b store.Bib
		if err := decodeRecord(v, &b); err != nil {
			c.add("bibs", "record %x undecodable: %v", k, err)
			return
		}
		n++
		b, _ = c.tx.Bib(b.ID)
		if c.tx.b(idxBibChanged).Get(timeKey(b.Changed, b.ID)) == nil {
			c.add("bibs", "bib %d missing from change index", b.ID)
		}
		if isbn := store.NormalizeISBN(b.ISBN); isbn != "" && c.tx.b(idxBibISBN).Get(idKey(isbn, b.ID)) == nil {
			c.add("bibs", "bib %d missing from ISBN index", b.ID)
		}
		for _, sn := range b.SystemNumbers {
			if c.tx.b(idxBibSysNum).Get(idKey(sn, b.ID)) == nil {
				c.add("bibs", "bib %d missing from system number index under %q", b.ID, sn)
			}
		}
	})
	if m := c.tx.b(idxBibChanged).Stats().KeyN; m != n {
		c.add("idx_bib_changed", "%d entries for %d bibs", m, n)
	}
}

// lookups verifies the indexes that map an outside identifier to a record:
// holdings of a bib, bib control numbers, partners' request ids and fee
// transaction ids. Each entry must point at a record that carries the key.
func (c *checker) lookups() {
	c.forEach(idxHoldingsBib, func(k, v []byte) {
		h, err := c.tx.Holding(pairSecond(k))
		if err != nil || h.BibID != decodeU64(k) {
			c.add("idx_holdings_bib", "stale entry bib %d holding %d", decodeU64(k), pairSecond(k))
		}
	})
	c.forEach(bucketHoldings, func(k, v []byte) {
		var h store.Holding
		if err := decodeRecord(v, &h); err != nil {
			c.add("holdings", "record %x undecodable: %v", k, err)
			return
		}
		if c.tx.b(idxHoldingsBib).Get(pair(h.BibID, h.ID)) == nil {
			c.add("holdings", "holding %d missing from bib index", h.ID)
		}
	})
	c.forEach(idxBibControl, func(k, v []byte) {
		b, err := c.tx.Bib(decodeU64(v))
		if err != nil || b.ControlNumber != string(k) {
			c.add("idx_bib_control", "entry %q points at bib %d that does not carry it", k, decodeU64(v))
		}
	})
	c.forEach(idxBibISBN, func(k, v []byte) {
		id, isbn := idKeyParts(k)
		b, err := c.tx.Bib(id)
		if err != nil || store.NormalizeISBN(b.ISBN) != isbn {
			c.add("idx_bib_isbn", "entry %q points at bib %d that does not carry it", isbn, id)
		}
	})
	c.forEach(idxBibSysNum, func(k, v []byte) {
		id, n := idKeyParts(k)
		b, err := c.tx.Bib(id)
		if err != nil || !slices.Contains(b.SystemNumbers, n) {
			c.add("idx_bib_sysnum", "entry %q points at bib %d that does not carry it", n, id)
		}
	})
	c.forEach(idxReqExternal, func(k, v []byte) {
		r, err := c.tx.Request(decodeU64(v))
		if err != nil || !bytes.Equal(stringKey(r.Partner, r.ExternalID), k) {
			c.add("idx_req_external", "entry %q points at request %d that does not carry it", bytes.ReplaceAll(k, []byte{0}, []byte{'/'}), decodeU64(v))
		}
	})
	c.forEach(idxFeeTxn, func(k, v []byte) {
		f, err := c.tx.Fee(decodeU64(v))
		found := false
		for _, t := range f.Transactions {
			found = found || t.ExternalID == string(k)
		}
		if err != nil || !found {
			c.add("idx_fee_txn", "entry %q points at fee %d without that transaction", k, decodeU64(v))
		}
	})
	var last uint64
	c.forEach(bucketJournal, func(k, v []byte) {
		var e store.Event
		if err := decodeRecord(v, &e); err != nil || e.Seq != decodeU64(k) || e.Seq <= last {
			c.add("journal", "event %d out of sequence or undecodable", decodeU64(k))
		}
		last = decodeU64(k)
	})
	if head := c.tx.JournalHead(); last > head {
		c.add("journal", "event %d beyond the sequence %d", last, head)
	}
}

// codeSet is the set of the codes of every record all returns; an error
// listing them is a problem of where.
func codeSet[T any](c *checker, where string, all func() ([]T, error), code func(*T) string) map[string]bool {
	rs, err := all()
	if err != nil {
		c.add(where, "%v", err)
	}
	set := make(map[string]bool, len(rs))
	for i := range rs {
		set[code(&rs[i])] = true
	}
	return set
}

// references reports records naming a library, location, desk, group,
// item policy, item or patron that does not exist. History may outlive an item (a returned
// loan, a paid fee of a withdrawn copy), so only what is still in effect is
// checked: open loans and requests, outstanding fees, items, patrons,
// holdings, locations, desks, profiles and the rules.
func (c *checker) references() {
	libs := codeSet(c, "libraries", c.tx.Libraries, func(l *store.Library) string { return l.Code })
	locs, desks := map[string]store.Location{}, map[string]store.Desk{}
	lcs, err := c.tx.Locations()
	if err != nil {
		c.add("locations", "%v", err)
	}
	for _, l := range lcs {
		locs[l.Code] = l
	}
	ds, err := c.tx.Desks()
	if err != nil {
		c.add("desks", "%v", err)
	}
	for _, d := range ds {
		desks[d.Code] = d
	}
	library := func(where, what, code string) {
		if code != "" && !libs[code] {
			c.add(where, "%s names library %q, which does not exist", what, code)
		}
	}
	location := func(where, what, code string) {
		if _, ok := locs[code]; code != "" && !ok {
			c.add(where, "%s names location %q, which does not exist", what, code)
		}
	}
	groups := codeSet(c, "groups", c.tx.Groups, func(g *store.Group) string { return g.Code })
	policies := codeSet(c, "item_policies", c.tx.Policies, func(p *store.Policy) string { return p.Code })
	group := func(where, what, code string) {
		if code != "" && !groups[code] {
			c.add(where, "%s names group %q, which does not exist", what, code)
		}
	}
	policy := func(where, what, code string) {
		if code != "" && !policies[code] {
			c.add(where, "%s names item policy %q, which does not exist", what, code)
		}
	}
	for _, l := range lcs {
		library("locations", "location "+l.Code, l.Library)
	}
	for _, d := range ds {
		library("desks", "desk "+d.Code, d.Library)
		for _, l := range d.Locations {
			location("desks", "desk "+d.Code, l)
		}
	}
	c.forEach(bucketItems, func(k, v []byte) {
		var it store.Item
		if decodeRecord(v, &it) != nil {
			return // reported by items
		}
		what := fmt.Sprintf("item %d (%s)", it.ID, it.Barcode)
		library("items", what, it.Library)
		library("items", what+" in transit", it.TransitTo)
		location("items", what, it.Location)
		policy("items", what, it.Policy)
		if it.HoldingID != 0 {
			if _, err := c.tx.Holding(it.HoldingID); err != nil {
				c.add("items", "%s names holding %d, which does not exist", what, it.HoldingID)
			}
		}
	})
	c.forEach(bucketPatrons, func(k, v []byte) {
		var p store.Patron
		if decodeRecord(v, &p) != nil {
			return // reported by patrons
		}
		group("patrons", fmt.Sprintf("patron %d", p.ID), p.UserGroup)
	})
	c.forEach(bucketHoldings, func(k, v []byte) {
		var h store.Holding
		if decodeRecord(v, &h) != nil {
			return
		}
		library("holdings", fmt.Sprintf("holding %d", h.ID), h.Library)
		location("holdings", fmt.Sprintf("holding %d", h.ID), h.Location)
	})
	c.forEach(bucketLoans, func(k, v []byte) {
		var l store.Loan
		if decodeRecord(v, &l) != nil || !l.Open() {
			return
		}
		if _, err := c.tx.Item(l.ItemID); err != nil {
			c.add("loans", "open loan %d names item %d, which does not exist", l.ID, l.ItemID)
		}
		library("loans", fmt.Sprintf("open loan %d", l.ID), l.Library)
	})
	c.forEach(bucketRequests, func(k, v []byte) {
		var r store.Request
		if decodeRecord(v, &r) != nil || !r.Status.Open() {
			return
		}
		what := fmt.Sprintf("open request %d", r.ID)
		if _, err := c.tx.Patron(r.PatronID); err != nil {
			c.add("requests", "%s names patron %d, which does not exist", what, r.PatronID)
		}
		if _, err := c.tx.Bib(r.BibID); err != nil {
			c.add("requests", "%s names bib %d, which does not exist", what, r.BibID)
		}
		if r.ItemID != 0 {
			if _, err := c.tx.Item(r.ItemID); err != nil {
				c.add("requests", "%s names item %d, which does not exist", what, r.ItemID)
			}
		}
		library("requests", what+" pickup", r.Pickup)
	})
	c.forEach(bucketFees, func(k, v []byte) {
		var f store.Fee
		if decodeRecord(v, &f) != nil || !f.Outstanding() {
			return
		}
		if _, err := c.tx.Patron(f.PatronID); err != nil {
			c.add("fees", "outstanding fee %d names patron %d, which does not exist", f.ID, f.PatronID)
		}
	})
	c.forEach(bucketProfiles, func(k, v []byte) {
		// A profile is an opaque document to store; the profiles package
		// writes JSON naming libraries and desks by these fields.
		var doc struct {
			Library       string `json:"library"`
			PickupLibrary string `json:"pickup_library"`
			Desk          string `json:"desk"`
		}
		if json.Unmarshal(v, &doc) != nil {
			return
		}
		what := "profile " + string(bytes.ReplaceAll(k, []byte{0}, []byte{' '}))
		library("profiles", what, doc.Library)
		library("profiles", what+" pickup", doc.PickupLibrary)
		if _, ok := desks[doc.Desk]; doc.Desk != "" && !ok {
			c.add("profiles", "%s names desk %q, which does not exist", what, doc.Desk)
		}
	})
	if r, err := c.tx.Rules(); err == nil {
		for i, lr := range r.Loans {
			what := fmt.Sprintf("loan rule %d", i+1)
			library("rules", what, lr.Library)
			group("rules", what, lr.UserGroup)
			policy("rules", what, lr.ItemPolicy)
		}
		for i, g := range r.Groups {
			group("rules", fmt.Sprintf("group rule %d", i+1), g.UserGroup)
		}
		for i, f := range r.RentalFees {
			policy("rules", fmt.Sprintf("rental fee %d", i+1), f.ItemPolicy)
		}
	}
}

// Stats returns the number of keys in every bucket.
func (db *DB) Stats() (map[string]int, error) {
	out := make(map[string]int)
	err := db.bolt.View(func(btx *bolt.Tx) error {
		for _, name := range allBuckets {
			if b := btx.Bucket(name); b != nil {
				out[string(name)] = b.Stats().KeyN
			}
		}
		return nil
	})
	return out, err
}
