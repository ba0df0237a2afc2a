package importer

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/marc"
)

// MARCSource reads the records of MARC files (ISO 2709 or MARCXML, told
// apart by the first byte) one after another. Records are numbered from 1
// across all the files; a record's key is its 001.
type MARCSource struct {
	names  []string
	file   *os.File
	reader marc.RecordReader
	base   int   // records in the files before the current one
	done   int64 // bytes of the files before the current one
	n      int   // records of the current file so far
}

// NewMARCSource reads the named files in order.
func NewMARCSource(names ...string) *MARCSource { return &MARCSource{names: names} }

// Next returns the next record, whose Value is a *circ.MARCRecord.
func (s *MARCSource) Next() (Record, error) {
	for {
		if s.reader == nil {
			if len(s.names) == 0 {
				return Record{}, io.EOF
			}
			f, err := os.Open(s.names[0])
			if err != nil {
				return Record{}, err
			}
			r, err := marc.Open(f)
			if err != nil {
				f.Close()
				return Record{}, fmt.Errorf("%s: %w", s.names[0], err)
			}
			s.file, s.reader = f, r
		}
		rec, err := s.reader.Next()
		var rerr *marc.RecordError
		switch {
		case err == nil:
			s.n++
			return Record{N: s.base + s.n, Key: rec.ControlValue("001"), End: s.done + s.reader.Offset(), Value: rec}, nil
		case errors.As(err, &rerr):
			s.n = rerr.N
			return Record{}, &Problem{N: s.base + rerr.N, Key: rerr.ID, Reason: rerr.Reason}
		case errors.Is(err, io.EOF):
			s.base += s.n
			s.done += s.reader.Offset()
			s.n = 0
			s.file.Close()
			s.file, s.reader, s.names = nil, nil, s.names[1:]
		default:
			return Record{}, fmt.Errorf("%s: %w", s.names[0], err)
		}
	}
}

// Close closes the file being read.
func (s *MARCSource) Close() error {
	if s.file == nil {
		return nil
	}
	return s.file.Close()
}

// MARCBatch is the number of catalogue records a transaction of `circa
// import marc` holds: twice the default, which halves the commits (and their
// fsyncs) of a large catalogue for about 10 MB more heap, measured in
// BenchmarkImportMARC.
const MARCBatch = 1000

// MARCApply imports a record of a MARCSource with the items the mapping
// finds in it, the bib matched as match says. The bib keeps the record
// without its item fields: circa's items say where the copies are and how
// they stand, and an export whose items changed still says the same of the
// bib.
func MARCApply(m ItemMapping, match circ.MatchBy) Apply {
	return func(b *circ.ImportBatch, rec Record) (Counts, error) {
		r := rec.Value.(*circ.MARCRecord)
		items, err := m.Items(r)
		if rec.Key == "" && len(items) > 0 {
			rec.Key = items[0].Barcode
		}
		if err != nil {
			return nil, Problemf(rec, "%v", err)
		}
		res, err := b.ImportMARC(m.WithoutItems(r), items, match)
		var p *circ.ImportProblem
		if errors.As(err, &p) {
			return nil, Problemf(rec, "%s", p.Reason)
		}
		if err != nil {
			return nil, err
		}
		c := Counts{"bibs " + res.Bib: 1}
		for k, v := range map[string]int{"items created": res.ItemsCreated, "items updated": res.ItemsUpdated,
			"items unchanged": res.ItemsUnchanged, "holdings created": res.HoldingsCreated} {
			if v > 0 {
				c[k] = v
			}
		}
		return c, nil
	}
}
