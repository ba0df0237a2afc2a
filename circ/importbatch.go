package circ

import (
	"context"
	"errors"
	"time"

	"github.com/circa-ils/circa/store"
)

// ImportBatch is one transaction of a migration import (package importer):
// a few hundred records of a file, committed together with the checkpoint
// that lets a crashed run resume after them. The importers' own methods
// (importmarc.go, importcsv.go) check each record before writing anything
// and journal an event naming every record they write, as every other
// circ operation does.
type ImportBatch struct {
	tx    store.Tx
	at    time.Time
	agent Agent
	svc   *Service

	// What the checks of the batch's records looked up, read once a batch.
	locations map[string]store.Location // code → location; Code "" when there is none
	libraries map[string]store.Library  // code → library; Code "" when there is none
}

// Import runs fn in one write transaction. fn may run more than once (a
// group commit retries the operations of a failed group), so it must change
// nothing outside the transaction.
func (s *Service) Import(ctx context.Context, agent Agent, fn func(*ImportBatch) error) error {
	at := s.Now()
	return s.commit(ctx, func(tx store.Tx) error {
		return fn(&ImportBatch{tx: tx, at: at, agent: agent, svc: s})
	})
}

// Now is the time of the batch.
func (b *ImportBatch) Now() time.Time { return b.at }

// emit journals one imported change naming the records it wrote.
func (b *ImportBatch) emit(kind string, refs ...store.Ref) error {
	return emit(b.tx, b.at, kind, b.agent, refs...)
}

// ImportCheckpoint is how far an import of one input got: the source
// records consumed and what they added up to. It is committed with each
// batch, so it is exactly as far as the store is.
type ImportCheckpoint struct {
	Records  int            `json:"records"`
	Counts   map[string]int `json:"counts,omitempty"`
	Problems int            `json:"problems"`
	Started  time.Time      `json:"started"`
	Done     bool           `json:"done,omitempty"`
}

func checkpointName(key string) string { return "import/" + key }

// SaveCheckpoint records cp under key in the batch's transaction.
func (b *ImportBatch) SaveCheckpoint(key string, cp ImportCheckpoint) error {
	return b.tx.SetMeta(checkpointName(key), cp)
}

// ImportCheckpointOf reads the checkpoint of key; ok is false when there is
// none.
func (s *Service) ImportCheckpointOf(ctx context.Context, key string) (cp ImportCheckpoint, ok bool, err error) {
	err = s.db.View(ctx, func(tx store.Tx) error {
		err := tx.Meta(checkpointName(key), &cp)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	return cp, ok, err
}
