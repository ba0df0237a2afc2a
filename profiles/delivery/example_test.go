package delivery_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/circa-ils/circa/profiles/delivery"
)

// records stands in for the caller's bbolt-backed store.
type records map[string]delivery.Delivery

func (r records) Save(_ context.Context, d delivery.Delivery) error {
	r[d.Name] = d
	return nil
}

func Example() {
	outbox, _ := os.MkdirTemp("", "outbox")
	pickup, _ := os.MkdirTemp("", "pickup")
	defer os.RemoveAll(outbox)
	defer os.RemoveAll(pickup)

	// The exporter builds the file under a deterministic name first.
	name := "circa_bursar_r42_20261127T040000Z_1.xml"
	src := filepath.Join(outbox, name)
	os.WriteFile(src, []byte("<xb:xml-fragment/>\n"), 0o644)
	d, err := delivery.Prepare(name, src, delivery.Summary{Records: 1, Totals: map[string]string{"USD": "3.50"}})
	if err != nil {
		fmt.Println(err)
		return
	}

	c, err := delivery.NewClient(delivery.Target{Kind: delivery.KindLocal, LocalDir: pickup}, delivery.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	st := records{}
	d, err = c.Deliver(context.Background(), st, d)
	fmt.Println(d.Step, err)

	// After a restart, unfinished records are simply resumed; finished
	// ones are left alone.
	d, err = c.Resume(context.Background(), st, st[name])
	fmt.Println(d.Step, err)

	entries, _ := os.ReadDir(pickup)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// done <nil>
	// done <nil>
	// circa_bursar_r42_20261127T040000Z_1.xml
	// circa_bursar_r42_20261127T040000Z_1.xml.manifest.json
}
