package publishing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/store"
)

// ProfileType is the store profile type publishing profiles are kept under.
const ProfileType = "publishing"

// File formats a profile can deliver.
const (
	FormatMARCXML      = "marcxml"        // NAME.xml, a MARCXML collection
	FormatMARCXMLTarGz = "marcxml.tar.gz" // NAME.xml.tar.gz holding NAME.xml
)

// MinEvery is the shortest schedule a profile may have.
const MinEvery = time.Minute

// Selection picks records. Every criterion given must match; an empty
// Selection picks the whole catalogue.
type Selection struct {
	// Libraries and Locations match a record held (by holdings or items) at
	// one of them.
	Libraries []string `json:"libraries,omitempty" yaml:"libraries,omitempty"`
	Locations []string `json:"locations,omitempty" yaml:"locations,omitempty"`
	// MaterialTypes match the bib's material type (book, serial, video …).
	MaterialTypes []string `json:"material_types,omitempty" yaml:"material_types,omitempty"`
	// BibIDs match the listed bibs only.
	BibIDs []uint64 `json:"bib_ids,omitempty" yaml:"bib_ids,omitempty"`
}

// Matches reports whether a bib held at places is selected.
func (s *Selection) Matches(b *store.Bib, places []circ.Place) bool {
	if len(s.BibIDs) > 0 && !slices.Contains(s.BibIDs, b.ID) {
		return false
	}
	if len(s.MaterialTypes) > 0 && !slices.Contains(s.MaterialTypes, b.MaterialType) {
		return false
	}
	if len(s.Libraries) > 0 && !slices.ContainsFunc(places, func(p circ.Place) bool { return slices.Contains(s.Libraries, p.Library) }) {
		return false
	}
	if len(s.Locations) > 0 && !slices.ContainsFunc(places, func(p circ.Place) bool { return slices.Contains(s.Locations, p.Location) }) {
		return false
	}
	return true
}

// Profile is a publishing profile: a named selection of the catalogue,
// published as the OAI set profile:<Code> and, with a Target, delivered as
// files.
type Profile struct {
	Code      string    `json:"code" yaml:"code"`
	Name      string    `json:"name,omitempty" yaml:"name,omitempty"`
	Selection Selection `json:"selection" yaml:"selection"`
	// Every is the schedule of incremental runs; zero runs only on demand.
	Every time.Duration `json:"every,omitempty" yaml:"every,omitempty"`
	// Format is FormatMARCXML (the default) or FormatMARCXMLTarGz.
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
	// Holdings and Items enrich the records with their inventory, as
	// Alma's publishing profiles do: Holdings replaces the stored 852
	// fields with one per holdings record ($a institution, $b library, $c
	// location, $h and $i call number, $8 holdings id; first indicator the
	// location's shelving scheme), Items the stored 876 fields with one per
	// item ($a item id, $h use restriction, $j status, $p barcode, $8
	// holdings id).
	Holdings bool `json:"holdings,omitempty" yaml:"holdings,omitempty"`
	Items    bool `json:"items,omitempty" yaml:"items,omitempty"`
	// Target is where files go; a profile without one is an OAI set only.
	Target *delivery.Target `json:"target,omitempty" yaml:"target,omitempty"`
	// NoManifest leaves out the sidecar manifest, for partners whose pick-up
	// directory must hold data files only.
	NoManifest bool `json:"no_manifest,omitempty" yaml:"no_manifest,omitempty"`
}

var codePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)

// Validate reports every problem of the profile at once.
func (p *Profile) Validate() error {
	var errs []error
	if !codePattern.MatchString(p.Code) {
		errs = append(errs, fmt.Errorf("code %q: 1-32 letters, digits, - or _, starting with a letter or digit", p.Code))
	}
	switch p.Format {
	case "", FormatMARCXML, FormatMARCXMLTarGz:
	default:
		errs = append(errs, fmt.Errorf("format %q: %s or %s", p.Format, FormatMARCXML, FormatMARCXMLTarGz))
	}
	if p.Every < 0 || p.Every > 0 && p.Every < MinEvery {
		errs = append(errs, fmt.Errorf("every %s: zero (on demand) or at least %s", p.Every, MinEvery))
	}
	if p.Every > 0 && p.Target == nil {
		errs = append(errs, errors.New("a schedule needs a target"))
	}
	if p.Target != nil {
		if err := p.Target.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("target: %w", err))
		}
	}
	for _, v := range append(append(slices.Clone(p.Selection.Libraries), p.Selection.Locations...), p.Selection.MaterialTypes...) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, errors.New("selection: an empty code"))
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("publishing profile %s: %w", p.Code, errors.Join(errs...))
	}
	return nil
}

func (p *Profile) enrichment() oai.Enrichment {
	return oai.Enrichment{Holdings: p.Holdings, Items: p.Items}
}

func (p *Profile) format() string {
	if p.Format == "" {
		return FormatMARCXML
	}
	return p.Format
}

// SaveProfiles validates profiles and stores them in one transaction, all
// or none. Libraries and locations named in selections must exist.
func SaveProfiles(ctx context.Context, db store.DB, ps ...Profile) error {
	var errs []error
	for i := range ps {
		if err := ps[i].Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var unknown []error
	err := db.Update(ctx, func(tx store.Tx) error {
		unknown = unknown[:0]
		for _, p := range ps {
			for _, l := range p.Selection.Libraries {
				if _, err := tx.Library(l); errors.Is(err, store.ErrNotFound) {
					unknown = append(unknown, fmt.Errorf("publishing profile %s: no library %s", p.Code, l))
				}
			}
			for _, l := range p.Selection.Locations {
				if _, err := tx.Location(l); errors.Is(err, store.ErrNotFound) {
					unknown = append(unknown, fmt.Errorf("publishing profile %s: no location %s", p.Code, l))
				}
			}
		}
		if len(unknown) > 0 {
			return nil
		}
		for _, p := range ps {
			doc, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := tx.PutProfile(ProfileType, p.Code, doc); err != nil {
				return err
			}
		}
		_, err := tx.Emit(store.Event{At: time.Now(), Kind: "profile.update", Agent: "cli"})
		return err
	})
	if err != nil {
		return err
	}
	return errors.Join(unknown...)
}

// LoadProfiles returns every publishing profile in code order.
func LoadProfiles(ctx context.Context, db store.DB) ([]Profile, error) {
	var out []Profile
	err := db.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = profilesIn(tx)
		return err
	})
	return out, err
}

// LoadProfile returns one publishing profile; store.ErrNotFound when none
// has the code.
func LoadProfile(ctx context.Context, db store.DB, code string) (Profile, error) {
	var p Profile
	err := db.View(ctx, func(tx store.Tx) error {
		doc, err := tx.Profile(ProfileType, code)
		if err != nil {
			return err
		}
		return json.Unmarshal(doc, &p)
	})
	if errors.Is(err, store.ErrNotFound) {
		return p, fmt.Errorf("no publishing profile %s: %w", code, err)
	}
	return p, err
}

// RemoveProfile deletes a publishing profile and its run state.
func RemoveProfile(ctx context.Context, db store.DB, code string) error {
	return db.Update(ctx, func(tx store.Tx) error {
		if err := tx.DeleteProfile(ProfileType, code); err != nil {
			return fmt.Errorf("publishing profile %s: %w", code, err)
		}
		return tx.SetMeta(stateKey(code), runState{})
	})
}

func profilesIn(tx store.Tx) ([]Profile, error) {
	var out []Profile
	err := tx.Profiles(ProfileType, func(code string, doc []byte) error {
		var p Profile
		if err := json.Unmarshal(doc, &p); err != nil {
			return fmt.Errorf("publishing profile %s: %w", code, err)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}
