package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

// The records every circulation message reads or writes (items, patrons,
// loans, bibs, holdings, requests, fees, journal events and stored answers)
// are kept in a compact binary form rather than JSON: decoding JSON was a
// quarter to a third of the server's CPU on the kiosk path. The layout of a
// record is its fields in declaration order: unsigned integers as uvarints,
// signed ones as varints, strings as a uvarint length and the bytes, booleans
// as one byte, times as described at timeField, lists as a uvarint count and
// the elements. Every field is always present, so a change of layout is a
// schema migration (migrate.go); cold, small records (libraries, locations,
// desks, rules, settings, storage history) stay JSON.

// binaryRecord is a record with a binary layout.
type binaryRecord interface {
	appendBinary(e *recordEncoder)
	decodeBinary(d *recordDecoder)
}

// The record types of package store get their binary layouts through these
// local types of the same shape.
type (
	bibRecord     store.Bib
	holdingRecord store.Holding
	itemRecord    store.Item
	patronRecord  store.Patron
	loanRecord    store.Loan
	requestRecord store.Request
	feeRecord     store.Fee
	eventRecord   store.Event
	idemRecord    store.IdemEntry
)

// binaryOf returns the binary layout of a record: one of package store's
// record types, or an old layout kept for migrations.
func binaryOf(v any) binaryRecord {
	switch v := v.(type) {
	case *store.Bib:
		return (*bibRecord)(v)
	case *store.Holding:
		return (*holdingRecord)(v)
	case *store.Item:
		return (*itemRecord)(v)
	case *store.Patron:
		return (*patronRecord)(v)
	case *store.Loan:
		return (*loanRecord)(v)
	case *store.Request:
		return (*requestRecord)(v)
	case *store.Fee:
		return (*feeRecord)(v)
	case *store.Event:
		return (*eventRecord)(v)
	case *store.IdemEntry:
		return (*idemRecord)(v)
	case binaryRecord:
		return v
	}
	panic(fmt.Sprintf("boltstore: %T has no binary layout", v))
}

// binaryBuckets are the buckets whose records have a binary layout, each
// with a fresh value of its record type.
var binaryBuckets = []struct {
	name  []byte
	fresh func() any
}{
	{bucketItems, func() any { return &store.Item{} }},
	{bucketPatrons, func() any { return &store.Patron{} }},
	{bucketLoans, func() any { return &store.Loan{} }},
	{bucketBibs, func() any { return &store.Bib{} }},
	{bucketHoldings, func() any { return &store.Holding{} }},
	{bucketRequests, func() any { return &store.Request{} }},
	{bucketFees, func() any { return &store.Fee{} }},
	{bucketJournal, func() any { return &store.Event{} }},
	{bucketIdem, func() any { return &store.IdemEntry{} }},
}

func getRecord(b *bolt.Bucket, key []byte, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return store.ErrNotFound
	}
	if err := decodeRecord(raw, v); err != nil {
		return fmt.Errorf("store: decode record %x: %w", key, err)
	}
	return nil
}

func putRecord(b *bolt.Bucket, key []byte, v any) error {
	// A fresh buffer each time: bbolt keeps the value until the commit.
	return b.Put(key, encodeRecord(v))
}

func encodeRecord(v any) []byte {
	e := recordEncoder{b: make([]byte, 0, 128)}
	binaryOf(v).appendBinary(&e)
	return e.b
}

var errRecordLayout = errors.New("record does not match its binary layout")

// decodeRecord copies raw into one string that every string field of the
// record then shares, so a decode costs one allocation plus its lists.
func decodeRecord(raw []byte, v any) error {
	d := recordDecoder{s: string(raw)}
	binaryOf(v).decodeBinary(&d)
	if d.bad || d.i != len(d.s) {
		return errRecordLayout
	}
	return nil
}

type recordEncoder struct{ b []byte }

func (e *recordEncoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *recordEncoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *recordEncoder) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *recordEncoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// timeField is 0 for the zero time, otherwise nanoseconds+1 as a uvarint
// followed by the Unix seconds as a varint, which covers every year a
// time.Time can hold (Unix nanoseconds alone end in 2262).
func (e *recordEncoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.uint(uint64(t.Nanosecond()) + 1)
	e.int(t.Unix())
}

// recordDecoder reads a layout; past the first malformed field it returns
// zero values and bad stays set.
type recordDecoder struct {
	s   string
	i   int
	bad bool
}

func (d *recordDecoder) uint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.i >= len(d.s) {
			break
		}
		c := d.s[d.i]
		d.i++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				break
			}
			return v | uint64(c)<<shift
		}
		v |= uint64(c&0x7f) << shift
	}
	d.bad = true
	d.i = len(d.s)
	return 0
}

func (d *recordDecoder) int() int64 {
	u := d.uint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *recordDecoder) str() string {
	n := d.uint()
	if n > uint64(len(d.s)-d.i) {
		d.bad = true
		d.i = len(d.s)
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *recordDecoder) bool() bool {
	if d.i >= len(d.s) || d.s[d.i] > 1 {
		d.bad = true
		d.i = len(d.s)
		return false
	}
	d.i++
	return d.s[d.i-1] == 1
}

func (d *recordDecoder) time() time.Time {
	ns := d.uint()
	if ns == 0 {
		return time.Time{}
	}
	if ns > 1e9 {
		d.bad = true
		d.i = len(d.s)
		return time.Time{}
	}
	return time.Unix(d.int(), int64(ns-1)).UTC()
}

// count reads a list length, refusing one the remaining bytes cannot hold
// (each element takes at least minSize bytes), so a corrupt length cannot
// make a huge allocation.
func (d *recordDecoder) count(minSize int) int {
	n := d.uint()
	if n > uint64((len(d.s)-d.i)/minSize) {
		d.bad = true
		d.i = len(d.s)
		return 0
	}
	return int(n)
}

// ---- layouts, fields in declaration order ----

func (b *bibRecord) appendBinary(e *recordEncoder) {
	b.appendV3(e)
	e.uint(uint64(len(b.SystemNumbers)))
	for _, n := range b.SystemNumbers {
		e.str(n)
	}
}

func (b *bibRecord) decodeBinary(d *recordDecoder) {
	b.decodeV3(d)
	if n := d.count(1); n > 0 {
		b.SystemNumbers = make([]string, n)
		for i := range b.SystemNumbers {
			b.SystemNumbers[i] = d.str()
		}
	}
}

// appendV3 and decodeV3 are the fields of a bib through schema version 3;
// later versions add theirs after them.
func (b *bibRecord) appendV3(e *recordEncoder) {
	e.uint(b.ID)
	e.str(b.ControlNumber)
	e.str(b.Title)
	e.str(b.Author)
	e.str(b.ISBN)
	e.str(b.CallNumber)
	e.str(b.MaterialType)
	e.bool(b.Temporary)
	e.bool(b.Suppressed)
	e.bool(b.Deleted)
	e.time(b.Created)
}

func (b *bibRecord) decodeV3(d *recordDecoder) {
	b.ID = d.uint()
	b.ControlNumber = d.str()
	b.Title = d.str()
	b.Author = d.str()
	b.ISBN = d.str()
	b.CallNumber = d.str()
	b.MaterialType = d.str()
	b.Temporary = d.bool()
	b.Suppressed = d.bool()
	b.Deleted = d.bool()
	b.Created = d.time()
}

// bibV3 is a bib as schema versions 2 and 3 laid it out, without its
// system numbers. Only the migrations read it.
type bibV3 struct{ store.Bib }

func (b *bibV3) appendBinary(e *recordEncoder) { (*bibRecord)(&b.Bib).appendV3(e) }
func (b *bibV3) decodeBinary(d *recordDecoder) { (*bibRecord)(&b.Bib).decodeV3(d) }

func (h *holdingRecord) appendBinary(e *recordEncoder) {
	e.uint(h.ID)
	e.uint(h.BibID)
	e.str(h.Library)
	e.str(h.Location)
	e.str(h.CallNumber)
}

func (h *holdingRecord) decodeBinary(d *recordDecoder) {
	h.ID = d.uint()
	h.BibID = d.uint()
	h.Library = d.str()
	h.Location = d.str()
	h.CallNumber = d.str()
}

func (it *itemRecord) appendBinary(e *recordEncoder) {
	it.appendV3(e)
	e.int(it.Price)
	e.str(it.Note)
}

func (it *itemRecord) decodeBinary(d *recordDecoder) {
	it.decodeV3(d)
	it.Price = d.int()
	it.Note = d.str()
}

// appendV3 and decodeV3 are the fields of an item through schema version
// 3; later versions add theirs after them.
func (it *itemRecord) appendV3(e *recordEncoder) {
	e.uint(it.ID)
	e.str(it.Barcode)
	e.uint(it.BibID)
	e.uint(it.HoldingID)
	e.str(it.Library)
	e.str(it.Location)
	e.str(it.CallNumber)
	e.str(it.MediaType)
	e.str(it.Policy)
	e.str(string(it.Status))
	e.bool(it.Magnetic)
	e.int(int64(it.Pieces))
	e.str(it.Properties)
	e.str(it.TransitTo)
	e.uint(it.HeldFor)
	e.str(it.StorageNote)
	e.bool(it.Temporary)
	e.time(it.Created)
	e.time(it.Updated)
}

func (it *itemRecord) decodeV3(d *recordDecoder) {
	it.ID = d.uint()
	it.Barcode = d.str()
	it.BibID = d.uint()
	it.HoldingID = d.uint()
	it.Library = d.str()
	it.Location = d.str()
	it.CallNumber = d.str()
	it.MediaType = d.str()
	it.Policy = d.str()
	it.Status = store.ItemStatus(d.str())
	it.Magnetic = d.bool()
	it.Pieces = int(d.int())
	it.Properties = d.str()
	it.TransitTo = d.str()
	it.HeldFor = d.uint()
	it.StorageNote = d.str()
	it.Temporary = d.bool()
	it.Created = d.time()
	it.Updated = d.time()
}

// itemV3 is an item as schema versions 2 and 3 laid it out, without price
// and note. Only the migrations read it.
type itemV3 struct{ store.Item }

func (it *itemV3) appendBinary(e *recordEncoder) { (*itemRecord)(&it.Item).appendV3(e) }
func (it *itemV3) decodeBinary(d *recordDecoder) { (*itemRecord)(&it.Item).decodeV3(d) }

func (p *patronRecord) appendBinary(e *recordEncoder) {
	e.uint(p.ID)
	e.str(p.Barcode)
	e.uint(uint64(len(p.Identifiers)))
	for _, id := range p.Identifiers {
		e.str(id.Type)
		e.str(id.Value)
	}
	e.str(p.FirstName)
	e.str(p.LastName)
	e.str(p.Birthdate)
	e.str(p.UserGroup)
	e.str(p.HomeLibrary)
	e.time(p.Expiry)
	e.str(p.PINHash)
	e.str(p.Language)
	e.uint(uint64(len(p.Contacts)))
	for _, c := range p.Contacts {
		e.str(c.Kind)
		e.str(c.Type)
		e.str(c.Value)
		e.str(c.Line1)
		e.str(c.Line2)
		e.str(c.City)
		e.str(c.Region)
		e.str(c.Postal)
		e.str(c.Country)
		e.bool(c.Preferred)
		e.bool(c.External)
	}
	e.uint(uint64(len(p.Blocks)))
	for _, b := range p.Blocks {
		e.str(b.Type)
		e.str(b.Note)
		e.time(b.Created)
		e.bool(b.External)
	}
	e.str(p.JobTitle)
	e.str(p.Campus)
	e.str(p.ShareLib)
	e.bool(p.External)
	e.uint(uint64(len(p.StaffEdited)))
	for _, s := range p.StaffEdited {
		e.str(s)
	}
	e.bool(p.Institution)
	e.time(p.Created)
	e.time(p.Updated)
}

func (p *patronRecord) decodeBinary(d *recordDecoder) {
	p.ID = d.uint()
	p.Barcode = d.str()
	if n := d.count(2); n > 0 {
		p.Identifiers = make([]store.Identifier, n)
		for i := range p.Identifiers {
			p.Identifiers[i] = store.Identifier{Type: d.str(), Value: d.str()}
		}
	}
	p.FirstName = d.str()
	p.LastName = d.str()
	p.Birthdate = d.str()
	p.UserGroup = d.str()
	p.HomeLibrary = d.str()
	p.Expiry = d.time()
	p.PINHash = d.str()
	p.Language = d.str()
	if n := d.count(11); n > 0 {
		p.Contacts = make([]store.Contact, n)
		for i := range p.Contacts {
			c := &p.Contacts[i]
			c.Kind, c.Type, c.Value = d.str(), d.str(), d.str()
			c.Line1, c.Line2, c.City = d.str(), d.str(), d.str()
			c.Region, c.Postal, c.Country = d.str(), d.str(), d.str()
			c.Preferred, c.External = d.bool(), d.bool()
		}
	}
	if n := d.count(4); n > 0 {
		p.Blocks = make([]store.Block, n)
		for i := range p.Blocks {
			b := &p.Blocks[i]
			b.Type, b.Note, b.Created, b.External = d.str(), d.str(), d.time(), d.bool()
		}
	}
	p.JobTitle = d.str()
	p.Campus = d.str()
	p.ShareLib = d.str()
	p.External = d.bool()
	if n := d.count(1); n > 0 {
		p.StaffEdited = make([]string, n)
		for i := range p.StaffEdited {
			p.StaffEdited[i] = d.str()
		}
	}
	p.Institution = d.bool()
	p.Created = d.time()
	p.Updated = d.time()
}

func (l *loanRecord) appendBinary(e *recordEncoder) {
	e.uint(l.ID)
	e.uint(l.ItemID)
	e.uint(l.PatronID)
	e.str(l.Library)
	e.time(l.Out)
	e.time(l.Due)
	e.int(int64(l.Renewals))
	e.bool(l.Recalled)
	e.bool(l.NoBlock)
	e.bool(l.NeedsReview)
	e.str(l.Agent)
	e.time(l.Returned)
	e.str(l.ReturnedAt)
}

func (l *loanRecord) decodeBinary(d *recordDecoder) {
	l.ID = d.uint()
	l.ItemID = d.uint()
	l.PatronID = d.uint()
	l.Library = d.str()
	l.Out = d.time()
	l.Due = d.time()
	l.Renewals = int(d.int())
	l.Recalled = d.bool()
	l.NoBlock = d.bool()
	l.NeedsReview = d.bool()
	l.Agent = d.str()
	l.Returned = d.time()
	l.ReturnedAt = d.str()
}

func (r *requestRecord) appendBinary(e *recordEncoder) {
	e.uint(r.ID)
	e.str(string(r.Kind))
	e.bool(r.TitleLevel)
	e.uint(r.BibID)
	e.uint(r.ItemID)
	e.uint(r.PatronID)
	e.str(r.Pickup)
	e.str(string(r.Status))
	e.time(r.Created)
	e.time(r.Expires)
	e.time(r.ShelfExpires)
	e.str(r.Facility)
	e.str(r.Partner)
	e.str(r.ExternalID)
	e.uint(r.ParentID)
	e.time(r.Closed)
	e.str(r.Note)
}

func (r *requestRecord) decodeBinary(d *recordDecoder) {
	r.ID = d.uint()
	r.Kind = store.RequestKind(d.str())
	r.TitleLevel = d.bool()
	r.BibID = d.uint()
	r.ItemID = d.uint()
	r.PatronID = d.uint()
	r.Pickup = d.str()
	r.Status = store.RequestStatus(d.str())
	r.Created = d.time()
	r.Expires = d.time()
	r.ShelfExpires = d.time()
	r.Facility = d.str()
	r.Partner = d.str()
	r.ExternalID = d.str()
	r.ParentID = d.uint()
	r.Closed = d.time()
	r.Note = d.str()
}

func (f *feeRecord) appendBinary(e *recordEncoder) {
	e.uint(f.ID)
	e.uint(f.PatronID)
	e.uint(f.ItemID)
	e.uint(f.LoanID)
	e.str(f.Type)
	e.int(f.Amount)
	e.int(f.Balance)
	e.str(f.Currency)
	e.str(string(f.Status))
	e.str(f.Library)
	e.str(f.Description)
	e.time(f.Created)
	e.uint(uint64(len(f.Transactions)))
	for _, tr := range f.Transactions {
		e.str(string(tr.Kind))
		e.int(tr.Amount)
		e.time(tr.At)
		e.str(tr.ExternalID)
		e.str(tr.PaymentType)
		e.str(tr.Agent)
	}
}

func (f *feeRecord) decodeBinary(d *recordDecoder) {
	f.ID = d.uint()
	f.PatronID = d.uint()
	f.ItemID = d.uint()
	f.LoanID = d.uint()
	f.Type = d.str()
	f.Amount = d.int()
	f.Balance = d.int()
	f.Currency = d.str()
	f.Status = store.FeeStatus(d.str())
	f.Library = d.str()
	f.Description = d.str()
	f.Created = d.time()
	if n := d.count(6); n > 0 {
		f.Transactions = make([]store.FeeTxn, n)
		for i := range f.Transactions {
			tr := &f.Transactions[i]
			tr.Kind = store.FeeTxnKind(d.str())
			tr.Amount = d.int()
			tr.At = d.time()
			tr.ExternalID, tr.PaymentType, tr.Agent = d.str(), d.str(), d.str()
		}
	}
}

func (ev *eventRecord) appendBinary(e *recordEncoder) {
	e.uint(ev.Seq)
	e.time(ev.At)
	e.str(ev.Kind)
	e.uint(uint64(len(ev.Refs)))
	for _, r := range ev.Refs {
		e.str(r.Kind)
		e.uint(r.ID)
	}
	e.str(ev.Agent)
}

func (ev *eventRecord) decodeBinary(d *recordDecoder) {
	ev.Seq = d.uint()
	ev.At = d.time()
	ev.Kind = d.str()
	if n := d.count(2); n > 0 {
		ev.Refs = make([]store.Ref, n)
		for i := range ev.Refs {
			ev.Refs[i] = store.Ref{Kind: d.str(), ID: d.uint()}
		}
	}
	ev.Agent = d.str()
}

func (x *idemRecord) appendBinary(e *recordEncoder) {
	e.time(x.At)
	e.time(x.Until)
	e.uint(x.Head)
	e.str(x.Match)
	e.uint(uint64(len(x.Refs)))
	for _, r := range x.Refs {
		e.str(r.Kind)
		e.uint(r.ID)
	}
	e.str(string(x.Result))
}

func (x *idemRecord) decodeBinary(d *recordDecoder) {
	x.At = d.time()
	x.Until = d.time()
	x.Head = d.uint()
	x.Match = d.str()
	if n := d.count(2); n > 0 {
		x.Refs = make([]store.Ref, n)
		for i := range x.Refs {
			x.Refs[i] = store.Ref{Kind: d.str(), ID: d.uint()}
		}
	}
	if r := d.str(); r != "" {
		x.Result = []byte(r)
	}
}

// idemEntryV2 is a stored answer as schema version 2 laid it out: when, and
// the answer. Only the migration to version 3 reads it.
type idemEntryV2 struct {
	At     time.Time `json:"at"`
	Result []byte    `json:"result"`
}

func (x *idemEntryV2) appendBinary(e *recordEncoder) {
	e.time(x.At)
	e.str(string(x.Result))
}

func (x *idemEntryV2) decodeBinary(d *recordDecoder) {
	x.At = d.time()
	if r := d.str(); r != "" {
		x.Result = []byte(r)
	}
}
