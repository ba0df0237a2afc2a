package circ

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/circa-ils/circa/store"
	"github.com/circa-ils/circa/store/boltstore"
)

const crashChildEnv = "CIRCA_CRASH_CHILD_DB"

// TestMain lets the test binary act as the child process of the crash test.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const crashItems = 2000

// crashChild checks out items from many goroutines and prints each barcode
// once its checkout is acknowledged, until it is killed.
func crashChild(path string) {
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	svc, err := New(db)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	const workers = 32
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < crashItems; i += workers {
				bc := fmt.Sprintf("I%05d", i)
				_, err := svc.Checkout(context.Background(), CheckoutRequest{Agent: atMain, Patron: fmt.Sprintf("P%03d", i%100), Item: bc})
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintln(out, bc)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// Killing the process with SIGKILL in the middle of a write load loses no
// acknowledged checkout and leaves the store consistent.
func TestSIGKILLLosesNoAcknowledgedCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), boltstore.DefaultFile)
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx store.Tx) error {
		// testRules name both libraries; db check refuses a rule naming none.
		for _, code := range []string{"MAIN", "BRANCH"} {
			if err := tx.PutLibrary(&store.Library{Code: code, Timezone: "UTC", Currency: "USD"}); err != nil {
				return err
			}
		}
		if err := putTestGroupsAndPolicies(tx); err != nil {
			return err
		}
		if err := tx.PutRules(&testRules); err != nil {
			return err
		}
		for i := range 100 {
			p := store.Patron{Barcode: fmt.Sprintf("P%03d", i), LastName: "x", UserGroup: "FACULTY", Expiry: time.Now().AddDate(1, 0, 0)}
			if err := tx.PutPatron(&p, start); err != nil {
				return err
			}
		}
		b := store.Bib{Title: "t", MARCXML: "<record/>"}
		if err := tx.PutBib(&b, start); err != nil {
			return err
		}
		for i := range crashItems {
			it := store.Item{Barcode: fmt.Sprintf("I%05d", i), BibID: b.ID, Library: "MAIN", Policy: "BOOK", Status: store.ItemAvailable, Pieces: 1}
			if err := tx.PutItem(&it, start); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		acked[sc.Text()] = true
		if len(acked) == 800 {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	// Drain what the child printed before it died: those were acknowledged too.
	for sc.Scan() {
		acked[sc.Text()] = true
	}
	state, _ := cmd.Process.Wait()
	if len(acked) < 800 {
		t.Fatalf("child acknowledged only %d checkouts (%v)", len(acked), state)
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed mid-load: %v", state)
	}

	db, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	probs, err := db.Check()
	if err != nil || len(probs) > 0 {
		t.Fatalf("check after SIGKILL: %v %v", err, probs)
	}
	onLoan := 0
	db.View(ctx, func(tx store.Tx) error {
		for bc := range acked {
			it, err := tx.ItemByBarcode(bc)
			if err != nil {
				t.Fatal(err)
			}
			if _, open, _ := tx.OpenLoanOfItem(it.ID); !open {
				t.Errorf("acknowledged checkout of %s lost", bc)
			}
		}
		return tx.ForEachItem(func(it store.Item) bool {
			if it.Status == store.ItemOnLoan {
				onLoan++
			}
			return true
		})
	})
	t.Logf("%d checkouts acknowledged before SIGKILL, %d on loan after restart", len(acked), onLoan)
}
