package circ

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestVerifySecretRemembersOnlySuccesses(t *testing.T) {
	h, err := HashSecret("kiosk-pass")
	if err != nil {
		t.Fatal(err)
	}
	// A storm of logins with the same password: all succeed, sharing work.
	var wg sync.WaitGroup
	results := make([]bool, 50)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = VerifySecret(h, "kiosk-pass")
		}()
	}
	wg.Wait()
	for i, ok := range results {
		if !ok {
			t.Fatalf("verification %d failed", i)
		}
	}
	// Wrong secrets stay wrong, before and after the right one is known.
	for range 3 {
		if ok, err := VerifySecret(h, "kiosk-pasS"); ok || err != nil {
			t.Fatalf("wrong secret: %v %v", ok, err)
		}
	}
	// The remembered pair is tied to the hash: another hash of another
	// secret does not match this secret.
	h2, _ := HashSecret("other")
	if ok, _ := VerifySecret(h2, "kiosk-pass"); ok {
		t.Fatal("secret accepted against another hash")
	}
	verified.mu.Lock()
	n := len(verified.ok)
	verified.mu.Unlock()
	if n == 0 {
		t.Fatal("success not remembered")
	}
}

func BenchmarkVerifySecretRemembered(b *testing.B) {
	h, _ := HashSecret("kiosk-pass")
	VerifySecret(h, "kiosk-pass")
	for b.Loop() {
		if ok, _ := VerifySecret(h, "kiosk-pass"); !ok {
			b.Fatal("not verified")
		}
	}
}

// With the hashing budget taken, a check waits at most hashWait and is
// refused as busy without hashing; administrative hashing waits its turn.
func TestVerifySecretBusyWhenBudgetFull(t *testing.T) {
	h, err := HashSecret("kiosk-pass")
	if err != nil {
		t.Fatal(err)
	}
	if err := hashing.Acquire(ctx, hashBudget); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	ok, err := VerifySecret(h, "guess")
	if waited := time.Since(started); ok || !errors.Is(err, ErrBusy) || waited < hashWait || waited > 10*hashWait {
		hashing.Release(hashBudget)
		t.Fatalf("budget full: %v %v after %v", ok, err, waited)
	}
	// Administrative hashing and checks wait for their turn instead.
	done := make(chan error, 1)
	go func() { _, err := HashSecret("new"); done <- err }()
	checked := make(chan error, 1)
	go func() {
		ok, err := VerifySecretWaiting(h, "kiosk-pass")
		if err == nil && !ok {
			err = errors.New("the right secret did not match")
		}
		checked <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("hashed beyond the budget: %v", err)
	case err := <-checked:
		t.Fatalf("checked beyond the budget: %v", err)
	case <-time.After(2 * hashWait):
	}
	hashing.Release(hashBudget)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-checked; err != nil {
		t.Fatalf("a waiting check after the budget freed: %v", err)
	}
	// A hash that asks for more memory than the whole budget is refused.
	if _, err := VerifySecret("$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "x"); !errors.Is(err, errBadHash) {
		t.Fatalf("oversized hash: %v", err)
	}
}

// Memory is given back by the last hash of a burst that left returnAfter
// of garbage, not by every hash.
func TestHashMemoryGivenBackAfterBurst(t *testing.T) {
	var m memReturn
	const mem = argonMemory
	for range 4 {
		m.begin()
	}
	for i := range 3 {
		if m.end(mem, true) {
			t.Fatalf("given back with %d hashes still running", 3-i)
		}
	}
	if !m.end(mem, true) {
		t.Fatal("not given back after the burst")
	}
	m.begin()
	if m.end(mem, true) {
		t.Fatal("given back after one hash")
	}
	m.begin()
	if !m.end(mem, true) {
		t.Fatal("not given back after the second")
	}
	// Administrative hashing leaves it to the collector.
	for range 4 {
		m.begin()
		if m.end(mem, false) {
			t.Fatal("given back after administrative hashing")
		}
	}
}
