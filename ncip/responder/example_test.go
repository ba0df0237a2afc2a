package responder_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/ncip/responder"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store/boltstore"
)

// The wiring a server does: a circ.Service and the profile registry over
// one store, the responder over both, and the NCIP handler on /ncip and
// /ncip/{token}.
func Example() {
	dir, _ := os.MkdirTemp("", "responder-example-")
	defer os.RemoveAll(dir)
	seeded, _ := fixtures.SeedTemplate(dir, time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC))
	path := filepath.Join(dir, boltstore.DefaultFile)
	_ = fixtures.CopyFile(seeded, path)
	db, _ := boltstore.Open(path, boltstore.Options{})
	defer db.Close()
	reg, _ := profiles.Open(context.Background(), db)
	_ = fixtures.SeedProfiles(context.Background(), reg)
	svc, _ := circ.New(db)

	h := ncip.NewHandler(responder.New(svc, reg.Current), ncip.HandlerOptions{})
	mux := http.NewServeMux()
	mux.Handle("/ncip", h)
	mux.Handle("/ncip/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client := &ncip.Client{URL: srv.URL + "/ncip/" + fixtures.PartnerKey}
	req, _ := ncip.BuildRequest("LookupUser", []string{"from=" + fixtures.PartnerAgency, "user=" + fixtures.PatronGood})
	res, _ := client.Do(context.Background(), req)
	fmt.Println(res.Status, res.Response.Service, res.Response.UserID.Value)
	req, _ = ncip.BuildRequest("LookupUser", []string{"from=" + fixtures.PartnerAgency, "user=NOBODY"})
	res, _ = client.Do(context.Background(), req)
	fmt.Println(res.Status, res.Problem.Type.Value)
	// Output:
	// 200 LookupUser 21000000000001
	// 200 Unknown User
}
