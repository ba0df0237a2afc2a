package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The audit trail records every change staff make through the command line
// or the admin socket: who, when, which command, and each record it changed
// as it was before and after, with secrets masked. A write is audited when
// its context carries an AuditScope (WithAudit); kiosk and NCIP traffic
// carries none and is covered by the loans journal instead.

// Actor is the operating-system user who made a change.
type Actor struct {
	User string `json:"user"`
	UID  string `json:"uid"`
	// Via is how the command reached the store: ViaCommandLine or ViaAdminSocket.
	Via string `json:"via"`
}

// How a change reached the store.
const (
	ViaCommandLine = "command line"
	ViaAdminSocket = "admin socket"
)

func (a Actor) String() string {
	if a.User == "" {
		return "uid " + a.UID
	}
	return a.User
}

// AuditScope says who is changing the store and with which command.
type AuditScope struct {
	Actor   Actor
	Command string // the command path, without arguments
	// Summary turns the per-record trail off: a bulk command (an import,
	// a file-exchange run) records one entry of its own with its counts.
	Summary bool
}

type auditScopeKey struct{}

// WithAudit makes the writes made under ctx audited.
func WithAudit(ctx context.Context, s AuditScope) context.Context {
	return context.WithValue(ctx, auditScopeKey{}, s)
}

// AuditScopeOf returns the scope ctx carries, if any.
func AuditScopeOf(ctx context.Context) (AuditScope, bool) {
	s, ok := ctx.Value(auditScopeKey{}).(AuditScope)
	return s, ok
}

// AuditEntry is one change in the trail.
type AuditEntry struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Actor   Actor     `json:"actor"`
	Command string    `json:"command"`
	// Kind is the kind of record changed (patron, fee, profile, rules …) or
	// of bulk run (import, exchange run).
	Kind string `json:"kind"`
	// Key names the record: a code, a barcode, an id.
	Key string `json:"key"`
	// Patron is the barcode of the patron the change concerns, if any.
	Patron string `json:"patron,omitempty"`
	// Profile is the code of the profile the change concerns, if any.
	Profile string `json:"profile,omitempty"`
	// Before and After are the record as JSON with secrets masked; Before
	// is absent for a record created, After for one removed.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// Summary marks an entry a command recorded of its own (RecordAudit):
	// After holds a run's counts or what was made outside the store.
	Summary bool `json:"summary,omitempty"`
}

// DefaultAuditRetention is how long entries are kept unless set otherwise.
const DefaultAuditRetention = 400 * 24 * time.Hour

// auditPruneOnWrite is how many expired entries an audited operation
// removes along with its own: a trail written to keeps itself trimmed, and
// no operation ever carries a large prune.
const auditPruneOnWrite = 16

// AuditPruneBatch is how many expired entries one transaction of
// PruneAudit removes.
const AuditPruneBatch = 256

var keyAuditRetention = []byte("audit_retention")

// auditOp collects one operation's changes, each record once with its first
// before and last after, until the operation's function returns.
type auditOp struct {
	scope   AuditScope
	changes []*auditChange
}

type auditChange struct {
	kind, key, patron, profile string
	before, after              []byte // unmasked JSON; nil when absent
}

// auditBefore reads a record as it is before a write, when the transaction
// is audited; nil when it is not or the record does not exist.
func auditBefore[T any](t *Tx, read func() (T, error)) ([]byte, error) {
	if t.audit == nil {
		return nil, nil
	}
	v, err := read()
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// auditNote records a write of kind/key: before as auditBefore read it,
// after the record as written (nil for a removal). patronID, when not 0,
// names the patron the record belongs to.
func (t *Tx) auditNote(kind, key string, before []byte, after any, patronID uint64, profile string) error {
	if t.audit == nil {
		return nil
	}
	var a []byte
	if after != nil {
		var err error
		if a, err = json.Marshal(after); err != nil {
			return fmt.Errorf("store: audit %s %s: %w", kind, key, err)
		}
	}
	patron := ""
	if patronID != 0 {
		if p, err := t.Patron(patronID); err == nil {
			patron = p.Barcode
		}
	}
	if kind == "patron" {
		patron = key
	}
	for _, c := range t.audit.changes {
		if c.kind == kind && c.key == key {
			c.after = a
			return nil
		}
	}
	t.audit.changes = append(t.audit.changes, &auditChange{kind: kind, key: key, patron: patron, profile: profile, before: before, after: a})
	return nil
}

// flushAudit writes the changes the operation noted as entries, leaving
// out writes that changed nothing, and trims a few expired entries.
func (t *Tx) flushAudit(now time.Time) error {
	op := t.audit
	t.audit = nil
	if op == nil || len(op.changes) == 0 {
		return nil
	}
	wrote := false
	for _, c := range op.changes {
		before, after, err := maskedPair(c.before, c.after)
		if err != nil {
			return fmt.Errorf("store: audit %s %s: %w", c.kind, c.key, err)
		}
		if bytes.Equal(before, after) {
			continue
		}
		e := AuditEntry{At: now, Actor: op.scope.Actor, Command: op.scope.Command, Kind: c.kind, Key: c.key,
			Patron: c.patron, Profile: c.profile, Before: before, After: after}
		if err := t.putAudit(&e); err != nil {
			return err
		}
		wrote = true
	}
	if !wrote {
		return nil
	}
	_, err := t.pruneAudit(now.Add(-t.AuditRetention()), auditPruneOnWrite)
	return err
}

// putAudit stores an entry under its time and the trail's next sequence.
func (t *Tx) putAudit(e *AuditEntry) error {
	b := t.b(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq, e.At = seq, e.At.UTC()
	return putJSON(b, timeKey(e.At, seq), e)
}

// RecordAudit records one entry of its own in the scope ctx carries: a bulk
// run (an import, a file-exchange run) with its counts, or a change made
// outside the store (a certificate issued). what becomes the entry's After.
// Without a scope it records nothing.
func (db *DB) RecordAudit(ctx context.Context, kind, key, profile string, what any) error {
	scope, ok := AuditScopeOf(ctx)
	if !ok {
		return nil
	}
	after, err := json.Marshal(what)
	if err != nil {
		return err
	}
	if _, after, err = maskedPair(nil, after); err != nil {
		return err
	}
	// The entry is this operation's own record: no per-record trail.
	scope.Summary = true
	return db.Update(WithAudit(ctx, scope), func(tx *Tx) error {
		return tx.putAudit(&AuditEntry{At: time.Now(), Actor: scope.Actor, Command: scope.Command, Kind: kind, Key: key,
			Profile: profile, After: after, Summary: true})
	})
}

// AuditFilter selects entries for ForEachAudit; zero fields select all.
type AuditFilter struct {
	Since, Until time.Time // Until is exclusive
	Patron       string    // a patron's barcode
	Profile      string    // a profile's code
	Kind         string
}

// ForEachAudit calls fn with the entries the filter selects, oldest first,
// until fn returns false.
func (t *Tx) ForEachAudit(f AuditFilter, fn func(AuditEntry) bool) error {
	c := t.b(bucketAudit).Cursor()
	k, v := c.First()
	if !f.Since.IsZero() {
		k, v = c.Seek(timeKey(f.Since, 0))
	}
	patron := NormalizeBarcode(f.Patron)
	for ; k != nil; k, v = c.Next() {
		if !f.Until.IsZero() && int64(binary.BigEndian.Uint64(k)) >= f.Until.UnixNano() {
			return nil
		}
		var e AuditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("store: audit entry %x: %w", k, err)
		}
		if (patron != "" && NormalizeBarcode(e.Patron) != patron) || (f.Profile != "" && e.Profile != f.Profile) ||
			(f.Kind != "" && e.Kind != f.Kind) {
			continue
		}
		if !fn(e) {
			return nil
		}
	}
	return nil
}

// AuditRetention is how long entries are kept.
func (t *Tx) AuditRetention() time.Duration {
	if v := t.b(bucketMeta).Get(keyAuditRetention); len(v) == 8 {
		return time.Duration(decodeU64(v))
	}
	return DefaultAuditRetention
}

// SetAuditRetention sets how long entries are kept (at least a day).
func (t *Tx) SetAuditRetention(d time.Duration) error {
	if d < 24*time.Hour {
		return fmt.Errorf("%w: audit retention %s is less than a day", ErrConflict, d)
	}
	before, err := json.Marshal(FormatRetention(t.AuditRetention()))
	if err != nil {
		return err
	}
	if err := t.auditNote("setting", "audit retention", before, FormatRetention(d), 0, ""); err != nil {
		return err
	}
	return t.b(bucketMeta).Put(keyAuditRetention, u64(uint64(d)))
}

// FormatRetention writes a retention period in days (400d) when it is a
// whole number of them.
func FormatRetention(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// pruneAudit removes up to limit entries older than cutoff, oldest first.
func (t *Tx) pruneAudit(cutoff time.Time, limit int) (int, error) {
	b := t.b(bucketAudit)
	end := cutoff.UnixNano()
	var expired [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(expired) < limit && int64(binary.BigEndian.Uint64(k)) < end; k, _ = c.Next() {
		expired = append(expired, append([]byte(nil), k...))
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(expired), nil
}

// PruneAudit removes the entries older than the retention period before
// now, AuditPruneBatch per transaction so that no commit the kiosks wait
// on carries a large prune. It returns how many it removed.
func (db *DB) PruneAudit(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := db.Update(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.pruneAudit(now.Add(-tx.AuditRetention()), AuditPruneBatch)
			return err
		})
		total += n
		if err != nil || n < AuditPruneBatch {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// ---- masking ----

// Masked marks a secret in an audit entry; MaskedChanged marks one the
// change replaced. Neither the secret nor its hash is ever recorded.
const (
	Masked        = "(secret)"
	MaskedChanged = "(secret, changed)"
)

// secretWords are the words of a field name that make its value secret.
var secretWords = map[string]bool{"pin": true, "password": true, "passwd": true, "passphrase": true, "secret": true,
	"token": true, "key": true, "keys": true, "credential": true, "credentials": true, "privatekey": true, "apikey": true}

// IsSecretField says whether a field of this name holds a secret: a PIN, a
// password, a key or a shared secret, or a hash of one. A field naming a
// file or path holds where a secret is, not the secret.
func IsSecretField(name string) bool {
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '_' || r == '-' || r == ' ' || r == '.' })
	if len(words) == 0 {
		return false
	}
	if last := words[len(words)-1]; last == "file" || last == "path" {
		return false
	}
	for _, w := range words {
		if secretWords[w] {
			return true
		}
	}
	return false
}

// maskedPair masks the secrets of a record's before and after JSON, marking
// those the change replaced, and returns them re-encoded (nil stays nil).
func maskedPair(before, after []byte) ([]byte, []byte, error) {
	var b, a any
	if before != nil {
		if err := json.Unmarshal(before, &b); err != nil {
			return nil, nil, err
		}
	}
	if after != nil {
		if err := json.Unmarshal(after, &a); err != nil {
			return nil, nil, err
		}
	}
	b, a = maskValues(b, a)
	var err error
	var mb, ma []byte
	if before != nil {
		if mb, err = json.Marshal(b); err != nil {
			return nil, nil, err
		}
	}
	if after != nil {
		if ma, err = json.Marshal(a); err != nil {
			return nil, nil, err
		}
	}
	return mb, ma, nil
}

// maskValues walks two versions of a decoded JSON value together and
// replaces each secret field's value.
func maskValues(b, a any) (any, any) {
	bm, bIsMap := b.(map[string]any)
	am, aIsMap := a.(map[string]any)
	bl, bIsList := b.([]any)
	al, aIsList := a.([]any)
	if b != nil && a != nil && (bIsMap != aIsMap || bIsList != aIsList) {
		// Of different shapes, each is masked on its own.
		nb, _ := maskValues(b, nil)
		_, na := maskValues(nil, a)
		return nb, na
	}
	if bIsMap || aIsMap {
		keys := map[string]bool{}
		for k := range bm {
			keys[k] = true
		}
		for k := range am {
			keys[k] = true
		}
		for k := range keys {
			bv, bok := bm[k]
			av, aok := am[k]
			nb, na := bv, av
			if IsSecretField(k) && (isSecretValue(bv) || isSecretValue(av)) {
				nb, na = maskOf(bv, nil, false), maskOf(av, bv, bIsMap)
			} else {
				nb, na = maskValues(bv, av)
			}
			if bok {
				bm[k] = nb
			}
			if aok {
				am[k] = na
			}
		}
		return b, a
	}
	if !bIsList && !aIsList {
		return clipped(b), clipped(a)
	}
	for i := range max(len(bl), len(al)) {
		var bv, av any
		if i < len(bl) {
			bv = bl[i]
		}
		if i < len(al) {
			av = al[i]
		}
		nb, na := maskValues(bv, av)
		if i < len(bl) {
			bl[i] = nb
		}
		if i < len(al) {
			al[i] = na
		}
	}
	return b, a
}

// auditValueLimit bounds one value in an entry: a file's content (an
// outbox file handed to another profile) is summarised, not copied.
const auditValueLimit = 4096

func clipped(v any) any {
	if s, ok := v.(string); ok && len(s) > auditValueLimit {
		return fmt.Sprintf("(%d characters left out)", len(s))
	}
	return v
}

// isSecretValue: a flag (require_pin: true) or a number names a setting
// about a secret, not the secret.
func isSecretValue(v any) bool {
	switch v.(type) {
	case bool, float64, nil:
		return false
	}
	return true
}

// maskOf is what a secret's value is recorded as: empty stays empty (so
// "no PIN" still shows), anything else is Masked, or MaskedChanged when
// compared with the record's earlier version it differs.
func maskOf(v, before any, compare bool) any {
	if s, ok := v.(string); ok && s == "" {
		return ""
	}
	if compare && !reflect.DeepEqual(v, before) {
		return MaskedChanged
	}
	return Masked
}

// ---- keys the trail names records by ----

func idKeyOf(id uint64) string { return strconv.FormatUint(id, 10) }
