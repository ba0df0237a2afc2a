package selfcheck_test

import (
	"context"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/sip2/selfcheck"
	"github.com/circa-ils/circa/store/boltstore"
)

// Example wires the self-check handler into a SIP2 server: the same
// circ.Service and profile registry the rest of the server uses, and the
// library's zone for the dates the server writes.
func Example() {
	db, err := boltstore.Open("circa.db", boltstore.Options{})
	if err != nil {
		return
	}
	defer db.Close()
	svc, err := circ.New(db)
	if err != nil {
		return
	}
	reg, err := profiles.Open(context.Background(), db)
	if err != nil {
		return
	}
	log := zerolog.Nop()
	h, err := selfcheck.NewHandler(selfcheck.Options{Service: svc, Profiles: reg, Logger: log})
	if err != nil {
		return
	}
	zone, _ := time.LoadLocation("America/New_York")
	srv := sip2.NewServer(&sip2.Options{Handler: h, Logger: log, Location: zone})
	ln, err := net.Listen("tcp", "127.0.0.1:6001")
	if err != nil {
		return
	}
	go srv.Serve(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
