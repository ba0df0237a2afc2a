package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

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

// AuditPruneBatch is how many expired entries one transaction of
// PruneAudit removes.
const AuditPruneBatch = 256

// AuditFilter selects entries for ForEachAudit; zero fields select all.
type AuditFilter struct {
	Since, Until time.Time // Until is exclusive
	Patron       string    // a patron's barcode
	Profile      string    // a profile's code
	Kind         string
}

// FormatRetention writes a retention period in days (400d) when it is a
// whole number of them.
func FormatRetention(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

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
func MaskAuditPair(before, after []byte) ([]byte, []byte, error) {
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
