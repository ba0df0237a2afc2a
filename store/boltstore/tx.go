package boltstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
	"unsafe"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

// Tx is a transaction with typed accessors. Records returned are decoded
// copies, valid after the transaction ends; every Put keeps the record's
// indexes in step within the same transaction.
type Tx struct {
	btx *bolt.Tx
	// commitStart, when set (Options.CommitStamps), is the start of the
	// group commit this transaction belongs to; change stamps are never
	// earlier than it.
	commitStart time.Time
	// buckets caches the top-level buckets by their place in allBuckets:
	// bbolt looks a bucket up with a B+tree seek on every call in a
	// read-only transaction, which cost 8% of the CPU of a kiosk read.
	buckets [len(allBucketsArray)]*bolt.Bucket
	// touched collects the circulation records written since Track, so an
	// operation can keep with its stored answer what it changed.
	tracking bool
	touched  []store.Ref
	// audit collects the changes of the operation running, when its
	// context carries an audit scope (nil otherwise).
	audit *auditOp
}

// Track starts collecting the items, patrons, loans, requests and fees the
// transaction writes, and returns how many it collected so far: a
// transaction carries a whole group commit, so an operation takes the part
// of Touched after that count. Untracked transactions (imports, seeding)
// collect nothing.
func (t *Tx) Track() int {
	t.tracking = true
	return len(t.touched)
}

// Touched returns the records written since tracking began, in order, with
// repeats.
func (t *Tx) Touched() []store.Ref { return t.touched }

func (t *Tx) touch(kind string, id uint64) {
	if t.tracking {
		t.touched = append(t.touched, store.Ref{Kind: kind, ID: id})
	}
}

func (t *Tx) b(name []byte) *bolt.Bucket {
	i := bucketSlot(name)
	if i < 0 {
		return t.btx.Bucket(name)
	}
	if bk := t.buckets[i]; bk != nil {
		return bk
	}
	bk := t.btx.Bucket(name)
	t.buckets[i] = bk
	return bk
}

// bucketSlot finds a bucket name by identity: callers pass the package's
// own name variables.
func bucketSlot(name []byte) int {
	p := unsafe.SliceData(name)
	for i, n := range allBucketsArray {
		if unsafe.SliceData(n) == p {
			return i
		}
	}
	return -1
}

// Writable reports whether the transaction can write.
func (t *Tx) Writable() bool { return t.btx.Writable() }

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return store.ErrNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("store: decode record %x: %w", key, err)
	}
	return nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode: %w", err)
	}
	return b.Put(key, raw)
}

func (t *Tx) nextID(name []byte) (uint64, error) {
	return t.b(name).NextSequence()
}

// scanPrefix calls fn with the second id of every pair key starting with prefix.
func scanPrefix(b *bolt.Bucket, prefix uint64, fn func(id uint64) bool) {
	p := u64(prefix)
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		if !fn(pairSecond(k)) {
			return
		}
	}
}

// ---- libraries, locations, desks, rules, meta ----

// PutLibrary creates or replaces a library.
func (t *Tx) PutLibrary(l *store.Library) error {
	before, err := auditBefore(t, func() (store.Library, error) { return t.Library(l.Code) })
	if err != nil {
		return err
	}
	if err := t.auditNote("library", l.Code, before, l, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketLibraries), []byte(l.Code), l)
}

// Library returns a library by code.
func (t *Tx) Library(code string) (store.Library, error) {
	var l store.Library
	return l, getJSON(t.b(bucketLibraries), []byte(code), &l)
}

// Libraries returns every library in code order.
func (t *Tx) Libraries() ([]store.Library, error) {
	var out []store.Library
	err := t.b(bucketLibraries).ForEach(func(k, v []byte) error {
		var l store.Library
		if err := json.Unmarshal(v, &l); err != nil {
			return err
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// PutLocation creates or replaces a location.
func (t *Tx) PutLocation(l *store.Location) error {
	before, err := auditBefore(t, func() (store.Location, error) { return t.Location(l.Code) })
	if err != nil {
		return err
	}
	if err := t.auditNote("location", l.Code, before, l, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketLocations), []byte(l.Code), l)
}

// Location returns a location by code.
func (t *Tx) Location(code string) (store.Location, error) {
	var l store.Location
	return l, getJSON(t.b(bucketLocations), []byte(code), &l)
}

// Locations returns every location in code order.
func (t *Tx) Locations() ([]store.Location, error) {
	var out []store.Location
	err := t.b(bucketLocations).ForEach(func(k, v []byte) error {
		var l store.Location
		if err := json.Unmarshal(v, &l); err != nil {
			return err
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// PutDesk creates or replaces a circulation desk.
func (t *Tx) PutDesk(d *store.Desk) error {
	before, err := auditBefore(t, func() (store.Desk, error) { return t.Desk(d.Code) })
	if err != nil {
		return err
	}
	if err := t.auditNote("desk", d.Code, before, d, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketDesks), []byte(d.Code), d)
}

// Desk returns a desk by code.
func (t *Tx) Desk(code string) (store.Desk, error) {
	var d store.Desk
	return d, getJSON(t.b(bucketDesks), []byte(code), &d)
}

// Desks returns every desk in code order.
func (t *Tx) Desks() ([]store.Desk, error) {
	var out []store.Desk
	err := t.b(bucketDesks).ForEach(func(k, v []byte) error {
		var d store.Desk
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

// DeleteLibrary removes a library; ErrNotFound when there is none. Callers
// check first that nothing refers to it (circ.RemoveLibrary).
func (t *Tx) DeleteLibrary(code string) error {
	return t.deleteAudited("library", bucketLibraries, code)
}

// DeleteLocation removes a location; ErrNotFound when there is none.
func (t *Tx) DeleteLocation(code string) error {
	return t.deleteAudited("location", bucketLocations, code)
}

// DeleteDesk removes a desk; ErrNotFound when there is none.
func (t *Tx) DeleteDesk(code string) error { return t.deleteAudited("desk", bucketDesks, code) }

// deleteAudited removes the JSON record under code, noting it in the trail.
func (t *Tx) deleteAudited(kind string, bucket []byte, code string) error {
	if t.audit != nil {
		if raw := t.b(bucket).Get([]byte(code)); raw != nil {
			if err := t.auditNote(kind, code, bytes.Clone(raw), nil, 0, ""); err != nil {
				return err
			}
		}
	}
	return deleteKey(t.b(bucket), []byte(code))
}

func deleteKey(b *bolt.Bucket, key []byte) error {
	if b.Get(key) == nil {
		return store.ErrNotFound
	}
	return b.Delete(key)
}

// ForEachHolding calls fn with every holding in id order until fn returns false.
func (t *Tx) ForEachHolding(fn func(store.Holding) bool) error {
	c := t.b(bucketHoldings).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var h store.Holding
		if err := decodeRecord(v, &h); err != nil {
			return err
		}
		if !fn(h) {
			return nil
		}
	}
	return nil
}

// PutRules replaces the circulation rules.
func (t *Tx) PutRules(r *store.Rules) error {
	before, err := auditBefore(t, t.Rules)
	if err != nil {
		return err
	}
	if err := t.auditNote("rules", "rules", before, r, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketMeta), keyRules, r)
}

// Rules returns the circulation rules.
func (t *Tx) Rules() (store.Rules, error) {
	var r store.Rules
	return r, getJSON(t.b(bucketMeta), keyRules, &r)
}

// InstallKey is a random per-installation secret (for keyed hashes of patron
// ids in logs and for signing tokens).
func (t *Tx) InstallKey() []byte {
	return append([]byte(nil), t.b(bucketMeta).Get(keyInstallKey)...)
}

// Cursor returns a background loop's saved position in the change journal.
func (t *Tx) Cursor(name string) uint64 {
	return decodeU64(t.b(bucketMeta).Get([]byte(cursorPrefix + name)))
}

// SetCursor saves a background loop's position in the change journal.
func (t *Tx) SetCursor(name string, seq uint64) error {
	return t.b(bucketMeta).Put([]byte(cursorPrefix+name), u64(seq))
}

const institutionSetting = "institution"

// Institution returns the institution set with PutInstitution or, in a
// database where none was set, one named after the first library by code.
// ErrNotFound means neither exists.
func (t *Tx) Institution() (store.Institution, error) {
	var in store.Institution
	err := t.Meta(institutionSetting, &in)
	if !errors.Is(err, store.ErrNotFound) {
		return in, err
	}
	libs, err := t.Libraries()
	if err != nil {
		return in, err
	}
	if len(libs) == 0 {
		return in, store.ErrNotFound
	}
	return store.Institution{Code: libs[0].Code}, nil
}

// PutInstitution sets the installation's institution.
func (t *Tx) PutInstitution(in *store.Institution) error { return t.SetMeta(institutionSetting, in) }

// SetMeta stores a small named setting document.
func (t *Tx) SetMeta(name string, v any) error {
	if t.audit != nil {
		if err := t.auditNote("setting", name, bytes.Clone(t.b(bucketMeta).Get([]byte(settingPrefix+name))), v, 0, ""); err != nil {
			return err
		}
	}
	return putJSON(t.b(bucketMeta), []byte(settingPrefix+name), v)
}

// Meta reads a small named setting document.
func (t *Tx) Meta(name string, v any) error {
	return getJSON(t.b(bucketMeta), []byte(settingPrefix+name), v)
}

// ---- bibliographic records and holdings ----

// PutBib creates (ID 0) or replaces a bibliographic record and stamps it as
// changed at the given time. The MARCXML is written when b.MARCXML is set and
// kept as it was otherwise.
func (t *Tx) PutBib(b *store.Bib, at time.Time) error {
	before, err := auditBefore(t, func() (store.Bib, error) { return t.Bib(b.ID) })
	if err != nil {
		return err
	}
	bk := t.b(bucketBibs)
	var old store.Bib
	if b.ID == 0 {
		id, err := t.nextID(bucketBibs)
		if err != nil {
			return err
		}
		b.ID = id
		b.Created = at
	} else {
		if err := getRecord(bk, u64(b.ID), &old); err == nil {
			if old.ControlNumber != "" && old.ControlNumber != b.ControlNumber {
				if err := t.b(idxBibControl).Delete([]byte(old.ControlNumber)); err != nil {
					return err
				}
			}
		} else if err != store.ErrNotFound {
			return err
		}
	}
	if err := t.indexBibNumbers(&old, b); err != nil {
		return err
	}
	if b.ControlNumber != "" {
		if id := decodeU64(t.b(idxBibControl).Get([]byte(b.ControlNumber))); id != 0 && id != b.ID {
			return fmt.Errorf("%w: control number %q belongs to bib %d", store.ErrConflict, b.ControlNumber, id)
		}
		if err := t.b(idxBibControl).Put([]byte(b.ControlNumber), u64(b.ID)); err != nil {
			return err
		}
	}
	if b.MARCXML != "" {
		if err := t.b(bucketMARC).Put(u64(b.ID), []byte(b.MARCXML)); err != nil {
			return err
		}
	}
	if err := putRecord(bk, u64(b.ID), b); err != nil {
		return err
	}
	b.Changed = time.Time{}
	if err := t.stampBib(b.ID, at, &b.Changed); err != nil {
		return err
	}
	return t.auditNote("bib", idKeyOf(b.ID), before, b, 0, "")
}

// indexBibNumbers moves a bib's ISBN and system number index entries from
// what old carried to what b carries.
func (t *Tx) indexBibNumbers(old, b *store.Bib) error {
	move := func(idx []byte, from, to []string) error {
		for _, v := range from {
			if v != "" && !slices.Contains(to, v) {
				if err := t.b(idx).Delete(idKey(v, b.ID)); err != nil {
					return err
				}
			}
		}
		for _, v := range to {
			if v != "" && !slices.Contains(from, v) {
				if err := t.b(idx).Put(idKey(v, b.ID), nil); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := move(idxBibISBN, []string{store.NormalizeISBN(old.ISBN)}, []string{store.NormalizeISBN(b.ISBN)}); err != nil {
		return err
	}
	return move(idxBibSysNum, old.SystemNumbers, b.SystemNumbers)
}

// BibsByISBN returns the ids of the bibs whose ISBN is isbn (ISBN-10 and
// ISBN-13 alike), in id order.
func (t *Tx) BibsByISBN(isbn string) []uint64 {
	return scanIDKeys(t.b(idxBibISBN), store.NormalizeISBN(isbn))
}

// BibsBySystemNumber returns the ids of the bibs carrying the 035 system
// control number n, in id order.
func (t *Tx) BibsBySystemNumber(n string) []uint64 {
	return scanIDKeys(t.b(idxBibSysNum), store.NormalizeSystemNumber(n))
}

// idKey is a value 0x00 id, for indexes where several records share a value.
func idKey(v string, id uint64) []byte {
	k := make([]byte, 0, len(v)+9)
	k = append(k, v...)
	k = append(k, 0)
	return append(k, u64(id)...)
}

// idKeyParts splits an idKey.
func idKeyParts(k []byte) (uint64, string) {
	if len(k) < 9 {
		return 0, string(k)
	}
	return decodeU64(k[len(k)-8:]), string(k[:len(k)-9])
}

func scanIDKeys(b *bolt.Bucket, v string) []uint64 {
	if v == "" {
		return nil
	}
	p := append([]byte(v), 0)
	var ids []uint64
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		if len(k) == len(p)+8 {
			ids = append(ids, decodeU64(k[len(p):]))
		}
	}
	return ids
}

// stampBib moves a bib's change stamp forward to at (never backward).
func (t *Tx) stampBib(id uint64, at time.Time, out *time.Time) error {
	if t.commitStart.After(at) {
		at = t.commitStart
	}
	at = at.UTC().Truncate(time.Second)
	stamps := t.b(bucketBibStamp)
	if v := stamps.Get(u64(id)); v != nil {
		old := time.Unix(0, int64(decodeU64(v))).UTC()
		if !at.After(old) {
			*out = old
			return nil
		}
		if err := t.b(idxBibChanged).Delete(timeKey(old, id)); err != nil {
			return err
		}
	}
	if err := t.b(idxBibChanged).Put(timeKey(at, id), nil); err != nil {
		return err
	}
	*out = at
	return stamps.Put(u64(id), u64(uint64(at.UnixNano())))
}

// TouchBib marks a bib changed because its holdings or items changed, so
// harvesters see the change.
func (t *Tx) TouchBib(id uint64, at time.Time) error {
	if t.b(bucketBibs).Get(u64(id)) == nil {
		return store.ErrNotFound
	}
	var ignored time.Time
	return t.stampBib(id, at, &ignored)
}

// Bib returns a bibliographic record by id, without its MARCXML.
func (t *Tx) Bib(id uint64) (store.Bib, error) {
	var b store.Bib
	if err := getRecord(t.b(bucketBibs), u64(id), &b); err != nil {
		return b, err
	}
	if v := t.b(bucketBibStamp).Get(u64(id)); v != nil {
		b.Changed = time.Unix(0, int64(decodeU64(v))).UTC()
	}
	return b, nil
}

// BibMARC returns a bib's MARCXML as it was given.
func (t *Tx) BibMARC(id uint64) (string, error) {
	v := t.b(bucketMARC).Get(u64(id))
	if v == nil {
		return "", store.ErrNotFound
	}
	return string(v), nil
}

// BibByControlNumber returns the bib whose 001 is cn.
func (t *Tx) BibByControlNumber(cn string) (store.Bib, error) {
	id := decodeU64(t.b(idxBibControl).Get([]byte(cn)))
	if id == 0 {
		return store.Bib{}, store.ErrNotFound
	}
	return t.Bib(id)
}

// BibsChanged calls fn for bibs in change order with Changed in
// [from, until], starting after (afterTime, afterID); fn returns false to stop.
func (t *Tx) BibsChanged(from, until time.Time, afterTime time.Time, afterID uint64, fn func(store.Bib) bool) error {
	c := t.b(idxBibChanged).Cursor()
	start := timeKey(from, 0)
	if !afterTime.IsZero() {
		after := timeKey(afterTime, afterID+1)
		if bytes.Compare(after, start) > 0 {
			start = after
		}
	}
	end := timeKey(until, ^uint64(0))
	for k, _ := c.Seek(start); k != nil && bytes.Compare(k, end) <= 0; k, _ = c.Next() {
		b, err := t.Bib(pairSecond(k))
		if err != nil {
			return err
		}
		if !fn(b) {
			return nil
		}
	}
	return nil
}

// EarliestChange returns the oldest change stamp of any bib.
func (t *Tx) EarliestChange() (time.Time, bool) {
	k, _ := t.b(idxBibChanged).Cursor().First()
	if k == nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(decodeU64(k))).UTC(), true
}

// PutHolding creates (ID 0) or replaces a holding.
func (t *Tx) PutHolding(h *store.Holding, at time.Time) error {
	before, err := auditBefore(t, func() (store.Holding, error) { return t.Holding(h.ID) })
	if err != nil {
		return err
	}
	if h.ID == 0 {
		id, err := t.nextID(bucketHoldings)
		if err != nil {
			return err
		}
		h.ID = id
	}
	if err := t.b(idxHoldingsBib).Put(pair(h.BibID, h.ID), nil); err != nil {
		return err
	}
	if err := putRecord(t.b(bucketHoldings), u64(h.ID), h); err != nil {
		return err
	}
	if err := t.auditNote("holding", idKeyOf(h.ID), before, h, 0, ""); err != nil {
		return err
	}
	return t.TouchBib(h.BibID, at)
}

// Holding returns a holding by id.
func (t *Tx) Holding(id uint64) (store.Holding, error) {
	var h store.Holding
	return h, getRecord(t.b(bucketHoldings), u64(id), &h)
}

// HoldingsOfBib returns the holdings of a bib.
func (t *Tx) HoldingsOfBib(bibID uint64) ([]store.Holding, error) {
	var ids []uint64
	scanPrefix(t.b(idxHoldingsBib), bibID, func(id uint64) bool { ids = append(ids, id); return true })
	out := make([]store.Holding, 0, len(ids))
	for _, id := range ids {
		h, err := t.Holding(id)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// ---- items ----

// PutItem creates (ID 0) or replaces an item, keeping the barcode and bib
// indexes and the bib's change stamp in step.
func (t *Tx) PutItem(it *store.Item, at time.Time) error {
	bc := store.NormalizeBarcode(it.Barcode)
	if bc == "" {
		return fmt.Errorf("%w: item without barcode", store.ErrConflict)
	}
	before, err := auditBefore(t, func() (store.Item, error) { return t.Item(it.ID) })
	if err != nil {
		return err
	}
	owner := decodeU64(t.b(idxItemBarcode).Get([]byte(bc)))
	if owner != 0 && owner != it.ID {
		return fmt.Errorf("%w: barcode %s belongs to item %d", store.ErrConflict, it.Barcode, owner)
	}
	// An unchanged item (the common case: a status change) has both index
	// entries already; writing them again would dirty two more pages.
	indexed := owner != 0 && t.b(idxItemsBib).Get(pair(it.BibID, it.ID)) != nil
	if it.ID == 0 {
		id, err := t.nextID(bucketItems)
		if err != nil {
			return err
		}
		it.ID = id
		it.Created = at
	} else if !indexed {
		// The barcode or the bib changed (each item has exactly one entry
		// in each index, so an unchanged item is recognised without
		// decoding its stored record): move the index entries.
		old, err := t.Item(it.ID)
		if err != nil && err != store.ErrNotFound {
			return err
		}
		if err == nil {
			if ob := store.NormalizeBarcode(old.Barcode); ob != bc {
				if err := t.b(idxItemBarcode).Delete([]byte(ob)); err != nil {
					return err
				}
			}
			if old.BibID != it.BibID {
				if err := t.b(idxItemsBib).Delete(pair(old.BibID, old.ID)); err != nil {
					return err
				}
				if err := t.TouchBib(old.BibID, at); err != nil && err != store.ErrNotFound {
					return err
				}
			}
		}
	}
	it.Updated = at
	if !indexed {
		if err := t.b(idxItemBarcode).Put([]byte(bc), u64(it.ID)); err != nil {
			return err
		}
		if err := t.b(idxItemsBib).Put(pair(it.BibID, it.ID), nil); err != nil {
			return err
		}
	}
	t.touch("item", it.ID)
	if err := putRecord(t.b(bucketItems), u64(it.ID), it); err != nil {
		return err
	}
	if err := t.auditNote("item", it.Barcode, before, it, 0, ""); err != nil {
		return err
	}
	if err := t.TouchBib(it.BibID, at); err != nil && err != store.ErrNotFound {
		return err
	}
	return nil
}

// DeleteItem removes an item and its index entries. An item with an open
// loan cannot be deleted.
func (t *Tx) DeleteItem(id uint64, at time.Time) error {
	it, err := t.Item(id)
	if err != nil {
		return err
	}
	if t.b(idxLoanOpenItem).Get(u64(id)) != nil {
		return fmt.Errorf("%w: item %s is on loan", store.ErrConflict, it.Barcode)
	}
	if err := t.b(idxItemBarcode).Delete([]byte(store.NormalizeBarcode(it.Barcode))); err != nil {
		return err
	}
	if err := t.b(idxItemsBib).Delete(pair(it.BibID, it.ID)); err != nil {
		return err
	}
	t.touch("item", id)
	if err := t.b(bucketItems).Delete(u64(id)); err != nil {
		return err
	}
	if t.audit != nil {
		before, err := json.Marshal(it)
		if err != nil {
			return err
		}
		if err := t.auditNote("item", it.Barcode, before, nil, 0, ""); err != nil {
			return err
		}
	}
	if err := t.TouchBib(it.BibID, at); err != nil && err != store.ErrNotFound {
		return err
	}
	return nil
}

// Item returns an item by id.
func (t *Tx) Item(id uint64) (store.Item, error) {
	var it store.Item
	return it, getRecord(t.b(bucketItems), u64(id), &it)
}

// ItemByBarcode returns an item by barcode.
func (t *Tx) ItemByBarcode(barcode string) (store.Item, error) {
	id := decodeU64(t.b(idxItemBarcode).Get([]byte(store.NormalizeBarcode(barcode))))
	if id == 0 {
		return store.Item{}, store.ErrNotFound
	}
	return t.Item(id)
}

// ItemsOfBib returns the items of a bib in id order.
func (t *Tx) ItemsOfBib(bibID uint64) ([]store.Item, error) {
	var ids []uint64
	scanPrefix(t.b(idxItemsBib), bibID, func(id uint64) bool { ids = append(ids, id); return true })
	out := make([]store.Item, 0, len(ids))
	for _, id := range ids {
		it, err := t.Item(id)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// ForEachItem calls fn for every item in id order until fn returns false.
func (t *Tx) ForEachItem(fn func(store.Item) bool) error {
	c := t.b(bucketItems).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var it store.Item
		if err := decodeRecord(v, &it); err != nil {
			return err
		}
		if !fn(it) {
			return nil
		}
	}
	return nil
}

// ---- patrons ----

func (t *Tx) patronIdents(p *store.Patron) [][]byte {
	keys := [][]byte{stringKey(store.IdentBarcode, store.NormalizeBarcode(p.Barcode))}
	for _, id := range p.Identifiers {
		if id.Type == store.IdentBarcode || id.Value == "" {
			continue
		}
		keys = append(keys, stringKey(id.Type, store.NormalizeBarcode(id.Value)))
	}
	return keys
}

// PutPatron creates (ID 0) or replaces a patron, keeping the identifier
// index in step. An identifier already used by another patron is a conflict.
func (t *Tx) PutPatron(p *store.Patron, at time.Time) error {
	if store.NormalizeBarcode(p.Barcode) == "" {
		return fmt.Errorf("%w: patron without barcode", store.ErrConflict)
	}
	before, err := auditBefore(t, func() (store.Patron, error) { return t.Patron(p.ID) })
	if err != nil {
		return err
	}
	idx := t.b(idxPatronIdent)
	keys := t.patronIdents(p)
	for _, k := range keys {
		if owner := decodeU64(idx.Get(k)); owner != 0 && owner != p.ID {
			return fmt.Errorf("%w: identifier already belongs to another patron", store.ErrConflict)
		}
	}
	if p.ID == 0 {
		id, err := t.nextID(bucketPatrons)
		if err != nil {
			return err
		}
		p.ID = id
		p.Created = at
	} else if old, err := t.Patron(p.ID); err == nil {
		for _, k := range t.patronIdents(&old) {
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
	} else if err != store.ErrNotFound {
		return err
	}
	for _, k := range keys {
		if err := idx.Put(k, u64(p.ID)); err != nil {
			return err
		}
	}
	p.Updated = at
	t.touch("patron", p.ID)
	if err := t.auditNote("patron", p.Barcode, before, p, 0, ""); err != nil {
		return err
	}
	return putRecord(t.b(bucketPatrons), u64(p.ID), p)
}

// Patron returns a patron by id.
func (t *Tx) Patron(id uint64) (store.Patron, error) {
	var p store.Patron
	return p, getRecord(t.b(bucketPatrons), u64(id), &p)
}

// PatronByBarcode returns a patron by primary id.
func (t *Tx) PatronByBarcode(barcode string) (store.Patron, error) {
	return t.PatronByIdentifier(store.IdentBarcode, barcode)
}

// PatronByIdentifier returns a patron by a typed identifier.
func (t *Tx) PatronByIdentifier(typ, value string) (store.Patron, error) {
	id := decodeU64(t.b(idxPatronIdent).Get(stringKey(typ, store.NormalizeBarcode(value))))
	if id == 0 {
		return store.Patron{}, store.ErrNotFound
	}
	return t.Patron(id)
}

// PatronsWithValue returns the ids of the patrons that hold value as their
// barcode or as an identifier of any type, in type order. It seeks once per
// identifier type the index holds, never reading the index whole.
func (t *Tx) PatronsWithValue(value string) []uint64 {
	v := store.NormalizeBarcode(value)
	if v == "" {
		return nil
	}
	var ids []uint64
	c := t.b(idxPatronIdent).Cursor()
	for k, _ := c.First(); k != nil; {
		sep := bytes.IndexByte(k, 0)
		if sep < 0 {
			k, _ = c.Next()
			continue
		}
		typ := string(k[:sep])
		want := stringKey(typ, v)
		if kk, id := c.Seek(want); bytes.Equal(kk, want) && !slices.Contains(ids, decodeU64(id)) {
			ids = append(ids, decodeU64(id))
		}
		// The next type: every key of this one sorts before typ 0x01.
		k, _ = c.Seek(append([]byte(typ), 1))
	}
	return ids
}

// ForEachPatron calls fn for every patron in id order until fn returns false.
func (t *Tx) ForEachPatron(fn func(store.Patron) bool) error {
	c := t.b(bucketPatrons).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var p store.Patron
		if err := decodeRecord(v, &p); err != nil {
			return err
		}
		if !fn(p) {
			return nil
		}
	}
	return nil
}

// DeletePatron removes a patron, its identifier index entries and its
// wrong-PIN counter. A patron with open loans or open requests cannot be
// deleted. Returned loans, closed requests and settled fees stay, naming
// the id, which is never given again: circulation counts and the accounts
// keep them, and they lead to no one.
func (t *Tx) DeletePatron(id uint64) error {
	p, err := t.Patron(id)
	if err != nil {
		return err
	}
	for _, idx := range [][]byte{idxLoanOpenPatron, idxReqOpenPatron} {
		if k, _ := t.b(idx).Cursor().Seek(u64(id)); k != nil && decodeU64(k) == id {
			return fmt.Errorf("%w: patron %d has open loans or requests", store.ErrConflict, id)
		}
	}
	for _, k := range t.patronIdents(&p) {
		if decodeU64(t.b(idxPatronIdent).Get(k)) != id {
			continue
		}
		if err := t.b(idxPatronIdent).Delete(k); err != nil {
			return err
		}
	}
	if err := t.b(bucketPINFails).Delete(u64(id)); err != nil {
		return err
	}
	t.touch("patron", id)
	if t.audit != nil {
		before, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := t.auditNote("patron", p.Barcode, before, nil, 0, ""); err != nil {
			return err
		}
	}
	return t.b(bucketPatrons).Delete(u64(id))
}

// ---- loans ----

// OpenLoan creates a loan for an item that has none; a second open loan for
// the same item is a conflict, whatever the caller checked before.
func (t *Tx) OpenLoan(l *store.Loan) error {
	if t.b(idxLoanOpenItem).Get(u64(l.ItemID)) != nil {
		return fmt.Errorf("%w: item %d already has an open loan", store.ErrConflict, l.ItemID)
	}
	id, err := t.nextID(bucketLoans)
	if err != nil {
		return err
	}
	l.ID = id
	l.Returned = time.Time{}
	if err := t.b(idxLoanOpenItem).Put(u64(l.ItemID), u64(l.ID)); err != nil {
		return err
	}
	if err := t.b(idxLoanOpenPatron).Put(pair(l.PatronID, l.ID), nil); err != nil {
		return err
	}
	if err := t.b(idxLoanOpenDue).Put(timeKey(l.Due, l.ID), nil); err != nil {
		return err
	}
	return t.putLoan(l, nil)
}

// UpdateLoan rewrites an open loan (renewal, recall), moving its due index.
func (t *Tx) UpdateLoan(l *store.Loan) error {
	old, err := t.Loan(l.ID)
	if err != nil {
		return err
	}
	if !old.Open() || !l.Open() {
		return fmt.Errorf("%w: loan %d is not open", store.ErrConflict, l.ID)
	}
	if !old.Due.Equal(l.Due) {
		if err := t.b(idxLoanOpenDue).Delete(timeKey(old.Due, l.ID)); err != nil {
			return err
		}
		if err := t.b(idxLoanOpenDue).Put(timeKey(l.Due, l.ID), nil); err != nil {
			return err
		}
	}
	return t.putLoan(l, &old)
}

// CloseLoan marks an open loan returned and moves it to the history index.
func (t *Tx) CloseLoan(l *store.Loan, at time.Time, library string) error {
	old := *l
	// An open loan has one entry in each open index; when l's item and due
	// date find it there, l is what is stored and need not be decoded again.
	if decodeU64(t.b(idxLoanOpenItem).Get(u64(l.ItemID))) != l.ID || t.b(idxLoanOpenDue).Get(timeKey(l.Due, l.ID)) == nil {
		var err error
		if old, err = t.Loan(l.ID); err != nil {
			return err
		}
		if !old.Open() {
			return fmt.Errorf("%w: loan %d already returned", store.ErrConflict, l.ID)
		}
	}
	for _, del := range []struct {
		b []byte
		k []byte
	}{
		{idxLoanOpenItem, u64(old.ItemID)},
		{idxLoanOpenPatron, pair(old.PatronID, old.ID)},
		{idxLoanOpenDue, timeKey(old.Due, old.ID)},
	} {
		if err := t.b(del.b).Delete(del.k); err != nil {
			return err
		}
	}
	if err := t.b(idxLoanHistPatron).Put(pair(old.PatronID, old.ID), nil); err != nil {
		return err
	}
	l.Returned = at
	l.ReturnedAt = library
	return t.putLoan(l, &old)
}

// putLoan writes a loan; before is the loan as it was (nil for a new one).
func (t *Tx) putLoan(l *store.Loan, before *store.Loan) error {
	t.touch("loan", l.ID)
	if t.audit != nil {
		var was []byte
		if before != nil {
			var err error
			if was, err = json.Marshal(before); err != nil {
				return err
			}
		}
		if err := t.auditNote("loan", idKeyOf(l.ID), was, l, l.PatronID, ""); err != nil {
			return err
		}
	}
	return putRecord(t.b(bucketLoans), u64(l.ID), l)
}

// Loan returns a loan by id.
func (t *Tx) Loan(id uint64) (store.Loan, error) {
	var l store.Loan
	return l, getRecord(t.b(bucketLoans), u64(id), &l)
}

// OpenLoanOfItem returns the item's open loan, if any.
func (t *Tx) OpenLoanOfItem(itemID uint64) (store.Loan, bool, error) {
	v := t.b(idxLoanOpenItem).Get(u64(itemID))
	if v == nil {
		return store.Loan{}, false, nil
	}
	l, err := t.Loan(decodeU64(v))
	return l, err == nil, err
}

// OpenLoansOfPatron returns a patron's open loans in loan order.
func (t *Tx) OpenLoansOfPatron(patronID uint64) ([]store.Loan, error) {
	return t.loansByIndex(idxLoanOpenPatron, patronID)
}

// LoanHistoryOfPatron returns a patron's returned loans in loan order.
func (t *Tx) LoanHistoryOfPatron(patronID uint64) ([]store.Loan, error) {
	return t.loansByIndex(idxLoanHistPatron, patronID)
}

func (t *Tx) loansByIndex(idx []byte, patronID uint64) ([]store.Loan, error) {
	var ids []uint64
	scanPrefix(t.b(idx), patronID, func(id uint64) bool { ids = append(ids, id); return true })
	out := make([]store.Loan, 0, len(ids))
	for _, id := range ids {
		l, err := t.Loan(id)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// CountOpenLoansDueBefore counts the open loans due before t0 from the due
// index alone, without reading a loan.
func (t *Tx) CountOpenLoansDueBefore(t0 time.Time) int {
	c := t.b(idxLoanOpenDue).Cursor()
	end := timeKey(t0, 0)
	n := 0
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		n++
	}
	return n
}

// OpenLoansDueBefore calls fn for open loans due before t0, earliest first.
func (t *Tx) OpenLoansDueBefore(t0 time.Time, fn func(store.Loan) bool) error {
	c := t.b(idxLoanOpenDue).Cursor()
	end := timeKey(t0, 0)
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		l, err := t.Loan(pairSecond(k))
		if err != nil {
			return err
		}
		if !fn(l) {
			return nil
		}
	}
	return nil
}

// ---- requests ----

// PutRequest creates (ID 0) or replaces a request, keeping the open-queue
// indexes in step with its status.
func (t *Tx) PutRequest(r *store.Request) error {
	before, err := auditBefore(t, func() (store.Request, error) { return t.Request(r.ID) })
	if err != nil {
		return err
	}
	if r.ID == 0 {
		id, err := t.nextID(bucketRequests)
		if err != nil {
			return err
		}
		r.ID = id
	} else if old, err := t.Request(r.ID); err == nil {
		if err := t.b(idxReqOpenBib).Delete(pair(old.BibID, old.ID)); err != nil {
			return err
		}
		if err := t.b(idxReqOpenPatron).Delete(pair(old.PatronID, old.ID)); err != nil {
			return err
		}
		if old.ExternalID != "" {
			if err := t.b(idxReqExternal).Delete(stringKey(old.Partner, old.ExternalID)); err != nil {
				return err
			}
		}
	} else if err != store.ErrNotFound {
		return err
	}
	if r.Status.Open() {
		if err := t.b(idxReqOpenBib).Put(pair(r.BibID, r.ID), nil); err != nil {
			return err
		}
		if err := t.b(idxReqOpenPatron).Put(pair(r.PatronID, r.ID), nil); err != nil {
			return err
		}
	}
	if r.ExternalID != "" {
		k := stringKey(r.Partner, r.ExternalID)
		if owner := decodeU64(t.b(idxReqExternal).Get(k)); owner != 0 && owner != r.ID {
			return fmt.Errorf("%w: request id %s already used", store.ErrConflict, r.ExternalID)
		}
		if err := t.b(idxReqExternal).Put(k, u64(r.ID)); err != nil {
			return err
		}
	}
	t.touch("request", r.ID)
	if err := t.auditNote("request", idKeyOf(r.ID), before, r, r.PatronID, ""); err != nil {
		return err
	}
	return putRecord(t.b(bucketRequests), u64(r.ID), r)
}

// Request returns a request by id.
func (t *Tx) Request(id uint64) (store.Request, error) {
	var r store.Request
	return r, getRecord(t.b(bucketRequests), u64(id), &r)
}

// RequestByExternalID returns the request a partner knows by its own id.
func (t *Tx) RequestByExternalID(partner, externalID string) (store.Request, error) {
	id := decodeU64(t.b(idxReqExternal).Get(stringKey(partner, externalID)))
	if id == 0 {
		return store.Request{}, store.ErrNotFound
	}
	return t.Request(id)
}

// OpenRequestsOfBib returns the open requests on a bib in queue order.
func (t *Tx) OpenRequestsOfBib(bibID uint64) ([]store.Request, error) {
	return t.requestsByIndex(idxReqOpenBib, bibID)
}

// OpenRequestsOfPatron returns a patron's open requests in creation order.
func (t *Tx) OpenRequestsOfPatron(patronID uint64) ([]store.Request, error) {
	return t.requestsByIndex(idxReqOpenPatron, patronID)
}

func (t *Tx) requestsByIndex(idx []byte, owner uint64) ([]store.Request, error) {
	var ids []uint64
	scanPrefix(t.b(idx), owner, func(id uint64) bool { ids = append(ids, id); return true })
	out := make([]store.Request, 0, len(ids))
	for _, id := range ids {
		r, err := t.Request(id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// ForEachRequest calls fn for every request in id order until fn returns false.
func (t *Tx) ForEachRequest(fn func(store.Request) bool) error {
	c := t.b(bucketRequests).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var r store.Request
		if err := decodeRecord(v, &r); err != nil {
			return err
		}
		if !fn(r) {
			return nil
		}
	}
	return nil
}

// ---- fees ----

// PutFee creates (ID 0) or replaces a fee, indexing its external
// transaction ids so a repeated payment is recognised.
func (t *Tx) PutFee(f *store.Fee) error {
	if f.Balance < 0 || f.Balance > f.Amount {
		return fmt.Errorf("%w: fee balance %d outside 0..%d", store.ErrConflict, f.Balance, f.Amount)
	}
	before, err := auditBefore(t, func() (store.Fee, error) { return t.Fee(f.ID) })
	if err != nil {
		return err
	}
	if f.ID == 0 {
		id, err := t.nextID(bucketFees)
		if err != nil {
			return err
		}
		f.ID = id
	}
	for _, tr := range f.Transactions {
		if tr.ExternalID == "" {
			continue
		}
		if err := t.b(idxFeeTxn).Put([]byte(tr.ExternalID), u64(f.ID)); err != nil {
			return err
		}
	}
	if err := t.b(idxFeesPatron).Put(pair(f.PatronID, f.ID), nil); err != nil {
		return err
	}
	t.touch("fee", f.ID)
	if err := t.auditNote("fee", idKeyOf(f.ID), before, f, f.PatronID, ""); err != nil {
		return err
	}
	return putRecord(t.b(bucketFees), u64(f.ID), f)
}

// Fee returns a fee by id.
func (t *Tx) Fee(id uint64) (store.Fee, error) {
	var f store.Fee
	return f, getRecord(t.b(bucketFees), u64(id), &f)
}

// FeeByTransaction returns the fee that carries an external transaction id.
func (t *Tx) FeeByTransaction(txnID string) (store.Fee, error) {
	id := decodeU64(t.b(idxFeeTxn).Get([]byte(txnID)))
	if id == 0 {
		return store.Fee{}, store.ErrNotFound
	}
	return t.Fee(id)
}

// FeesOfPatron returns all of a patron's fees, oldest first.
func (t *Tx) FeesOfPatron(patronID uint64) ([]store.Fee, error) {
	var ids []uint64
	scanPrefix(t.b(idxFeesPatron), patronID, func(id uint64) bool { ids = append(ids, id); return true })
	out := make([]store.Fee, 0, len(ids))
	for _, id := range ids {
		f, err := t.Fee(id)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// ForEachFee calls fn for every fee in id order until fn returns false.
func (t *Tx) ForEachFee(fn func(store.Fee) bool) error {
	c := t.b(bucketFees).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var f store.Fee
		if err := decodeRecord(v, &f); err != nil {
			return err
		}
		if !fn(f) {
			return nil
		}
	}
	return nil
}

// ---- change journal ----

// Emit appends an event to the change journal in the same transaction as
// the change it describes, and returns its sequence number.
func (t *Tx) Emit(e store.Event) (uint64, error) {
	seq, err := t.nextID(bucketJournal)
	if err != nil {
		return 0, err
	}
	e.Seq = seq
	e.At = e.At.UTC()
	return seq, putRecord(t.b(bucketJournal), u64(seq), &e)
}

// JournalAfter calls fn for events with a sequence above after, in order,
// until fn returns false.
func (t *Tx) JournalAfter(after uint64, fn func(store.Event) bool) error {
	c := t.b(bucketJournal).Cursor()
	for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
		var e store.Event
		if err := decodeRecord(v, &e); err != nil {
			return err
		}
		if !fn(e) {
			return nil
		}
	}
	return nil
}

// JournalStart returns the sequence number just before the first event
// at or after t0, walking back from the newest event, so it reads only the
// events since t0 (a day's worth for the status page's daily counts).
func (t *Tx) JournalStart(t0 time.Time) (uint64, error) {
	c := t.b(bucketJournal).Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		var e store.Event
		if err := decodeRecord(v, &e); err != nil {
			return 0, err
		}
		if e.At.Before(t0) {
			return decodeU64(k), nil
		}
	}
	return 0, nil
}

// JournalHead is the sequence number of the latest event.
func (t *Tx) JournalHead() uint64 { return t.b(bucketJournal).Sequence() }

// ---- idempotency journal ----

// Remembered returns the stored entry for a request key.
func (t *Tx) Remembered(key string) (store.IdemEntry, bool, error) {
	var e store.IdemEntry
	err := getRecord(t.b(bucketIdem), []byte(key), &e)
	if err == store.ErrNotFound {
		return e, false, nil
	}
	return e, err == nil, err
}

// Remember stores the entry of a request under its key, replacing any.
func (t *Tx) Remember(key string, e store.IdemEntry) error {
	e.At, e.Until = e.At.UTC(), e.Until.UTC()
	return putRecord(t.b(bucketIdem), []byte(key), &e)
}

// Forget drops the entry of a request key, if there is one.
func (t *Tx) Forget(key string) error {
	if t.b(bucketIdem).Get([]byte(key)) == nil {
		return nil
	}
	return t.b(bucketIdem).Delete([]byte(key))
}

// ChangedSince reports whether a journal event after head names one of
// refs. It reads forward and stops at the first such event; only a
// repeated request within its retry window asks, so the walk is bounded by
// the events of that window. It relies on every change of a record being
// journalled with an event naming it (circ's tests check that).
func (t *Tx) ChangedSince(head uint64, refs []store.Ref) (bool, error) {
	c := t.b(bucketJournal).Cursor()
	for k, v := c.Seek(u64(head + 1)); k != nil; k, v = c.Next() {
		// Only the refs are read, in place and without copying: the value
		// is not kept past this iteration (Event's layout, encoding.go).
		d := recordDecoder{s: unsafe.String(unsafe.SliceData(v), len(v))}
		d.uint()
		d.time()
		d.str()
		for range d.count(2) {
			kind, id := d.str(), d.uint()
			for _, w := range refs {
				if w.ID == id && w.Kind == kind {
					return true, nil
				}
			}
		}
		if d.bad {
			return false, fmt.Errorf("store: decode journal event %x: %w", k, errRecordLayout)
		}
	}
	return false, nil
}

// ForgetBefore drops the entries whose retry window ended before cutoff
// and reports how many went. Entries kept for good (payment ids) stay.
func (t *Tx) ForgetBefore(cutoff time.Time) (int, error) {
	var stale [][]byte
	err := t.b(bucketIdem).ForEach(func(k, v []byte) error {
		var e store.IdemEntry
		if decodeRecord(v, &e) == nil && !e.Until.IsZero() && e.Until.Before(cutoff) {
			stale = append(stale, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range stale {
		if err := t.b(bucketIdem).Delete(k); err != nil {
			return 0, err
		}
	}
	return len(stale), nil
}

// ---- patron PIN failures ----

// PINFailures returns a patron's failure run; none is the zero value.
func (t *Tx) PINFailures(patronID uint64) (store.PINFailures, error) {
	var f store.PINFailures
	err := getJSON(t.b(bucketPINFails), u64(patronID), &f)
	if err == store.ErrNotFound {
		err = nil
	}
	return f, err
}

// PutPINFailures stores a patron's failure run; a zero count deletes it.
func (t *Tx) PutPINFailures(patronID uint64, f store.PINFailures) error {
	if t.audit != nil {
		var after any
		if f.Count != 0 {
			after = f
		}
		if err := t.auditNote("pin failures", idKeyOf(patronID), bytes.Clone(t.b(bucketPINFails).Get(u64(patronID))), after, patronID, ""); err != nil {
			return err
		}
	}
	if f.Count == 0 {
		return t.b(bucketPINFails).Delete(u64(patronID))
	}
	f.Last, f.LockedUntil = f.Last.UTC(), f.LockedUntil.UTC()
	return putJSON(t.b(bucketPINFails), u64(patronID), &f)
}

// ---- profiles ----

// PutProfile stores a profile document of a type under its code.
func (t *Tx) PutProfile(typ, code string, doc []byte) error {
	if err := t.auditProfile(typ, code, json.RawMessage(doc)); err != nil {
		return err
	}
	return t.b(bucketProfiles).Put(stringKey(typ, code), doc)
}

// Profile returns a profile document.
func (t *Tx) Profile(typ, code string) ([]byte, error) {
	v := t.b(bucketProfiles).Get(stringKey(typ, code))
	if v == nil {
		return nil, store.ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

// DeleteProfile removes a profile.
func (t *Tx) DeleteProfile(typ, code string) error {
	if t.b(bucketProfiles).Get(stringKey(typ, code)) == nil {
		return store.ErrNotFound
	}
	if err := t.auditProfile(typ, code, nil); err != nil {
		return err
	}
	return t.b(bucketProfiles).Delete(stringKey(typ, code))
}

// auditProfile notes a profile's document replaced by doc (nil: removed).
func (t *Tx) auditProfile(typ, code string, doc any) error {
	if t.audit == nil {
		return nil
	}
	before := bytes.Clone(t.b(bucketProfiles).Get(stringKey(typ, code)))
	return t.auditNote("profile", typ+" "+code, before, doc, 0, code)
}

// Profiles calls fn for every profile of a type in code order.
func (t *Tx) Profiles(typ string, fn func(code string, doc []byte) error) error {
	prefix := stringKey(typ, "")
	c := t.b(bucketProfiles).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(string(k[len(prefix):]), append([]byte(nil), v...)); err != nil {
			return err
		}
	}
	return nil
}

// ForEachProfile calls fn with every profile of every type, in type and
// code order.
func (t *Tx) ForEachProfile(fn func(typ, code string, doc []byte) error) error {
	c := t.b(bucketProfiles).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		typ, code, _ := bytes.Cut(k, []byte{0})
		if err := fn(string(typ), string(code), append([]byte(nil), v...)); err != nil {
			return err
		}
	}
	return nil
}

// ---- remote-storage state history ----

// AddStorageState appends to an item's remote-storage history.
func (t *Tx) AddStorageState(s store.StorageState) error {
	seq, err := t.nextID(bucketStorage)
	if err != nil {
		return err
	}
	return putJSON(t.b(bucketStorage), pair(s.ItemID, seq), &s)
}

// StorageHistory returns an item's remote-storage history, oldest first.
func (t *Tx) StorageHistory(itemID uint64) ([]store.StorageState, error) {
	var out []store.StorageState
	p := u64(itemID)
	c := t.b(bucketStorage).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var s store.StorageState
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ForEachBib calls fn for every bibliographic record in id order until fn
// returns false.
func (t *Tx) ForEachBib(fn func(store.Bib) bool) error {
	c := t.b(bucketBibs).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var b store.Bib
		if err := decodeRecord(v, &b); err != nil {
			return err
		}
		if st := t.b(bucketBibStamp).Get(k); st != nil {
			b.Changed = time.Unix(0, int64(decodeU64(st))).UTC()
		}
		if !fn(b) {
			return nil
		}
	}
	return nil
}
