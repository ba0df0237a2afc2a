package exchange

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/store"
)

// BursarNamespace is the namespace of Alma's bursar fine/fee files.
const BursarNamespace = "http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans"

// fineFeeTypes names SIP2 fee types as bursar files do.
var fineFeeTypes = map[string]string{
	"01": "OTHER", "02": "ADMINISTRATIVE", "03": "DAMAGEDITEMFINE", "04": "OVERDUEFINE",
	"05": "LOSTITEMPROCESSFEE", "06": "RENTAL", "07": "LOSTITEMREPLACEMENTFEE", "08": "COMPUTERACCESS",
	"09": "HOLDFEE",
}

func fineFeeType(sip2 string) string {
	if t, ok := fineFeeTypes[sip2]; ok {
		return t
	}
	return "OTHER"
}

func (s *Scheduler) buildBursar(ctx context.Context, p *profiles.Exchange) (int, error) {
	b := p.Bursar
	now := s.o.Circ.Now().Truncate(time.Second)
	agent := circ.Agent{Protocol: "exchange", Account: p.Code, Library: p.Library}
	fees, err := s.o.Circ.ExportFees(ctx, circ.ExportFeesRequest{Agent: agent, FeeTypes: b.FeeTypes, Libraries: b.Libraries,
		MinAmount: b.MinAmount, IdentifierType: b.IdentifierType, Limit: p.Records(), TxnPrefix: p.Code},
		func(tx store.Tx, fees []circ.ExportedFee) error {
			st, err := loadState(tx, p.Code)
			if err != nil {
				return err
			}
			pl, err := s.bursarPlaces(tx)
			if err != nil {
				return err
			}
			content, sum := renderBursar(st.Files+1, b.IdentifierType, pl, fees)
			_, err = addEntry(tx, p, now, "xml", content, sum)
			return err
		})
	return len(fees), err
}

// places is what a bursar file says about where a fee belongs: the
// institution, each library's name and zone, each location's name.
type places struct {
	institution string
	zone        func(library string) *time.Location
	library     func(code string) string // its name, or the code
	location    func(code string) string // its name, or the code
}

// bursarPlaces reads places from tx, each library and location once.
func (s *Scheduler) bursarPlaces(tx store.Tx) (places, error) {
	in, err := tx.Institution()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return places{}, err
	}
	names := map[string]string{}
	name := func(kind, code string, get func(string) (string, error)) string {
		key := kind + "/" + code
		if n, ok := names[key]; ok {
			return n
		}
		n, err := get(code)
		if err != nil || n == "" {
			n = code
		}
		names[key] = n
		return n
	}
	return places{
		institution: in.Code,
		zone:        func(library string) *time.Location { return s.o.Circ.Zone(tx, library) },
		library: func(code string) string {
			return name("library", code, func(c string) (string, error) { l, err := tx.Library(c); return l.Name, err })
		},
		location: func(code string) string {
			return name("location", code, func(c string) (string, error) { l, err := tx.Location(c); return l.Name, err })
		},
	}, nil
}

// renderBursar writes fees in the shape of Alma's bursar export: an
// xml-fragment holding two userExportedFineFees, the first with the export
// number, the second with the users and their fees. Element names and order
// follow Alma's files, itemCallNumebr spelling included, because bursar
// software keys on them: owneredEntity names the institution and the fee's
// library (Alma's libraryId is its internal number; circa's libraries are
// known by their codes), itemLibrary and itemLocation are names, and
// itemInternalLocation is "location code: library name". circa's fees carry
// no VAT, which Alma writes as a nil vat. bursarTransactionId is the fee's
// number, as Alma writes its fee ids: bursar jobs read it as an unsigned
// integer.
func renderBursar(exportNumber uint64, idType string, pl places, fees []circ.ExportedFee) ([]byte, delivery.Summary) {
	sort.SliceStable(fees, func(i, j int) bool {
		if fees[i].PatronID != fees[j].PatronID {
			return fees[i].PatronID < fees[j].PatronID
		}
		return fees[i].Fee.ID < fees[j].Fee.ID
	})
	totals := map[string]int64{}
	w := newXW()
	w.open("xb:xml-fragment", "xmlns:xb", BursarNamespace, "xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	w.open("xb:userExportedFineFees")
	w.elem("xb:exportNumber", strconv.FormatUint(exportNumber, 10))
	w.close("xb:userExportedFineFees")
	w.open("xb:userExportedFineFees")
	w.open("xb:userExportedList")
	for i := 0; i < len(fees); {
		j := i
		for j < len(fees) && fees[j].PatronID == fees[i].PatronID {
			j++
		}
		w.open("xb:userExportedFineFeesList")
		w.open("xb:user")
		w.elem("xb:type", idType)
		w.elem("xb:value", fees[i].MatchID)
		w.open("xb:owneredEntity")
		w.elem("xb:InstitutionId", pl.institution)
		w.close("xb:owneredEntity")
		w.close("xb:user")
		w.elem("xb:patronName", fees[i].PatronName)
		w.open("xb:finefeeList")
		for _, e := range fees[i:j] {
			f := e.Fee
			w.open("xb:userFineFee")
			w.elem("xb:fineFeeComment", f.Description)
			w.elem("xb:fineFeeType", fineFeeType(f.Type))
			w.open("xb:owneredEntity")
			w.elem("xb:InstitutionId", pl.institution)
			w.elem("xb:libraryId", f.Library)
			w.elem("xb:libraryCode", f.Library)
			w.close("xb:owneredEntity")
			w.elem("xb:lastTransactionDate", e.LastActivity.In(pl.zone(f.Library)).Format(bursarTimeLayout))
			w.elem("xb:itemTitle", e.Title)
			w.elem("xb:itemCallNumebr", e.Item.CallNumber)
			var library, location, internal string
			if e.Item.Library != "" {
				library = pl.library(e.Item.Library)
			}
			if e.Item.Location != "" {
				location, internal = pl.location(e.Item.Location), e.Item.Location+": "+library
			}
			w.elem("xb:itemLibrary", library)
			w.elem("xb:itemLocation", location)
			w.elem("xb:itemInternalLocation", internal)
			if e.Due.IsZero() {
				w.elem("xb:itemDueDate", "", "xsi:nil", "true")
			} else {
				w.elem("xb:itemDueDate", e.Due.In(pl.zone(e.Item.Library)).Format(bursarTimeLayout))
			}
			w.elem("xb:itemBarcode", e.Item.Barcode)
			w.open("xb:compositeSum")
			w.elem("xb:currency", f.Currency)
			w.elem("xb:sum", circ.FormatAmount(f.Balance, f.Currency))
			w.elem("xb:vat", "", "xsi:nil", "true")
			w.close("xb:compositeSum")
			w.elem("xb:bursarTransactionId", strconv.FormatUint(f.ID, 10))
			w.close("xb:userFineFee")
			totals[strings.ToUpper(f.Currency)] += f.Balance
		}
		w.close("xb:finefeeList")
		w.close("xb:userExportedFineFeesList")
		i = j
	}
	w.close("xb:userExportedList")
	w.close("xb:userExportedFineFees")
	w.close("xb:xml-fragment")
	sum := delivery.Summary{Records: len(fees), Totals: map[string]string{}}
	for cur, v := range totals {
		sum.Totals[cur] = circ.FormatAmount(v, cur)
	}
	if len(fees) > 0 {
		sum.FirstID, sum.LastID = strconv.FormatUint(fees[0].Fee.ID, 10), strconv.FormatUint(fees[len(fees)-1].Fee.ID, 10)
	}
	return w.bytes(), sum
}

// bursarTimeLayout is how Alma's bursar files write times: month first, in
// the library's zone, with the zone's abbreviation (11/04/2026 14:05:00 EST).
// Bursar jobs parse this layout; RFC 3339 times fail them.
const bursarTimeLayout = "01/02/2006 15:04:05 MST"

// xmlFineFee is the part of a userFineFee an import reads.
type xmlFineFee struct {
	TransactionID string `xml:"bursarTransactionId"`
	Currency      string `xml:"compositeSum>currency"`
	Sum           string `xml:"compositeSum>sum"`
}

// xmlBursarUser is the user a userExportedFineFeesList is for.
type xmlBursarUser struct {
	Type  string `xml:"type"`
	Value string `xml:"value"`
}

// ParseBursar reads a bursar payment file (the export's shape) into payment
// lines, each naming its fee by number or, from files of earlier versions,
// by CODE-N, each with the user of its userExportedFineFeesList and a key made
// of the file's digest and the line, which tells a file read again from a
// new one. Every problem is collected: a missing transaction id or amount,
// an amount that is not a number, a transaction id repeated, broken or
// truncated XML, text that is not in its declared encoding. Any problem
// refuses the whole file (*FileError). A negative or zero amount parses:
// circulation reports it as an exception.
func ParseBursar(name string, data []byte) ([]circ.BursarPayment, error) {
	fe := &FileError{File: name}
	if p := checkText(data); p != nil {
		fe.Problems = append(fe.Problems, *p)
		return nil, fe
	}
	d := newDecoder(bytes.NewReader(data))
	var out []circ.BursarPayment
	seen := map[string]int{}
	sawRoot := false
	digest := sha256.Sum256(data)
	var user xmlBursarUser
	for len(fe.Problems) < maxProblems {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fe.Problems = append(fe.Problems, xmlProblem(d, err))
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "xml-fragment", "userExportedFineFees":
			sawRoot = true
			continue
		case "userExportedFineFeesList":
			user = xmlBursarUser{}
			continue
		case "user":
			if err := d.DecodeElement(&user, &se); err != nil {
				fe.Problems = append(fe.Problems, xmlProblem(d, err))
				return nil, fe
			}
			continue
		case "userFineFee":
		default:
			continue
		}
		line, _ := d.InputPos()
		var f xmlFineFee
		if err := d.DecodeElement(&f, &se); err != nil {
			fe.Problems = append(fe.Problems, xmlProblem(d, err))
			break
		}
		txn := strings.TrimSpace(f.TransactionID)
		cur := strings.ToUpper(strings.TrimSpace(f.Currency))
		var lineProblems []string
		if txn == "" {
			lineProblems = append(lineProblems, "no bursarTransactionId")
		} else if first, dup := seen[txn]; dup {
			lineProblems = append(lineProblems, fmt.Sprintf("transaction %s repeats line %d", txn, first))
		} else {
			seen[txn] = line
		}
		if len(cur) != 3 {
			lineProblems = append(lineProblems, fmt.Sprintf("currency %q is not an ISO 4217 code", f.Currency))
		}
		sum, negative := strings.CutPrefix(strings.TrimSpace(f.Sum), "-")
		amount, err := circ.ParseAmount(sum, cur)
		if err != nil {
			lineProblems = append(lineProblems, "sum: "+err.Error())
		}
		if negative {
			amount = -amount
		}
		if len(lineProblems) > 0 {
			fe.Problems = append(fe.Problems, LineError{Line: line, Msg: strings.Join(lineProblems, "; ")})
			continue
		}
		out = append(out, circ.BursarPayment{Line: line, TransactionID: txn, Amount: amount, Currency: cur,
			UserType: strings.TrimSpace(user.Type), UserValue: strings.TrimSpace(user.Value),
			Key: fmt.Sprintf("bursar-payment:%x:%d", digest[:12], line)})
	}
	if !sawRoot && len(fe.Problems) == 0 {
		fe.Problems = append(fe.Problems, LineError{Line: 1, Msg: "not a bursar file (no xml-fragment or userExportedFineFees)"})
	}
	if len(fe.Problems) > 0 {
		return nil, fe
	}
	return out, nil
}

// importBursar applies a bursar payment file and reports its exceptions.
func (s *Scheduler) importBursar(ctx context.Context, p *profiles.Exchange, name string, data []byte, o RunOptions, run *Run) error {
	lines, err := ParseBursar(name, data)
	if err != nil {
		return err
	}
	agent := circ.Agent{Protocol: "exchange", Account: p.Code, Library: p.Library}
	for i := range lines {
		if lines[i].UserType == "" {
			lines[i].UserType = p.Bursar.IdentifierType
		}
	}
	if o.DryRun {
		for _, l := range lines {
			o.emit(fmt.Sprintf("line %d: would apply payment %s of %s %s", l.Line, l.TransactionID,
				circ.FormatAmount(l.Amount, l.Currency), l.Currency))
		}
		return nil
	}
	outcomes, err := s.o.Circ.MarkExportedFeesPaid(ctx, agent, lines)
	if err != nil {
		return err
	}
	var report []string
	for _, oc := range outcomes {
		if oc.Applied() {
			run.Records++
		}
		if oc.Exception() {
			report = append(report, fmt.Sprintf("line %d: transaction %s: %s %s", oc.Line, oc.TransactionID, oc.Outcome, oc.Detail))
		}
	}
	return s.report(p, name, report, run)
}

func (o RunOptions) emit(line string) {
	if o.Out != nil {
		o.Out(line)
	}
}
