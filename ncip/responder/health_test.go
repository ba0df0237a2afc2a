package responder

import (
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/store/boltstore"
)

// TestFullDiskIsATemporaryProcessingFailure: while the store's commits
// fail, a partner's changing request gets a schema-valid Problem of type
// Temporary Processing Failure and changes nothing; once the disk has room
// again the same request succeeds.
func TestFullDiskIsATemporaryProcessingFailure(t *testing.T) {
	var full atomic.Bool
	e := newEnvWith(t, boltstore.Options{WriteFault: func() error {
		if full.Load() {
			return syscall.ENOSPC
		}
		return nil
	}})
	full.Store(true)
	e.failing = true
	e.unchanged("checkout on a full disk", func() {
		p := problem(t, "checkout on a full disk", e.ill("CheckOutItem", "item="+fixtures.ItemAvailable, "request=FULL-1"),
			ncip.TemporaryProcessingFailure)
		if p.Detail == "" {
			t.Error("the Problem has no detail")
		}
	})
	full.Store(false)
	e.failing = false
	ok(t, "checkout after the disk was freed", e.ill("CheckOutItem", "item="+fixtures.ItemAvailable, "request=FULL-1"))
}
