package publishing

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
)

// TestPublishSSHD publishes a profile to Debian's OpenSSH sshd: a first
// load, then an incremental run after a record leaves the selection and
// another changes, each file named and packed as Alma's and read back the
// way a job written for Alma reads it.
func TestPublishSSHD(t *testing.T) {
	o := sftptest.StartOpenSSH(t)
	drop := filepath.Join(o.Dir, "alma")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, demoFile(t))
	prof := Profile{Code: "incremental_recap", Selection: Selection{Libraries: []string{fixtures.LibraryBranch}},
		Format: FormatMARCXMLTarGz, Holdings: true, Items: true, NoManifest: true,
		Target: &delivery.Target{Kind: delivery.KindSFTP, Host: o.Host, Port: o.Port, User: o.User,
			PrivateKey: string(o.ClientKeyPEM), KnownHosts: o.KnownHosts, RemoteDir: drop}}
	if err := SaveProfiles(ctx, db, prof); err != nil {
		t.Fatal(err)
	}
	c := newClock(seedNow.Add(time.Hour))
	p := newPublisher(t, db, t.TempDir(), c)
	full, err := p.Full(ctx, prof.Code)
	if err != nil {
		t.Fatal(err)
	}
	alma := readAlmaFiles(t, delivered(t, drop))
	first, ok := alma[full.Files[0]]
	if len(alma) != 1 || !ok || first.Profile != prof.Code || first.Job != "1" || first.Part != PartNew || len(first.Records) != full.Records {
		t.Fatalf("after the full run the consumer reads %+v", alma)
	}
	for _, r := range first.Records {
		if !slices.ContainsFunc(r.Fields("852"), func(f circ.DataField) bool { return f.Value("b") == fixtures.LibraryBranch }) ||
			len(r.Fields("876")) == 0 {
			t.Fatalf("record %s without its BRANCH holdings and items", r.ControlValue("001"))
		}
	}

	c.add(time.Hour)
	svc := service(t, db, c)
	left := itemOf(t, db, fixtures.ItemBranch)
	if _, err := svc.MoveItem(ctx, staff, fixtures.ItemBranch, "MAIN-STACKS", ""); err != nil {
		t.Fatal(err)
	}
	shelveNewRecord(t, svc, "pub000000009", "Shelved at the branch", "39999000000009", "BRANCH-STACKS", "BOOK")
	c.add(time.Hour)
	inc, err := p.Incremental(ctx, prof.Code)
	if err != nil {
		t.Fatal(err)
	}
	alma = readAlmaFiles(t, delivered(t, drop))
	if len(alma) != 3 || len(inc.Files) != 2 {
		t.Fatalf("after the incremental run the consumer reads %d files (%v)", len(alma), inc.Files)
	}
	add, del := alma[inc.Files[0]], alma[inc.Files[1]]
	if add.Part != PartNew || add.Job != "2" || len(add.Records) != 1 || add.Records[0].ControlValue("001") != "pub000000009" ||
		len(add.Records[0].Fields("876")) != 1 || add.Records[0].Fields("876")[0].Value("p") != "39999000000009" {
		t.Errorf("the _new file: %+v", add)
	}
	if del.Part != PartDelete || del.Job != "2" || len(del.Records) != 1 || del.Records[0].Leader[5] != 'd' ||
		del.Records[0].ControlValue("001") != bibControl(t, db, left.BibID) {
		t.Errorf("the _delete file: %+v", del)
	}
}
