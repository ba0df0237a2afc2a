package profiles

import (
	"errors"
	"fmt"

	"github.com/circa-ils/circa/store"
)

// New returns a profile of a type with the defaults a new one gets, the
// same for `add` and for an entry of an imported YAML file.
func New(typ, code string) (Profile, error) {
	switch typ {
	case TypeSelfCheck:
		return NewSelfCheck(code), nil
	case TypeNCIP:
		return NewNCIPPartner(code), nil
	case TypeStorage:
		return NewStorage(code), nil
	case TypeLDAP:
		return NewLDAP(code), nil
	}
	if IsExchangeType(typ) {
		return NewExchange(typ, code), nil
	}
	return nil, fmt.Errorf("unknown profile type %q", typ)
}

// NewNCIPPartner returns an NCIP partner profile with its defaults.
func NewNCIPPartner(code string) *NCIPPartner {
	return &NCIPPartner{Code: code, Active: true, RetryWindowSeconds: DefaultNCIPRetryWindow}
}

// NewStorage returns a remote-storage profile with its defaults.
func NewStorage(code string) *Storage {
	return &Storage{Code: code, Active: true, StaleDays: 3}
}

// checkRefs refuses a profile naming a library or desk the store does not
// hold, or a desk of another library: a kiosk logged in at a library that
// does not exist would lend at nowhere.
func checkRefs(tx store.Tx, p Profile) error {
	var libs [][2]string // field, code
	desk := ""
	switch v := p.(type) {
	case *SelfCheck:
		libs, desk = [][2]string{{"library", v.Library}}, v.Desk
	case *NCIPPartner:
		libs = [][2]string{{"library", v.Library}, {"pickup_library", v.PickupLibrary}}
	case *Storage:
		libs, desk = [][2]string{{"library", v.Library}}, v.Desk
	case *Exchange:
		libs = [][2]string{{"library", v.Library}}
	}
	var errs []error
	var known []string
	for _, l := range libs {
		if l[1] == "" {
			continue
		}
		if _, err := tx.Library(l[1]); errors.Is(err, store.ErrNotFound) {
			if known == nil {
				all, err := tx.Libraries()
				if err != nil {
					return err
				}
				for _, k := range all {
					known = append(known, k.Code)
				}
			}
			errs = append(errs, fmt.Errorf("%s %q does not exist%s", l[0], l[1], store.DidYouMean(l[1], known)))
		} else if err != nil {
			return err
		}
	}
	if desk != "" {
		d, err := tx.Desk(desk)
		switch {
		case errors.Is(err, store.ErrNotFound):
			all, err := tx.Desks()
			if err != nil {
				return err
			}
			var codes []string
			for _, k := range all {
				codes = append(codes, k.Code)
			}
			errs = append(errs, fmt.Errorf("desk %q does not exist%s", desk, store.DidYouMean(desk, codes)))
		case err != nil:
			return err
		case len(libs) > 0 && libs[0][1] != "" && d.Library != libs[0][1]:
			errs = append(errs, fmt.Errorf("desk %q belongs to library %s, not %s", desk, d.Library, libs[0][1]))
		}
	}
	return errors.Join(errs...)
}
