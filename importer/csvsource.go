package importer

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/charmap"
)

// CSVOptions say how to read a CSV file and what its rows are.
type CSVOptions struct {
	// Encoding of the file: "utf-8" (the default; a byte-order mark is
	// skipped), "windows-1252" or "latin-1" (ISO 8859-1).
	Encoding string
	// Parse turns a row into the record's key (a barcode) and value; an
	// error is the row's problem, reported with its line.
	Parse func(row Row) (key string, value any, err error)
	// UniqueKey, when set, names what the key is ("barcode"): a row whose
	// key an earlier row had is a problem.
	UniqueKey string
}

// Row is one data row of a CSV file.
type Row struct {
	Line   int // physical line the row starts on, 1-based
	cols   map[string]int
	fields []string
}

// Get is the trimmed value of a column (named as in the header, any
// case), "" when the file has no such column.
func (r Row) Get(col string) string {
	i, ok := r.cols[headerName(col)]
	if !ok || i >= len(r.fields) {
		return ""
	}
	return strings.TrimSpace(r.fields[i])
}

// Has reports whether the file has a column.
func (r Row) Has(col string) bool {
	_, ok := r.cols[headerName(col)]
	return ok
}

func headerName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CSVSource is a Source reading a CSV file with a header row. Each
// record's N is the line its row starts on (a quoted field spanning lines
// counts them all), so a report points at the line an editor shows.
type CSVSource struct {
	r      *csv.Reader
	lim    *rowLimit
	last   int // line of the last row read (the header's: 1)
	header []string
	cols   map[string]int
	o      CSVOptions
	seen   map[string]int // key → line first seen, with UniqueKey
}

// NewCSVSource reads the header of r.
func NewCSVSource(r io.Reader, o CSVOptions) (*CSVSource, error) {
	switch strings.ToLower(o.Encoding) {
	case "", "utf-8", "utf8":
		br := bufio.NewReader(r)
		if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
			br.Discard(3)
		}
		r = br
	case "windows-1252", "cp1252":
		r = charmap.Windows1252.NewDecoder().Reader(r)
	case "latin-1", "latin1", "iso-8859-1":
		r = charmap.ISO8859_1.NewDecoder().Reader(r)
	default:
		return nil, fmt.Errorf("unknown encoding %q: utf-8, windows-1252 or latin-1", o.Encoding)
	}
	lim := &rowLimit{r: r}
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty: it needs a header row naming its columns")
	}
	if err != nil {
		return nil, fmt.Errorf("header row: %w", err)
	}
	s := &CSVSource{r: cr, lim: lim, last: 1, header: header, cols: map[string]int{}, o: o}
	for i, h := range header {
		name := headerName(h)
		if name == "" {
			continue
		}
		if _, dup := s.cols[name]; dup {
			return nil, fmt.Errorf("the header names column %q twice", h)
		}
		s.cols[name] = i
	}
	if o.UniqueKey != "" {
		s.seen = map[string]int{}
	}
	return s, nil
}

// SetParse sets the row parser, which may depend on the header (a parser
// made with the Parse options of a source already open).
func (s *CSVSource) SetParse(parse func(Row) (string, any, error)) { s.o.Parse = parse }

// Columns are the header's column names as written.
func (s *CSVSource) Columns() []string { return s.header }

// Has reports whether the header names a column (any case).
func (s *CSVSource) Has(col string) bool {
	_, ok := s.cols[headerName(col)]
	return ok
}

// Next reads the next row.
func (s *CSVSource) Next() (Record, error) {
	s.lim.start = s.r.InputOffset()
	fields, err := s.r.Read()
	if errors.Is(err, io.EOF) {
		return Record{}, io.EOF
	}
	if errors.Is(err, errRowTooLong) {
		// Where the row ends is not known, so the rows after it cannot be read.
		return Record{}, fmt.Errorf("after line %d: %w", s.last, err)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		s.last = pe.StartLine
		return Record{}, &Problem{N: pe.StartLine, Reason: "unreadable CSV: " + pe.Err.Error(), Unit: "line"}
	}
	if err != nil {
		return Record{}, err
	}
	line, _ := s.r.FieldPos(0)
	s.last = line
	rec := Record{N: line, End: s.r.InputOffset(), Unit: "line"}
	if len(fields) != len(s.header) {
		return Record{}, Problemf(rec, "%d fields where the header has %d", len(fields), len(s.header))
	}
	key, value, err := s.o.Parse(Row{Line: line, cols: s.cols, fields: fields})
	rec.Key, rec.Value = key, value
	if err != nil {
		return Record{}, Problemf(rec, "%s", err.Error())
	}
	if s.seen != nil && key != "" {
		norm := strings.ToUpper(key)
		if first, dup := s.seen[norm]; dup {
			return Record{}, Problemf(rec, "duplicate %s: line %d has it too", s.o.UniqueKey, first)
		}
		s.seen[norm] = line
	}
	return rec, nil
}

// maxRow bounds a row of a CSV file, as the marc readers bound a record: a
// quote left open would otherwise read the rest of the file into one field.
const maxRow = 1 << 20

var errRowTooLong = fmt.Errorf("a row is longer than %d bytes: is a quote left open?", maxRow)

// rowLimit is the reader under the csv.Reader. It fails once the row being
// read (from start, the csv.Reader's offset when the row began) has taken
// more than maxRow bytes; the csv.Reader reads ahead at most its buffer's
// size.
type rowLimit struct {
	r     io.Reader
	read  int64 // bytes given to the csv.Reader
	start int64
}

func (l *rowLimit) Read(p []byte) (int, error) {
	if l.read-l.start > maxRow {
		return 0, errRowTooLong
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	return n, err
}
