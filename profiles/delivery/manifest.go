package delivery

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ManifestSuffix ends the name of the sidecar manifest of a delivered file.
const ManifestSuffix = ".manifest.json"

// ManifestName returns the name of the sidecar manifest for a data file.
func ManifestName(name string) string { return name + ManifestSuffix }

// Summary is what a file holds, as the producer counted it: the control
// figures a consumer checks before processing.
type Summary struct {
	// Records is the number of records in the file.
	Records int `json:"records"`
	// Totals are control totals per ISO 4217 currency code, as decimal
	// strings ("12.50", "-3.00") so no float rounding creeps in.
	Totals map[string]string `json:"totals,omitempty"`
	// FirstID and LastID are the first and last transaction identifiers in
	// the file, when it has them.
	FirstID string `json:"first_id,omitempty"`
	LastID  string `json:"last_id,omitempty"`
}

// Manifest is the sidecar NAME.manifest.json uploaded after a data file.
type Manifest struct {
	File    string    `json:"file"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`
	Summary
}

// Encode renders the manifest. The same manifest always gives the same
// bytes, so a re-sent manifest compares equal to the one already there. It
// fails only for a Created time outside years 0-9999.
func (m Manifest) Encode() ([]byte, error) {
	m.Created = m.Created.UTC()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", m.File, err)
	}
	return append(b, '\n'), nil
}

// ParseManifest reads a manifest, leniently: unknown fields are ignored,
// totals may be JSON numbers or strings, currency codes any case. The
// result is checked with Validate.
func ParseManifest(b []byte) (Manifest, error) {
	var raw struct {
		File    string                     `json:"file"`
		Size    *int64                     `json:"size"`
		SHA256  string                     `json:"sha256"`
		Created time.Time                  `json:"created"`
		Records int                        `json:"records"`
		Totals  map[string]json.RawMessage `json:"totals"`
		FirstID string                     `json:"first_id"`
		LastID  string                     `json:"last_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if raw.Size == nil {
		return Manifest{}, errors.New("manifest: size is missing")
	}
	m := Manifest{File: raw.File, Size: *raw.Size, SHA256: strings.ToLower(raw.SHA256), Created: raw.Created,
		Summary: Summary{Records: raw.Records, FirstID: raw.FirstID, LastID: raw.LastID}}
	if len(raw.Totals) > 0 {
		m.Totals = make(map[string]string, len(raw.Totals))
		for cur, v := range raw.Totals {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				var n json.Number
				if err := json.Unmarshal(v, &n); err != nil {
					return Manifest{}, fmt.Errorf("manifest: total for %q is neither a number nor a string", cur)
				}
				s = n.String()
			}
			m.Totals[strings.ToUpper(cur)] = s
		}
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Validate reports every problem with the manifest.
func (m Manifest) Validate() error {
	var errs []error
	if err := checkName(m.File); err != nil {
		errs = append(errs, fmt.Errorf("manifest file: %w", err))
	}
	if m.Size < 0 {
		errs = append(errs, fmt.Errorf("manifest size %d is negative", m.Size))
	}
	if !isSHA256Hex(m.SHA256) {
		errs = append(errs, errors.New("manifest sha256 is not 64 hex digits"))
	}
	if err := m.Summary.validate(); err != nil {
		errs = append(errs, fmt.Errorf("manifest: %w", err))
	}
	if err := checkTime(m.Created); err != nil {
		errs = append(errs, fmt.Errorf("manifest: %w", err))
	}
	return errors.Join(errs...)
}

// Check reports whether a file of the given size and sha256 (hex) is the one
// the manifest describes.
func (m Manifest) Check(size int64, sha256Hex string) error {
	if size != m.Size || !strings.EqualFold(sha256Hex, m.SHA256) {
		return fmt.Errorf("%s: size %d sha256 %s does not match manifest (size %d sha256 %s): %w",
			m.File, size, sha256Hex, m.Size, m.SHA256, ErrConflict)
	}
	return nil
}

func (s Summary) validate() error {
	var errs []error
	if s.Records < 0 {
		errs = append(errs, fmt.Errorf("records %d is negative", s.Records))
	}
	for cur, amount := range s.Totals {
		if !isCurrency(cur) {
			errs = append(errs, fmt.Errorf("total currency %q is not an ISO 4217 code", cur))
		}
		if !isDecimal(amount) {
			errs = append(errs, fmt.Errorf("total %s %q is not a decimal amount", cur, amount))
		}
	}
	return errors.Join(errs...)
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// isDecimal accepts an optionally signed decimal with at most one point.
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || (hasPoint && frac == "") {
		return false
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// checkTime accepts times that JSON (RFC 3339) can carry.
func checkTime(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("created year %d is outside 0-9999", y)
	}
	return nil
}
