package boltstore_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/publishing"
	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

// TestAuditMasksEverySecretCarryingRecord writes each record type that
// holds a secret (or its hash) twice through an audited operation, the
// secret changed, and finds neither version anywhere in the trail.
func TestAuditMasksEverySecretCarryingRecord(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.DefaultFile), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := store.WithAudit(context.Background(), store.AuditScope{Actor: store.Actor{User: "ops", UID: "1000", Via: store.ViaCommandLine}, Command: "circa profile edit"})
	pem := func(n string) string {
		return "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA" + n + "\n-----END OPENSSH PRIVATE KEY-----\n"
	}
	// Each version gives every secret field a distinct, recognisable value.
	versions := func(v string) map[string]any {
		target := delivery.Target{Kind: delivery.KindSFTP, Host: "sftp.example.org", User: "circa", PrivateKey: pem(v), KnownHosts: "sftp.example.org ssh-ed25519 AAAA"}
		auth := profiles.NCIPAuth{APIKeyHash: "apikeyhash-" + v, SharedSecretHash: "sharedsecrethash-" + v}
		return map[string]any{
			profiles.TypeSelfCheck + " K1": &profiles.SelfCheck{Code: "K1", Login: "kiosk", PasswordHash: "passwordhash-" + v, Library: "MAIN"},
			profiles.TypeNCIP + " P1":      &profiles.NCIPPartner{Code: "P1", Auth: auth, Library: "MAIN"},
			profiles.TypeStorage + " S1":   &profiles.Storage{Code: "S1", Auth: auth, Library: "MAIN", Online: &profiles.StorageOnline{URL: "https://f.example.org/ncip", APIKeyFile: "/etc/circa/s1.key"}},
			"bursar B1":                    &profiles.Exchange{Code: "B1", Type: "bursar", Library: "MAIN", Target: target},
			publishing.ProfileType + " O1": &publishing.Profile{Code: "O1", Target: &target},
		}
	}
	secrets := []string{"passwordhash-", "apikeyhash-", "sharedsecrethash-", "b3BlbnNzaC1rZXktdjEAAAA", "pinhash-", "staffhash-"}
	now := time.Now().UTC()
	for _, v := range []string{"one", "two"} {
		err := db.Update(ctx, func(tx store.Tx) error {
			for key, p := range versions(v) {
				doc, err := json.Marshal(p)
				if err != nil {
					return err
				}
				typ, code, _ := strings.Cut(key, " ")
				if err := tx.PutProfile(typ, code, doc); err != nil {
					return err
				}
			}
			p, err := tx.PatronByBarcode("P1")
			if err != nil {
				p = store.Patron{Barcode: "P1", LastName: "Doe"}
			}
			p.PINHash = "pinhash-" + v
			if err := tx.PutPatron(&p, now); err != nil {
				return err
			}
			return tx.PutStaff(&store.StaffAccount{Name: "rosa", PasswordHash: "staffhash-" + v, Created: now})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	kinds := map[string]int{}
	err = db.View(context.Background(), func(tx store.Tx) error {
		return tx.ForEachAudit(store.AuditFilter{}, func(e store.AuditEntry) bool {
			kinds[e.Kind+" "+e.Key]++
			raw, _ := json.Marshal(e)
			for _, s := range secrets {
				if strings.Contains(string(raw), s) {
					t.Errorf("%s %s carries a secret (%s…): %s", e.Kind, e.Key, s, raw)
				}
			}
			if e.Before != nil && !strings.Contains(string(e.After), store.MaskedChanged) {
				t.Errorf("%s %s: the change of its secret is not marked: %s", e.Kind, e.Key, e.After)
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range versions("x") {
		if kinds["profile "+key] != 2 {
			t.Errorf("profile %s: %d entries, want 2", key, kinds["profile "+key])
		}
	}
	if kinds["patron P1"] != 2 || kinds["staff rosa"] != 2 {
		t.Errorf("patron: %d entries, staff: %d, want 2 each", kinds["patron P1"], kinds["staff rosa"])
	}
}
