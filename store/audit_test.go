package store

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestIsSecretField(t *testing.T) {
	for name, want := range map[string]bool{
		"pin_hash": true, "password_hash": true, "api_key_hash": true, "shared_secret_hash": true, "private_key": true,
		"password": true, "sftp_password": true, "passphrase": true, "token": true, "pin": true,
		"api_key_file": false, "client_key_file": false, "require_pin": true, "known_hosts": false, "barcode": false,
		"pinned": false, "last_name": false, "keyboard": false,
	} {
		if got := IsSecretField(name); got != want {
			t.Errorf("IsSecretField(%q) = %v, want %v", name, got, want)
		}
	}
	// A long value (a file's content) is summarised.
	long := strings.Repeat("x", auditValueLimit+1)
	if _, a, err := MaskAuditPair(nil, []byte(`{"content":"`+long+`","name":"f"}`)); err != nil ||
		string(a) != `{"content":"(4097 characters left out)","name":"f"}` {
		t.Errorf("long value: %.100s %v", a, err)
	}
	// require_pin names a secret but holds a flag: kept.
	b, a, err := MaskAuditPair([]byte(`{"require_pin":true,"x":{"pin":"1234"}}`), []byte(`{"require_pin":false,"x":{"pin":"1234"}}`))
	if err != nil || string(b) != `{"require_pin":true,"x":{"pin":"(secret)"}}` || string(a) != `{"require_pin":false,"x":{"pin":"(secret)"}}` {
		t.Errorf("masked: %s %s %v", b, a, err)
	}
}

// FuzzMaskedPair: whatever two versions of a record hold, no string under a
// secret field survives masking, and masking never fails on valid JSON.
func FuzzMaskedPair(f *testing.F) {
	f.Add(`{"pin_hash":"$argon2id$x","a":[{"password":"p"}]}`, `{"pin_hash":"$argon2id$y","a":[]}`)
	f.Add(`{"auth":{"api_key_hash":"k","shared_secret_hash":""}}`, `null`)
	f.Add(`[1,"x",{"private_key":{"pem":"-----BEGIN"}}]`, `{"require_pin":true}`)
	f.Fuzz(func(t *testing.T, before, after string) {
		if !json.Valid([]byte(before)) || !json.Valid([]byte(after)) {
			return
		}
		b, a, err := MaskAuditPair([]byte(before), []byte(after))
		if err != nil {
			t.Fatalf("masking valid JSON: %v", err)
		}
		for _, out := range [][]byte{b, a} {
			var v any
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("masked output is not JSON: %s", out)
			}
			assertNoSecret(t, v)
		}
	})
}

func assertNoSecret(t *testing.T, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && IsSecretField(k) && s != "" && s != Masked && s != MaskedChanged {
				t.Fatalf("secret field %q kept %q", k, s)
			}
			if IsSecretField(k) && isSecretValue(e) {
				if _, ok := e.(string); !ok {
					t.Fatalf("secret field %q kept %v", k, e)
				}
			}
			assertNoSecret(t, e)
		}
	case []any:
		for _, e := range x {
			assertNoSecret(t, e)
		}
	}
}
