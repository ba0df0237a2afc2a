package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileVersion is the version of the YAML export format.
const fileVersion = 1

// yamlFile is an export of the profiles of one type.
type yamlFile[T any] struct {
	Version  int    `yaml:"version"`
	Type     string `yaml:"type"`
	Profiles []T    `yaml:"profiles"`
}

// ExportYAML writes the profiles of a type (secrets only as hashes) in the
// form ImportYAML reads.
func ExportYAML(w io.Writer, s *Snapshot, typ string) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	defer enc.Close()
	switch typ {
	case TypeSelfCheck:
		return enc.Encode(yamlFile[*SelfCheck]{fileVersion, typ, sorted(s.SelfCheck)})
	case TypeNCIP:
		return enc.Encode(yamlFile[*NCIPPartner]{fileVersion, typ, sorted(s.NCIP)})
	case TypeStorage:
		return enc.Encode(yamlFile[*Storage]{fileVersion, typ, sorted(s.Storage)})
	case TypeLDAP:
		return enc.Encode(yamlFile[*LDAP]{fileVersion, typ, sorted(s.LDAP)})
	}
	if IsExchangeType(typ) {
		var ps []*Exchange
		for _, p := range sorted(s.Exchange) {
			if p.Type == typ {
				ps = append(ps, p)
			}
		}
		return enc.Encode(yamlFile[*Exchange]{fileVersion, typ, ps})
	}
	return fmt.Errorf("unknown profile type %q", typ)
}

func sorted[T any](m map[string]T) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// ImportYAML reads profiles of a type, hashing plain secrets, and validates
// every one; it returns all problems at once and no profile when any fails.
// Each entry starts from the defaults `add` gives a new profile (New), so a
// file that leaves a setting out gets the same profile as the command line.
func ImportYAML(r io.Reader, typ string) ([]Profile, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var ps []Profile
	switch typ {
	case TypeSelfCheck:
		ps, err = decodeAs[SelfCheck](data, typ)
	case TypeNCIP:
		ps, err = decodeAs[NCIPPartner](data, typ)
	case TypeStorage:
		ps, err = decodeAs[Storage](data, typ)
	case TypeLDAP:
		ps, err = decodeAs[LDAP](data, typ)
	case TypeBursar, TypeUsers, TypeRequests, TypeSMS:
		ps, err = decodeAs[Exchange](data, typ)
		for _, p := range ps {
			if e := p.(*Exchange); e.Type != typ {
				err = errors.Join(err, fmt.Errorf("profile %s has type %q in a %s file", e.Code, e.Type, typ))
			}
		}
	default:
		return nil, fmt.Errorf("unknown profile type %q", typ)
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.ProfileCode()] {
			errs = append(errs, fmt.Errorf("profile %s appears twice", p.ProfileCode()))
		}
		seen[p.ProfileCode()] = true
		if err := Prepare(p); err != nil {
			return nil, err
		}
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("profile %s: %w", p.ProfileCode(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ps, nil
}

// decodeAs reads the file twice: strictly into bare profiles, which catches
// unknown fields and wrong types with yaml's own messages and gives each
// entry's code; then each entry over the defaults of a new profile with that
// code.
func decodeAs[T any, PT interface {
	*T
	Profile
}](data []byte, typ string) ([]Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f yamlFile[*T]
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file")
		}
		return nil, err
	}
	if f.Type != typ {
		return nil, fmt.Errorf("file holds %q profiles, not %q", f.Type, typ)
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("file version %d, this circa reads %d", f.Version, fileVersion)
	}
	var nodes yamlFile[yaml.Node]
	if err := yaml.Unmarshal(data, &nodes); err != nil {
		return nil, err
	}
	out := make([]Profile, 0, len(f.Profiles))
	for i, p := range f.Profiles {
		if p == nil {
			return nil, errors.New("an empty profile entry")
		}
		def, err := New(typ, PT(p).ProfileCode())
		if err != nil {
			return nil, err
		}
		if err := decodeOver(&nodes.Profiles[i], def); err != nil {
			return nil, err
		}
		out = append(out, def)
	}
	return out, nil
}

// decodeOver decodes an entry over a profile's defaults: a setting the entry
// leaves out keeps its default, and one it gives replaces the default whole,
// as a flag of add does (a schedule given as every_minutes keeps no default
// time of day).
func decodeOver(n *yaml.Node, p Profile) error {
	v := reflect.ValueOf(p).Elem()
	if n.Kind == yaml.MappingNode && v.Kind() == reflect.Struct {
		given := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			given[n.Content[i].Value] = true
		}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" {
				name = strings.ToLower(t.Field(i).Name)
			}
			if given[name] && t.Field(i).IsExported() {
				v.Field(i).SetZero()
			}
		}
	}
	return n.Decode(p)
}
