package boltstore

import (
	"bytes"
	"strings"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
)

// Searches by name, title or call number have no index to use: they read
// every record. Decoding is most of that cost, so the scans below first
// look for the searched text in the stored bytes, where a record's strings
// lie as they are, and decode only the records that hold it.

// ForEachPatronHolding calls fn, in id order until it returns false, for
// every patron whose stored record holds text with ASCII letters in either
// case: at least every patron with a field that contains text. The caller
// still matches the fields; text is best its longest ASCII word.
func (t *Tx) ForEachPatronHolding(text string, fn func(store.Patron) bool) error {
	return scanHolding(t.b(bucketPatrons), text, fn)
}

// ForEachBibHolding is ForEachPatronHolding for bibliographic records;
// their MARCXML, stored apart, is not read, and Changed is left zero.
func (t *Tx) ForEachBibHolding(text string, fn func(store.Bib) bool) error {
	return scanHolding(t.b(bucketBibs), text, fn)
}

// ForEachItemHolding is ForEachPatronHolding for items.
func (t *Tx) ForEachItemHolding(text string, fn func(store.Item) bool) error {
	return scanHolding(t.b(bucketItems), text, fn)
}

func scanHolding[T any](b *bolt.Bucket, text string, fn func(T) bool) error {
	lower := []byte(strings.ToLower(text))
	holds := containsFoldASCII
	if !bytes.ContainsFunc(lower, func(r rune) bool { return 'a' <= r && r <= 'z' }) {
		// Nothing to fold (a barcode, a date): the plain search is faster.
		holds = bytes.Contains
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if !holds(v, lower) {
			continue
		}
		r := new(T)
		if err := decodeRecord(v, r); err != nil {
			return err
		}
		if !fn(*r) {
			return nil
		}
	}
	return nil
}

// containsFoldASCII reports whether s holds lower (lower-case) with ASCII
// letters in either case. Bytes outside ASCII compare as they are, so a
// text with letters beyond ASCII may miss another case of them.
func containsFoldASCII(s, lower []byte) bool {
	if len(lower) == 0 {
		return true
	}
	first, upper := lower[0], lower[0]
	if 'a' <= first && first <= 'z' {
		upper -= 'a' - 'A'
	}
	last := len(s) - len(lower)
	for i := 0; i <= last; i++ {
		// The next place either case of the first byte starts.
		rest := s[i : last+1]
		j := bytes.IndexByte(rest, first)
		if upper != first {
			if u := bytes.IndexByte(rest, upper); u >= 0 && (j < 0 || u < j) {
				j = u
			}
		}
		if j < 0 {
			return false
		}
		i += j
		if equalFoldASCII(s[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

func equalFoldASCII(s, lower []byte) bool {
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
