package main

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/circa-ils/circa/store"
)

// backgroundLoops names the leadership of the loops one node runs for the
// whole library: file exchange, publishing, the storage sender, pruning.
const backgroundLoops = "background-loops"

// leadRetry is the pause after Lead fails before it is asked again.
const leadRetry = 5 * time.Second

// runLeading runs loops while this node leads them, and starts them again
// when it leads again after losing the lead (the database connection that
// held it failed). It returns when ctx ends, or with a loop's error while
// it led. leading, when not nil, is told each change.
func runLeading(ctx context.Context, db store.DB, log zerolog.Logger, leading func(bool), loops ...func(context.Context) error) error {
	for {
		lease, err := db.Lead(ctx, backgroundLoops)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Error().Err(err).Msg("cannot tell whether this node leads the background loops; asking again")
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(leadRetry):
			}
			continue
		}
		log.Info().Msg("this node runs the background loops")
		if leading != nil {
			leading(true)
		}
		lctx, cancel := context.WithCancel(ctx)
		lost := false
		g, gctx := errgroup.WithContext(lctx)
		g.Go(func() error {
			select {
			case <-lease.Lost():
				lost = true
				cancel()
			case <-gctx.Done():
			}
			return nil
		})
		for _, loop := range loops {
			g.Go(func() error { return loop(gctx) })
		}
		err = g.Wait()
		cancel()
		lease.Release()
		if leading != nil {
			leading(false)
		}
		if ctx.Err() != nil {
			return nil
		}
		if !lost {
			return errors.Join(errors.New("a background loop stopped"), err)
		}
		log.Warn().Msg("this node lost the lead of the background loops; another node may run them now")
	}
}
