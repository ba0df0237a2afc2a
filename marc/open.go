package marc

import (
	"bufio"
	"io"
)

// RecordReader is what NewReader and NewXMLReader return.
type RecordReader interface {
	// Next returns the next record, a *RecordError for one that could not
	// be read, io.EOF at the end, or another error that ends the file.
	Next() (*Record, error)
	// Offset returns the number of bytes consumed so far.
	Offset() int64
}

// Open returns a MARCXML reader when the first byte of r that is not
// white space (or a UTF-8 byte order mark) is '<', else an ISO 2709 reader.
func Open(r io.Reader) (RecordReader, error) {
	br := bufio.NewReaderSize(r, maxRecord+1)
	if b, _ := br.Peek(3); string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	for i := 0; ; i++ {
		buf, err := br.Peek(i + 1)
		if len(buf) <= i {
			if err == io.EOF || err == bufio.ErrBufferFull {
				return NewReader(br), nil
			}
			return nil, err
		}
		switch buf[i] {
		case ' ', '\t', '\r', '\n':
			continue
		case '<':
			return NewXMLReader(br), nil
		}
		return NewReader(br), nil
	}
}
