package exchange

import (
	"bytes"
	"errors"
	"testing"
)

const bursarSeed = `<?xml version="1.0" encoding="UTF-8"?>
<xb:xml-fragment xmlns:xb="http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans">
 <xb:userExportedFineFees><xb:exportNumber>1001</xb:exportNumber></xb:userExportedFineFees>
 <xb:userExportedFineFees>
  <xb:userExportedList><xb:userExportedFineFeesList>
    <xb:user><xb:type>STUDENT_ID</xb:type><xb:value>900123456</xb:value></xb:user>
    <xb:patronName>Lovelace, Ada</xb:patronName>
    <xb:finefeeList><xb:userFineFee>
      <xb:fineFeeType>OVERDUEFINE</xb:fineFeeType>
      <xb:itemCallNumebr>QA76 .L68</xb:itemCallNumebr>
      <xb:itemDueDate xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>
      <xb:compositeSum><xb:currency>USD</xb:currency><xb:sum>3.50</xb:sum></xb:compositeSum>
      <xb:bursarTransactionId>B-2025-000042</xb:bursarTransactionId>
    </xb:userFineFee></xb:finefeeList>
  </xb:userExportedFineFeesList></xb:userExportedList>
 </xb:userExportedFineFees>
</xb:xml-fragment>
`

// FuzzParseBursar checks that any input either parses into well-formed
// payment lines or is refused with located problems, never both and never
// a panic.
func FuzzParseBursar(f *testing.F) {
	f.Add([]byte(bursarSeed))
	f.Add([]byte(bytes.Replace([]byte(bursarSeed), []byte("UTF-8"), []byte("ISO-8859-1"), 1)))
	f.Add(bytes.Replace([]byte(bursarSeed), []byte(">B-2025-000042<"), []byte(">42<"), 1)) // as circa writes it now
	f.Add([]byte(bursarSeed[:400]))
	f.Add([]byte("<xb:xml-fragment/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := ParseBursar("f.xml", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || len(fe.Problems) == 0 || lines != nil {
				t.Fatalf("refusal without problems: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, l := range lines {
			// Amounts that are not positive parse; circulation refuses them.
			if l.TransactionID == "" || len(l.Currency) != 3 || seen[l.TransactionID] || l.Key == "" || seen[l.Key] {
				t.Fatalf("bad line accepted: %+v", l)
			}
			seen[l.TransactionID], seen[l.Key] = true, true
		}
	})
}

// FuzzParseUsers is the same for users files.
func FuzzParseUsers(f *testing.F) {
	f.Add(usersFile(2, 1))
	f.Add([]byte(`<users><user><primary_id>1</primary_id><last_name>A</last_name><user_blocks><user_block><block_type>X</block_type></user_block></user_blocks></user></users>`))
	f.Add(usersFile(1, 1)[:300])
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := ParseUsers("u.xml", data, "barcode")
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || len(fe.Problems) == 0 || users != nil {
				t.Fatalf("refusal without problems: %v", err)
			}
			return
		}
		for _, u := range users {
			if u.MatchValue == "" || u.LastName == "" {
				t.Fatalf("bad user accepted: %+v", u)
			}
		}
	})
}
