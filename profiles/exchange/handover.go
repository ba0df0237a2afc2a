package exchange

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/store"
)

// CheckTargets proves that a profile's target, and its import directory
// when it collects files, can be reached and used (see delivery.CheckTarget):
// a profile that cannot deliver would otherwise mark records exported into
// files nobody receives.
func CheckTargets(ctx context.Context, p *profiles.Exchange) error {
	targets := []delivery.Target{p.Target}
	if p.ImportPattern() != "" && p.ImportTarget() != p.Target {
		targets = append(targets, p.ImportTarget())
	}
	for _, tg := range targets {
		if err := delivery.CheckTarget(ctx, tg); err != nil {
			return err
		}
	}
	return nil
}

// ErrUndelivered refuses to remove a profile whose outbox holds files not
// yet delivered: their records are marked exported and reach the partner
// only through those files.
var ErrUndelivered = errors.New("exchange: profile has undelivered files")

// Remove deletes a file-exchange profile. While its outbox holds files not
// yet delivered it is refused (ErrUndelivered, naming them), unless handTo
// names another profile of the same type: the files then move to that
// profile's outbox, in the same transaction, and it delivers them to its
// own target at its next run. Their records stay exported; the files are
// delivered unchanged, under their names. A file that has already reached
// the removed profile's target under its final name is not moved (that
// would send it twice): run the profile to finish it first. Remove returns
// the files moved.
func (s *Scheduler) Remove(ctx context.Context, code, handTo string) ([]string, error) {
	p, ok := s.o.Registry.Current().Exchange[code]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownProfile, code)
	}
	var to *profiles.Exchange
	if handTo != "" {
		to = s.o.Registry.Current().Exchange[handTo]
		switch {
		case to == nil:
			return nil, fmt.Errorf("%w: %s", ErrUnknownProfile, handTo)
		case handTo == code:
			return nil, fmt.Errorf("exchange: cannot hand %s's files to itself", code)
		case to.Type != p.Type:
			return nil, fmt.Errorf("exchange: %s is a %s profile; %s's files go to a %s profile", handTo, to.Type, code, p.Type)
		}
	}
	// No run of the profile may deliver while its files move.
	key := runKey{s.db, code}
	if _, busy := running.LoadOrStore(key, struct{}{}); busy {
		return nil, fmt.Errorf("exchange: profile %s is running; remove it once the run ends", code)
	}
	defer running.Delete(key)

	var moved []string
	err := s.db.Update(ctx, func(tx store.Tx) error {
		moved = nil
		st, err := loadState(tx, code)
		if err != nil {
			return err
		}
		if len(st.Pending) > 0 {
			if to == nil {
				return fmt.Errorf("%w: %s (give --hand-to with another %s profile to deliver them)",
					ErrUndelivered, strings.Join(st.Pending, ", "), p.Type)
			}
			if err := handOver(tx, code, handTo, st.Pending); err != nil {
				return err
			}
			moved = st.Pending
			st.Pending = nil
			if err := tx.SetMeta(stateKey(code), st); err != nil {
				return err
			}
		}
		err = tx.DeleteProfile(p.Type, code)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrUnknownProfile, code)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// The outbox directory holds copies; the store holds the files.
	for _, name := range moved {
		os.Remove(filepath.Join(s.outboxDir(code), name))
	}
	return moved, s.o.Registry.Reload(ctx)
}

// handOver moves pending entries from one profile's outbox to another's.
// The delivery starts afresh at the new target; the old entry keeps a note
// of where its file went.
func handOver(tx store.Tx, from, to string, names []string) error {
	dst, err := loadState(tx, to)
	if err != nil {
		return err
	}
	for _, name := range names {
		var e entry
		if err := tx.Meta(entryKey(from, name), &e); err != nil {
			return fmt.Errorf("outbox entry %s: %w", name, err)
		}
		if d := e.Delivery; d != nil && d.Step != delivery.StepPending && d.Step != delivery.StepUploadedTemp {
			return fmt.Errorf("%s has reached %s's target already (step %s): run %s to finish its delivery first",
				name, from, d.Step, from)
		}
		moved := e
		moved.Delivery, moved.Target = nil, ""
		if err := tx.SetMeta(entryKey(to, name), moved); err != nil {
			return err
		}
		e.Content, e.HandedTo = nil, to
		if err := tx.SetMeta(entryKey(from, name), e); err != nil {
			return err
		}
		if !slices.Contains(dst.Pending, name) {
			dst.Pending = append(dst.Pending, name)
		}
	}
	return tx.SetMeta(stateKey(to), dst)
}

// resend delivers again the files a past run delivered, from the content
// the outbox keeps, under their own names: a file still in place on the
// target is recognised and left alone.
func (s *Scheduler) resend(ctx context.Context, out *delivery.Session, p *profiles.Exchange, id uint64, run *Run) error {
	runs, err := History(ctx, s.db, p.Code)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(runs, func(r Run) bool { return r.ID == id })
	if i < 0 {
		return fmt.Errorf("run %d is not in %s's history (it keeps the last %d runs)", id, p.Code, historyLen)
	}
	past := runs[i]
	if len(past.Files) == 0 {
		return fmt.Errorf("run %d delivered no files", id)
	}
	entries := make([]entry, len(past.Files))
	if err := s.db.View(ctx, func(tx store.Tx) error {
		var gone []string
		for i, name := range past.Files {
			if err := tx.Meta(entryKey(p.Code, name), &entries[i]); err != nil {
				return fmt.Errorf("outbox entry %s: %w", name, err)
			}
			if entries[i].Content == nil {
				gone = append(gone, name)
			}
		}
		if len(gone) > 0 {
			return fmt.Errorf("the content of %s is no longer kept (a profile keeps its last %d delivered files, up to %d MiB)",
				strings.Join(gone, ", "), KeptFiles, KeptBytes>>20)
		}
		return nil
	}); err != nil {
		return err
	}
	st := entryStore{db: s.db, code: p.Code, target: out.Target().String(), after: s.afterSave}
	for _, e := range entries {
		src := filepath.Join(s.outboxDir(p.Code), e.Name)
		if err := materialize(src, e.Content, e.SHA256); err != nil {
			return err
		}
		d, err := delivery.Prepare(e.Name, src, e.Summary)
		if err != nil {
			return err
		}
		d.Created = e.Built
		if _, err := out.Deliver(ctx, st, d); err != nil {
			return err
		}
		if err := os.Remove(src); err != nil {
			return err
		}
		run.Files = append(run.Files, e.Name)
	}
	return nil
}
