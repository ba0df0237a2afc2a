package marc

import (
	"bytes"
	"io"
	"testing"
)

// benchFile is n copies of a realistic record of about 1 KB with its items.
func benchFile(n int, write func(*Record) []byte) []byte {
	rec := book("ocm00000001")
	rec.Data = append(rec.Data,
		DataField{Tag: "504", Ind1: " ", Ind2: " ", Subfields: []Subfield{{"a", "Includes bibliographical references and index."}}},
		DataField{Tag: "520", Ind1: " ", Ind2: " ", Subfields: []Subfield{{"a", "The authoritative resource to writing clear and idiomatic Go to solve real-world problems, from the basics of the language to concurrency, packages, testing and reflection."}}},
		DataField{Tag: "952", Ind1: " ", Ind2: " ", Subfields: []Subfield{{"a", "EAST"}, {"b", "EAST"}, {"c", "REF"}, {"o", "QA76.73.G63 D66 2016 c.3"}, {"p", "31000000003"}, {"y", "REF"}, {"g", "45.00"}, {"7", "1"}}},
	)
	one := write(rec)
	return bytes.Repeat(one, n)
}

func BenchmarkReader(b *testing.B) {
	file := benchFile(1000, func(r *Record) []byte { return marshal(b, r) })
	benchRead(b, file, func(r io.Reader) RecordReader { return NewReader(r) })
}

func BenchmarkXMLReader(b *testing.B) {
	file := benchFile(1000, func(r *Record) []byte { return r.AppendXML(nil) })
	file = append(append([]byte("<collection>"), file...), "</collection>"...)
	benchRead(b, file, func(r io.Reader) RecordReader { return NewXMLReader(r) })
}

// benchRead reads every record of file with a fresh reader per round.
func benchRead(b *testing.B, file []byte, open func(io.Reader) RecordReader) {
	b.ReportAllocs()
	b.ResetTimer()
	records := 0
	for b.Loop() {
		r := open(bytes.NewReader(file))
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.SetBytes(int64(len(file)))
}
