// Package boltstore is the embedded store, the default for one library on
// one machine: everything circa knows in one bbolt file, records, their
// indexes (written in the same transaction as the record), the change
// journal that background loops read, the idempotency journal that answers
// retried requests, and the schema version with its forward migrations.
//
// Writes go through Update, which group-commits: operations that arrive while
// a commit is syncing share the next transaction, and an operation is
// acknowledged only after its transaction is on disk. A commit the disk
// refuses answers its operations with ErrUnavailable and makes Health report
// the store failing until a later commit succeeds.
package boltstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/circa-ils/circa/store"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configure Open.
type Options struct {
	// LockTimeout bounds the wait for another process's file lock (default 1s).
	LockTimeout time.Duration
	// ReadOnly opens the file without the write lock and without migrating.
	ReadOnly bool
	// MaxBatch caps how many operations share one commit (default 1024).
	MaxBatch int
	// CommitStamps stamps changed bibs with the start of the commit that
	// writes them (when that is later than the operation's own time), and
	// makes WaitCommitted meaningful: a reader that waits for the commits
	// started before it then sees every change stamped before that, so an
	// incremental harvest from a previous response date never misses one.
	// Servers turn it on; tests that drive a fake clock leave it off.
	CommitStamps bool
	// WriteFault is for tests: called as each commit is about to be
	// written, a non-nil error fails that commit the way a failing disk
	// does (rolled back, every operation in it answered with
	// ErrUnavailable, Health failing). Nil in production.
	WriteFault func() error
}

// DB is an open circa database.
type DB struct {
	bolt       *bolt.DB
	path       string
	maxBatch   int
	migrations []migration

	ops       chan *op
	stop      chan struct{}
	committer sync.WaitGroup
	closeOnce sync.Once
	mu        sync.RWMutex // held for reading while submitting, for writing while closing
	closed    bool

	commitStamps bool
	readOnly     bool
	writeFault   func() error
	inflightMu   sync.Mutex
	inflightDone *sync.Cond
	inflight     time.Time // start of the commit in progress; zero when idle

	stats    store.CommitStats // guarded by statsMu
	statsMu  sync.Mutex
	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced after each commit

	health     store.Health // guarded by statsMu; WritingSince is filled in by Health
	opened     time.Time    // when Open returned, the start of Health's knowledge
	probeAfter time.Duration
	stallAfter time.Duration
	probeMu    sync.Mutex
	probe      chan struct{} // closed when the probe in progress ends; nil when none runs
}

type op struct {
	fn   func(store.Tx) error
	done chan error
	// audit is the scope of an audited operation (nil: not audited, or a
	// bulk command that records its own summary).
	audit *store.AuditScope
}

// DefaultFile is the database's name inside a data directory.
const DefaultFile = "circa.db"

// Open opens (creating if needed) the database at path, creates missing
// buckets, refuses a file from a newer schema and migrates an older one
// forward after writing a hot backup beside it.
func Open(path string, o Options) (*DB, error) {
	return openWith(path, o, registeredMigrations)
}

func openWith(path string, o Options, migrations []migration) (*DB, error) {
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if !o.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	// The free-page list is not written at each commit (it is rebuilt from
	// the pages when the file is opened), and a hashmap keeps it: on a file
	// with many free pages writing the list was a large share of every
	// commit's pages. Mapping 1 GiB up front spares the common sizes the
	// remaps that stall readers while the file grows.
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, ReadOnly: o.ReadOnly,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: 1 << 30})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s is locked (is circa serve running on it?)", store.ErrLocked, path)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{bolt: bdb, path: path, maxBatch: o.MaxBatch, migrations: migrations, commitStamps: o.CommitStamps,
		readOnly: o.ReadOnly, writeFault: o.WriteFault, health: store.Health{OK: true}, opened: time.Now(), probeAfter: store.ProbeAfter, stallAfter: store.StallAfter, ops: make(chan *op, 4096), stop: make(chan struct{}), notify: make(chan struct{})}
	db.inflightDone = sync.NewCond(&db.inflightMu)
	if !o.ReadOnly {
		if err := db.prepare(); err != nil {
			bdb.Close()
			return nil, err
		}
	} else if err := db.checkVersion(); err != nil {
		bdb.Close()
		return nil, err
	}
	db.committer.Add(1)
	go db.commitLoop()
	return db, nil
}

// Path is the database file's path.
func (db *DB) Path() string { return db.path }

// Close waits for queued operations to commit, then closes the file.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		db.mu.Unlock()
		close(db.stop)
		db.committer.Wait()
		err = db.bolt.Close()
	})
	return err
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(func(btx *bolt.Tx) error {
		tx := viewTxs.Get().(*Tx)
		*tx = Tx{btx: btx}
		defer func() {
			*tx = Tx{}
			viewTxs.Put(tx)
		}()
		return fn(tx)
	})
}

// viewTxs recycles read transactions' wrappers (with their bucket cache),
// one of which every kiosk message would otherwise allocate. A Tx must not
// be kept past its function, as bbolt's own transaction must not.
var viewTxs = sync.Pool{New: func() any { return new(Tx) }}

// Update runs fn in a write transaction shared with the operations that
// queued while the previous commit was syncing, and returns once that
// transaction is durable. fn may run more than once (when a neighbour fails
// and the batch is retried without it), so it must not have effects outside
// the transaction. A refusal must be recorded as a value, not returned as an
// error: an error rolls fn back. When ctx carries an audit scope, the
// records fn changes are written to the audit trail in the same
// transaction, once however often fn runs.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{fn: fn, done: make(chan error, 1)}
	if s, ok := store.AuditScopeOf(ctx); ok && !s.Summary {
		o.audit = &s
	}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return store.ErrClosed
	}
	db.ops <- o
	db.mu.RUnlock()
	// The operation cannot be withdrawn once queued: waiting for it keeps
	// "acknowledged" equal to "committed" even when the caller gives up.
	return <-o.done
}

// UpdateDirect runs fn in its own fsync'd bbolt transaction, bypassing group
// commit. It exists as the baseline that benchmarks compare against.
func (db *DB) UpdateDirect(fn func(store.Tx) error) error {
	return db.bolt.Update(func(btx *bolt.Tx) error { return fn(&Tx{btx: btx}) })
}

// Changed returns a channel closed at the next commit; loops that follow the
// change journal wait on it instead of polling.
func (db *DB) Changed() <-chan struct{} {
	db.notifyMu.Lock()
	defer db.notifyMu.Unlock()
	return db.notify
}

// WaitCommitted returns once no commit that started at or before t is still
// in progress, so a read transaction begun afterwards sees everything those
// commits wrote.
func (db *DB) WaitCommitted(t time.Time) {
	db.inflightMu.Lock()
	defer db.inflightMu.Unlock()
	for !db.inflight.IsZero() && !db.inflight.After(t) {
		db.inflightDone.Wait()
	}
}

// CommitStats reports the writer's counts since Open.
func (db *DB) CommitStats() store.CommitStats {
	db.statsMu.Lock()
	defer db.statsMu.Unlock()
	return db.stats
}

func (db *DB) commitLoop() {
	defer db.committer.Done()
	batch := make([]*op, 0, db.maxBatch)
	for {
		var first *op
		select {
		case first = <-db.ops:
		case <-db.stop:
			// Drain what was queued before Close.
			for {
				select {
				case o := <-db.ops:
					db.run([]*op{o})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < db.maxBatch {
			select {
			case o := <-db.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		db.run(batch)
	}
}

// run commits a batch. When one operation fails, the transaction is rolled
// back, that operation is answered with its error, and the rest retry.
func (db *DB) run(batch []*op) {
	start := time.Now()
	db.inflightMu.Lock()
	db.inflight = start
	db.inflightMu.Unlock()
	// The commit ends before its callers are answered, so a caller whose
	// Update returned never sees it still writing (Health, WaitCommitted).
	ended := false
	end := func() {
		if ended {
			return
		}
		ended = true
		db.inflightMu.Lock()
		db.inflight = time.Time{}
		db.inflightMu.Unlock()
		db.inflightDone.Broadcast()
	}
	defer end()
	for len(batch) > 0 {
		failed := -1
		var failErr error
		var applied time.Duration
		var txStats bolt.TxStats
		err := db.bolt.Update(func(btx *bolt.Tx) error {
			tx := &Tx{btx: btx}
			if db.commitStamps {
				tx.commitStart = start.UTC()
			}
			applyStart := time.Now()
			for i, o := range batch {
				if err := applyOp(o, tx); err != nil {
					failed, failErr = i, err
					return err
				}
			}
			applied = time.Since(applyStart)
			if db.writeFault != nil {
				if err := db.writeFault(); err != nil {
					return err
				}
			}
			btx.OnCommit(func() { txStats = btx.Stats() })
			return nil
		})
		if failed >= 0 {
			batch[failed].done <- failErr
			batch = append(batch[:failed], batch[failed+1:]...)
			continue
		}
		// Every operation succeeded, so an error here is the commit's own:
		// the disk refused the pages or the sync.
		now := time.Now()
		db.statsMu.Lock()
		if err != nil {
			err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
			db.stats.Failed++
			db.health.OK, db.health.Failed, db.health.Failures = false, now.UTC(), db.health.Failures+1
			db.health.Failure = err.Error()
		} else {
			db.stats.Commits++
			db.stats.Operations += uint64(len(batch))
			db.stats.PagesWritten += uint64(txStats.GetPageCount())
			db.stats.Apply += applied
			db.stats.Spill += txStats.GetSpillTime()
			db.stats.Write += txStats.GetWriteTime()
			db.stats.Last = now.Sub(start)
			db.health.OK, db.health.Committed = true, now.UTC()
		}
		db.statsMu.Unlock()
		end()
		// Wake the journal followers before answering, so a caller that
		// waits on Changed after its Update returns never misses the wake-up.
		if err == nil {
			db.notifyMu.Lock()
			close(db.notify)
			db.notify = make(chan struct{})
			db.notifyMu.Unlock()
		}
		for _, o := range batch {
			o.done <- err
		}
		return
	}
}

// applyOp runs one operation's function in the batch's transaction and,
// for an audited one, writes the trail of what it changed. The trail is
// collected afresh on each run, so a function run again after a neighbour
// failed records its changes once.
func applyOp(o *op, tx *Tx) error {
	tx.audit = nil
	if o.audit != nil {
		tx.audit = &auditOp{scope: *o.audit}
	}
	if err := safeCall(o.fn, tx); err != nil {
		tx.audit = nil
		return err
	}
	return tx.flushAudit(time.Now())
}

func safeCall(fn func(store.Tx) error, tx *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: operation panicked: %v", r)
		}
	}()
	return fn(tx)
}

// prepare creates buckets on a new file and validates and migrates an old one.
func (db *DB) prepare() error {
	var version uint64
	fresh := false
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		meta := btx.Bucket(bucketMeta)
		if meta == nil {
			fresh = true
			for _, name := range allBuckets {
				if _, err := btx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			meta = btx.Bucket(bucketMeta)
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return err
			}
			if err := meta.Put(keyInstallKey, key); err != nil {
				return err
			}
			version = SchemaVersion
			return meta.Put(keySchemaVersion, u64(SchemaVersion))
		}
		version = decodeU64(meta.Get(keySchemaVersion))
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: initialise: %w", err)
	}
	if fresh {
		return nil
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w: schema version %d, this binary knows up to %d", store.ErrNewer, version, SchemaVersion)
	}
	return db.migrate(version)
}

func (db *DB) checkVersion() error {
	return db.bolt.View(func(btx *bolt.Tx) error {
		meta := btx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("store: %s is not a circa database", db.path)
		}
		if v := decodeU64(meta.Get(keySchemaVersion)); v > SchemaVersion {
			return fmt.Errorf("%w: schema version %d, this binary knows up to %d", store.ErrNewer, v, SchemaVersion)
		}
		return nil
	})
}

// Version returns the schema version stored in the file.
func (db *DB) Version() (uint64, error) {
	var v uint64
	err := db.bolt.View(func(btx *bolt.Tx) error {
		v = decodeU64(btx.Bucket(bucketMeta).Get(keySchemaVersion))
		return nil
	})
	return v, err
}

// Backup writes a consistent copy of the database to w while it stays in use.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(btx *bolt.Tx) error {
		var err error
		n, err = btx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile writes a hot backup to path atomically (temporary file, fsync,
// rename), so a crash never leaves a half-written backup under the name.
func (db *DB) BackupFile(path string) (int64, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	n, err := db.Backup(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// update is Update for the store's own operations, which reach bbolt
// directly.
func (db *DB) update(ctx context.Context, fn func(*Tx) error) error {
	return db.Update(ctx, func(tx store.Tx) error { return fn(tx.(*Tx)) })
}

// Describe names the store by its file.
func (db *DB) Describe() string { return db.path }

// Size is the size of the file.
func (db *DB) Size() (int64, error) {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

var (
	_ store.DB = (*DB)(nil)
	_ store.Tx = (*Tx)(nil)
)

// Lead leads at once: the file lock already makes this the only process
// that writes the store.
func (db *DB) Lead(ctx context.Context, name string) (store.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return soleLease{}, nil
}

// soleLease is the leadership of the only process: never lost.
type soleLease struct{}

func (soleLease) Lost() <-chan struct{} { return nil }
func (soleLease) Release()              {}
