package circ

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/circa-ils/circa/store"
)

// The reads the protocol adapters (sip2/selfcheck, ncip/responder) need
// besides circulation itself: they reach the store only through these.

// Online reports whether the store can be read and, as far as it knows
// (store.DB.CheckHealth, which probes a store that has been idle), written.
// wait bounds the wait for the probe's commit.
func (s *Service) Online(ctx context.Context, wait time.Duration) bool {
	if s.db.View(ctx, func(store.Tx) error { return nil }) != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return s.db.CheckHealth(ctx).OK
}

// LibraryInfo is a library as a kiosk shows it.
type LibraryInfo struct {
	store.Library
	Zone *time.Location // UTC when the library is unknown or has no zone
}

// Library returns a library by code; an unknown code gives a zero library
// in UTC and no error, as a kiosk configured with one still works.
func (s *Service) Library(ctx context.Context, code string) (LibraryInfo, error) {
	info := LibraryInfo{Zone: time.UTC}
	err := s.db.View(ctx, func(tx store.Tx) error {
		info.Zone = s.Zone(tx, code)
		lib, err := tx.Library(code)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		info.Library = lib
		return err
	})
	return info, err
}

// PickupLibraries are the libraries a patron may collect a hold from, in
// code order: NCIP's LookupAgency numbers them from 1 in this order.
func (s *Service) PickupLibraries(ctx context.Context) ([]store.Library, error) {
	var libs []store.Library
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		libs, err = tx.Libraries()
		return err
	})
	slices.SortFunc(libs, func(a, b store.Library) int { return strings.Compare(a.Code, b.Code) })
	return libs, err
}

// PatronByBarcode returns a patron by barcode without checking a PIN, for a
// trusted partner's lookup; ok is false when there is none.
func (s *Service) PatronByBarcode(ctx context.Context, barcode string) (p store.Patron, ok bool, err error) {
	err = s.db.View(ctx, func(tx store.Tx) error {
		p, err = tx.PatronByBarcode(barcode)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	return p, ok, err
}

// FeeItem is the item a fee is for, as an account line shows it.
type FeeItem struct {
	Barcode string
	BibID   uint64
	Title   string
}

// FeeItems describes the items fees are for, by item id; an item since
// deleted is left out.
func (s *Service) FeeItems(ctx context.Context, fees []store.Fee) (map[uint64]FeeItem, error) {
	out := map[uint64]FeeItem{}
	if !slices.ContainsFunc(fees, func(f store.Fee) bool { return f.ItemID != 0 }) {
		return out, nil
	}
	err := s.db.View(ctx, func(tx store.Tx) error {
		for _, fee := range fees {
			if _, seen := out[fee.ItemID]; fee.ItemID == 0 || seen {
				continue
			}
			it, err := tx.Item(fee.ItemID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			fi := FeeItem{Barcode: it.Barcode, BibID: it.BibID}
			if b, err := tx.Bib(it.BibID); err == nil {
				fi.Title = b.Title
			}
			out[fee.ItemID] = fi
		}
		return nil
	})
	return out, err
}
