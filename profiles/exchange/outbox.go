package exchange

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/store"
)

// state is a profile's persistent standing (a store meta document).
type state struct {
	Files   uint64    `json:"files"` // files built so far; numbers the names
	Runs    uint64    `json:"runs"`
	LastRun time.Time `json:"last_run"`
	// LastOK is when the latest successful run finished.
	LastOK  time.Time `json:"last_ok,omitzero"`
	Stopped string    `json:"stopped,omitempty"`
	// Pending lists outbox entries not yet delivered, oldest first.
	Pending []string `json:"pending,omitempty"`
	// Kept lists delivered entries whose content is still kept for a
	// resend, oldest first (at most KeptFiles and KeptBytes).
	Kept []keptFile `json:"kept,omitempty"`
}

// keptFile is a delivered entry whose content is kept.
type keptFile struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

// The delivered files of a profile whose content the store keeps, so
// `circa profile run --resend` can send them again: the last KeptFiles,
// as long as they hold no more than KeptBytes together.
const (
	KeptFiles = 50
	KeptBytes = 64 << 20
)

// entry is one file in the outbox: its bytes, kept from the transaction
// that built it until it is delivered, and its delivery state.
type entry struct {
	Name    string           `json:"name"`
	Content []byte           `json:"content,omitempty"`
	SHA256  string           `json:"sha256"`
	Summary delivery.Summary `json:"summary"`
	Built   time.Time        `json:"built"`
	// Journal is the change-journal position the file was built at.
	Journal  uint64             `json:"journal"`
	Delivery *delivery.Delivery `json:"delivery,omitempty"`
	// Target is where Delivery is going (its String: no secrets). A
	// delivery whose profile has since been pointed elsewhere does not
	// resume there, where its steps mean nothing.
	Target string `json:"target,omitempty"`
	// HandedTo names the profile the file was handed to when its own
	// profile was removed.
	HandedTo string `json:"handed_to,omitempty"`
}

func stateKey(code string) string                 { return "exchange/" + code + "/state" }
func historyKey(code string) string               { return "exchange/" + code + "/history" }
func entryKey(code, name string) string           { return "exchange/" + code + "/outbox/" + name }
func cursorName(code string) string               { return "exchange/" + code }
func markKey(code, mark string) string            { return "exchange/" + code + "/mark/" + mark }
func (s *Scheduler) outboxDir(code string) string { return filepath.Join(s.o.Dir, "outbox", code) }

func loadState(tx store.Tx, code string) (state, error) {
	var st state
	err := tx.Meta(stateKey(code), &st)
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return st, err
}

// fileName is a built file's name: system, type, profile, file number and
// build time, so names never repeat and sort in build order.
func fileName(p *profiles.Exchange, n uint64, at time.Time, ext string) string {
	return fmt.Sprintf("circa_%s_%s_%06d_%s.%s", p.Type, p.Code, n, at.UTC().Format("20060102T150405Z"), ext)
}

// addEntry puts a built file into the outbox, inside the transaction that
// marked its records.
func addEntry(tx store.Tx, p *profiles.Exchange, at time.Time, ext string, content []byte, sum delivery.Summary) (string, error) {
	return addNamedEntry(tx, p, at, func(n uint64) string { return fileName(p, n, at, ext) }, content, sum)
}

// addNamedEntry is addEntry for a file whose name the partner's software
// dictates; name gets the profile's file sequence number, which keeps it
// unique.
func addNamedEntry(tx store.Tx, p *profiles.Exchange, at time.Time, name func(uint64) string, content []byte, sum delivery.Summary) (string, error) {
	st, err := loadState(tx, p.Code)
	if err != nil {
		return "", err
	}
	st.Files++
	fname := name(st.Files)
	h := sha256.Sum256(content)
	e := entry{Name: fname, Content: content, SHA256: hex.EncodeToString(h[:]), Summary: sum, Built: at,
		Journal: tx.JournalHead()}
	if err := tx.SetMeta(entryKey(p.Code, fname), e); err != nil {
		return "", err
	}
	st.Pending = append(st.Pending, fname)
	return fname, tx.SetMeta(stateKey(p.Code), st)
}

// flush delivers every pending outbox entry, oldest first, stopping at the
// first failure so files reach the partner in order.
func (s *Scheduler) flush(ctx context.Context, out *delivery.Session, p *profiles.Exchange, run *Run) error {
	var pending []string
	if err := s.db.View(ctx, func(tx store.Tx) error {
		st, err := loadState(tx, p.Code)
		pending = st.Pending
		return err
	}); err != nil {
		return err
	}
	for _, name := range pending {
		if err := s.deliverEntry(ctx, out, p, name); err != nil {
			return err
		}
		run.Files = append(run.Files, name)
	}
	return nil
}

func (s *Scheduler) deliverEntry(ctx context.Context, out *delivery.Session, p *profiles.Exchange, name string) error {
	var e entry
	if err := s.db.View(ctx, func(tx store.Tx) error { return tx.Meta(entryKey(p.Code, name), &e) }); err != nil {
		return fmt.Errorf("outbox entry %s: %w", name, err)
	}
	src := filepath.Join(s.outboxDir(p.Code), name)
	if err := materialize(src, e.Content, e.SHA256); err != nil {
		return err
	}
	target := out.Target().String()
	if d := e.Delivery; d != nil && e.Target != "" && e.Target != target {
		switch d.Step {
		case delivery.StepPending, delivery.StepUploadedTemp:
			// Only a hidden temporary copy, if anything, is at the old
			// target: send the file to the new one from the start.
			e.Delivery = nil
		default:
			return fmt.Errorf("%s reached %s under its final name (step %s) before the target changed to %s: "+
				"point the profile back there to finish it: %w", name, e.Target, d.Step, target, delivery.ErrConflict)
		}
	}
	st := entryStore{db: s.db, code: p.Code, target: target, after: s.afterSave}
	var err error
	if e.Delivery == nil {
		// Not handed to delivery yet (a crash came first): prepare it now.
		var d delivery.Delivery
		d, err = delivery.Prepare(name, src, e.Summary)
		if err != nil {
			return err
		}
		d.Created, d.NoManifest = e.Built, noManifest(p)
		_, err = out.Deliver(ctx, st, d)
	} else {
		_, err = out.Resume(ctx, st, *e.Delivery)
	}
	if err != nil {
		return err
	}
	return os.Remove(src)
}

// materialize writes a built file's bytes to the local outbox unless the
// file is there already with the same content; it is synced before the
// delivery reads it.
func materialize(path string, content []byte, sum string) error {
	if b, err := os.ReadFile(path); err == nil {
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) == sum {
			return nil
		}
	}
	if content == nil {
		return fmt.Errorf("outbox file %s is missing and its content is gone", filepath.Base(path))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// entryStore keeps delivery state in the outbox entry, one short
// transaction per step; a finished entry leaves the pending list and joins
// the kept ones, and the oldest kept entry beyond KeptFiles drops its
// bytes.
type entryStore struct {
	db     store.DB
	code   string
	target string // where the delivery goes
	after  func(delivery.Delivery) error
}

func (es entryStore) Save(ctx context.Context, d delivery.Delivery) error {
	if err := es.save(ctx, d); err != nil {
		return err
	}
	if es.after != nil {
		return es.after(d)
	}
	return nil
}

func (es entryStore) save(ctx context.Context, d delivery.Delivery) error {
	return es.db.Update(ctx, func(tx store.Tx) error {
		var e entry
		if err := tx.Meta(entryKey(es.code, d.Name), &e); err != nil {
			return err
		}
		e.Delivery, e.Target = &d, es.target
		if d.Step == delivery.StepDone {
			st, err := loadState(tx, es.code)
			if err != nil {
				return err
			}
			st.Pending = slices.DeleteFunc(st.Pending, func(n string) bool { return n == d.Name })
			if !slices.ContainsFunc(st.Kept, func(k keptFile) bool { return k.Name == d.Name }) {
				st.Kept = append(st.Kept, keptFile{Name: d.Name, Size: len(e.Content)})
			}
			size := 0
			for _, k := range st.Kept {
				size += k.Size
			}
			for len(st.Kept) > KeptFiles || len(st.Kept) > 1 && size > KeptBytes {
				if err := dropContent(tx, es.code, st.Kept[0].Name); err != nil {
					return err
				}
				size -= st.Kept[0].Size
				st.Kept = st.Kept[1:]
			}
			if err := tx.SetMeta(stateKey(es.code), st); err != nil {
				return err
			}
		}
		return tx.SetMeta(entryKey(es.code, d.Name), e)
	})
}

// dropContent forgets the bytes of a delivered entry, keeping its record.
func dropContent(tx store.Tx, code, name string) error {
	var e entry
	err := tx.Meta(entryKey(code, name), &e)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	e.Content = nil
	return tx.SetMeta(entryKey(code, name), e)
}

func (s *Scheduler) state(ctx context.Context, code string) (state, error) {
	var st state
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		st, err = loadState(tx, code)
		return err
	})
	return st, err
}
