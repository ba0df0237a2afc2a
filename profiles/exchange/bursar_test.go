package exchange

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/delivery/sftptest"
	"github.com/circa-ils/circa/store"
)

func TestBursarExportOverSFTP(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	p := bursarProfile(tg)
	p.MaxRecords = 7 // several files
	e.save(p)
	open := len(e.fees()[store.FeeOpen])
	if open < 10 {
		t.Fatalf("the demo library has only %d open fees", open)
	}

	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil || run.Result != ResultOK {
		t.Fatalf("run: %+v, %v", run, err)
	}
	delivered := deliveredTxns(t, srv.Path("/out"))
	exported := e.exportedTxns()
	if len(delivered) == 0 || !sameKeys(delivered, exported) || run.Records != len(exported) {
		t.Fatalf("delivered %d, marked exported %d, run says %d", len(delivered), len(exported), run.Records)
	}
	if len(run.Files) != len(dataFiles(t, srv.Path("/out"))) || len(run.Files) < 2 {
		t.Fatalf("run files %v", run.Files)
	}
	// Shape: Alma's element names, the historical spelling included.
	data, _ := os.ReadFile(srv.Path("/out/" + run.Files[0]))
	for _, want := range []string{`<xb:xml-fragment xmlns:xb="` + BursarNamespace, "<xb:exportNumber>1</xb:exportNumber>",
		"<xb:userExportedFineFeesList>", "<xb:itemCallNumebr", "<xb:compositeSum>"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("file lacks %q", want)
		}
	}
	// bursarTransactionId is the fee's number, as Alma writes it.
	for _, f := range readAsBursarJob(t, data) {
		if !exported[strconv.FormatUint(f.TxnID, 10)] {
			t.Errorf("bursarTransactionId %d is not an exported fee's number", f.TxnID)
		}
	}
	// A second run has nothing new to send.
	run, err = e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil || len(run.Files) != 0 || run.Records != 0 {
		t.Fatalf("second run: %+v, %v", run, err)
	}
	hist, err := History(ctx, e.db, "BURSAR")
	if err != nil || len(hist) != 2 || hist[0].ID != 2 || hist[1].Records != len(exported) {
		t.Fatalf("history %+v, %v", hist, err)
	}
}

// consumerFineFee is what a bursar job reads of each userFineFee, parsed the
// way such jobs do: element names with the xb prefix's namespace, times in
// Alma's month-first layout with the library zone's abbreviation, the
// transaction id as an unsigned 64-bit integer (a C# job's ulong).
type consumerFineFee struct {
	Library  string `xml:"owneredEntity>libraryCode"`
	LastDate string `xml:"lastTransactionDate"`
	DueDate  string `xml:"itemDueDate"`
	TxnID    uint64 `xml:"bursarTransactionId"`
}

func readAsBursarJob(t *testing.T, data []byte) []consumerFineFee {
	t.Helper()
	var doc struct {
		Lists []struct {
			Fees []consumerFineFee `xml:"userExportedList>userExportedFineFeesList>finefeeList>userFineFee"`
		} `xml:"userExportedFineFees"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("a bursar job cannot read the file: %v", err)
	}
	if len(doc.Lists) != 2 {
		t.Fatalf("a bursar job reads the fees from the second userExportedFineFees; the file has %d", len(doc.Lists))
	}
	return doc.Lists[1].Fees
}

// TestBursarTimesAsAlmaWritesThem reads an export the way bursar jobs do:
// every time parses as MM/DD/YYYY HH:MM:SS TZ in the fee library's zone, and
// lastTransactionDate is the fee's own last change, not the export.
func TestBursarTimesAsAlmaWritesThem(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	e.save(bursarProfile(tg))
	before := map[uint64]time.Time{} // fee number → the fee's last change before the export
	for _, f := range e.fees()[store.FeeOpen] {
		last := f.Created
		if n := len(f.Transactions); n > 0 {
			last = f.Transactions[n-1].At
		}
		before[f.ID] = last
	}
	e.advance(72 * time.Hour) // the export is days after any fee changed
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil || len(run.Files) == 0 {
		t.Fatalf("run: %+v, %v", run, err)
	}
	data, err := os.ReadFile(srv.Path("/out/" + run.Files[0]))
	if err != nil {
		t.Fatal(err)
	}
	fees := readAsBursarJob(t, data)
	if len(fees) == 0 {
		t.Fatal("no fees in the file")
	}
	var zone *time.Location
	if err := e.db.View(ctx, func(tx store.Tx) error { zone = e.svc.Zone(tx, fees[0].Library); return nil }); err != nil {
		t.Fatal(err)
	}
	const layout = "01/02/2006 15:04:05 MST"
	dues := 0
	for _, f := range fees {
		got, err := time.ParseInLocation(layout, f.LastDate, zone)
		if err != nil {
			t.Fatalf("fee %d: lastTransactionDate %q: %v", f.TxnID, f.LastDate, err)
		}
		if abbr, _ := got.Zone(); !strings.HasSuffix(f.LastDate, " "+abbr) || abbr == "UTC" && zone != time.UTC {
			t.Errorf("fee %d: lastTransactionDate %q is not in the library's zone %s", f.TxnID, f.LastDate, zone)
		}
		want, ok := before[f.TxnID]
		if !ok {
			t.Fatalf("fee %d was not an open fee", f.TxnID)
		}
		if !got.Equal(want.Truncate(time.Second)) {
			t.Errorf("fee %d: lastTransactionDate %s, want the fee's own last change %s", f.TxnID, got, want.In(zone))
		}
		if f.DueDate != "" {
			dues++
			if _, err := time.ParseInLocation(layout, f.DueDate, zone); err != nil {
				t.Errorf("fee %d: itemDueDate %q: %v", f.TxnID, f.DueDate, err)
			}
		}
	}
	if dues == 0 {
		t.Error("no fee in the file has an item due date to check")
	}
}

func TestBursarExportFilters(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	p := bursarProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: dir})
	p.ImportDir, p.Bursar.ImportPattern = "", ""
	p.Bursar.FeeTypes, p.Bursar.MinAmount, p.Bursar.IdentifierType = []string{"04"}, 500, "university_id"
	e.save(p)
	if _, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range e.fees()[store.FeeExported] {
		if f.Type != "04" || f.Amount < 500 {
			t.Errorf("fee %d (type %s, %d) should not have been exported", f.ID, f.Type, f.Amount)
		}
		var p store.Patron
		e.db.View(ctx, func(tx store.Tx) error { p, _ = tx.Patron(f.PatronID); return nil })
		if !strings.Contains(fmt.Sprint(p.Identifiers), "university_id") {
			t.Errorf("fee %d of a patron without a university id was exported", f.ID)
		}
	}
}

// paymentFile turns a delivered export into the bursar's payment file (the
// same shape), with edits.
func paymentFile(t *testing.T, export []byte, edit func(string) string) []byte {
	t.Helper()
	return []byte(edit(string(export)))
}

// txnElem is a bursarTransactionId element naming txn.
func txnElem(txn string) string {
	return "<xb:bursarTransactionId>" + txn + "</xb:bursarTransactionId>"
}

// editFee changes the userFineFee of transaction txn in a bursar file.
func editFee(t *testing.T, s, txn string, edit func(block string) string) string {
	t.Helper()
	i := strings.Index(s, txnElem(txn))
	if i < 0 {
		t.Fatalf("no transaction %s", txn)
	}
	from := strings.LastIndex(s[:i], "<xb:userFineFee>")
	to := i + strings.Index(s[i:], "</xb:userFineFee>")
	return s[:from] + edit(s[from:to]) + s[to:]
}

var sumElem = regexp.MustCompile(`<xb:sum>[^<]*</xb:sum>`)

// TestBursarImportWithExceptions imports a payment file naming fees by
// number, as Alma's import takes it: a payment in full, in part and too much
// are applied (the last with a credit); an unknown transaction (a legacy id
// or a number no fee has), another patron, an amount that is not positive
// and another currency are reported and change nothing; the same file again
// pays nothing twice.
func TestBursarImportWithExceptions(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	e.save(bursarProfile(tg))
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	export, _ := os.ReadFile(srv.Path("/out/" + run.Files[0]))
	lines, err := ParseBursar("x", export)
	if err != nil {
		t.Fatal(err)
	}
	// The first patron's fees are claimed for someone else; six fees of
	// other patrons get the other cases; the rest are paid in full.
	stranger := lines[0].UserValue
	var others []circ.BursarPayment
	for _, l := range lines {
		if l.UserValue != stranger {
			others = append(others, l)
		}
	}
	if len(others) < 8 {
		t.Fatalf("the export has %d fees of other patrons than the first; the test needs 8", len(others))
	}
	unknown, partial, over, zero, negative, euro := others[0], others[1], others[2], others[3], others[4], others[5]
	noSuchNumber := others[6]
	for _, l := range lines {
		if _, ok := circ.FeeNumber(l.TransactionID); !ok {
			t.Fatalf("bursarTransactionId %q is not a fee number", l.TransactionID)
		}
	}
	sumOf := func(amount int64, cur string) string {
		return "<xb:sum>" + circ.FormatAmount(amount, cur) + "</xb:sum>"
	}
	payments := paymentFile(t, export, func(s string) string {
		s = strings.ReplaceAll(s, "<xb:value>"+stranger+"</xb:value>", "<xb:value>SOMEONE-ELSE</xb:value>")
		s = strings.Replace(s, txnElem(unknown.TransactionID), txnElem("NOSUCH-1"), 1)
		s = strings.Replace(s, txnElem(noSuchNumber.TransactionID), txnElem("18446744073709551615"), 1)
		s = editFee(t, s, partial.TransactionID, func(b string) string {
			return sumElem.ReplaceAllString(b, sumOf(partial.Amount-1, partial.Currency))
		})
		s = editFee(t, s, over.TransactionID, func(b string) string {
			return sumElem.ReplaceAllString(b, sumOf(over.Amount+250, over.Currency))
		})
		s = editFee(t, s, zero.TransactionID, func(b string) string { return sumElem.ReplaceAllString(b, "<xb:sum>0.00</xb:sum>") })
		s = editFee(t, s, negative.TransactionID, func(b string) string {
			return sumElem.ReplaceAllString(b, "<xb:sum>-"+circ.FormatAmount(negative.Amount, negative.Currency)+"</xb:sum>")
		})
		return editFee(t, s, euro.TransactionID, func(b string) string {
			return strings.Replace(b, "<xb:currency>"+euro.Currency+"<", "<xb:currency>EUR<", 1)
		})
	})
	if err := os.WriteFile(srv.Path("/in/payments_1.xml"), payments, 0o644); err != nil {
		t.Fatal(err)
	}
	before := e.fees()
	run, err = e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	strangers := len(lines) - len(others)
	refused := strangers + 5 // and unknown, noSuchNumber, zero, negative, euro
	if run.Records != len(lines)-refused || len(run.Reports) != 1 {
		t.Fatalf("import run: records %d of %d lines, %d refused expected; exceptions %v", run.Records, len(lines), refused, run.Exceptions)
	}
	report, _ := os.ReadFile(run.Reports[0])
	for _, want := range []string{"NOSUCH-1: unknown_transaction", "18446744073709551615: unknown_transaction",
		zero.TransactionID + ": bad_amount",
		negative.TransactionID + ": bad_amount", euro.TransactionID + ": currency_mismatch",
		lines[0].TransactionID + ": wrong_patron"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if n := strings.Count(string(report), "wrong_patron"); n != strangers {
		t.Errorf("%d wrong_patron lines, want %d", n, strangers)
	}
	byTxn := map[string]store.Fee{}
	var credits []store.Fee
	for st, fees := range e.fees() {
		for _, f := range fees {
			if st == store.FeeCredit {
				credits = append(credits, f)
			}
			for _, tr := range f.Transactions {
				if tr.Kind == store.TxnExport {
					byTxn[strconv.FormatUint(f.ID, 10)] = f
				}
			}
		}
	}
	if f := byTxn[partial.TransactionID]; f.Status != store.FeeExported || f.Balance != 1 {
		t.Errorf("fee paid in part: %s, balance %d", f.Status, f.Balance)
	}
	if f := byTxn[over.TransactionID]; f.Status != store.FeeExportedPaid || f.Balance != 0 {
		t.Errorf("overpaid fee: %s, balance %d", f.Status, f.Balance)
	}
	if len(credits) != 1 || credits[0].Balance != 250 || credits[0].PatronID != byTxn[over.TransactionID].PatronID {
		t.Errorf("credits %+v", credits)
	}
	for _, l := range append([]circ.BursarPayment{unknown, noSuchNumber, zero, negative, euro}, lines[:strangers]...) {
		if f := byTxn[l.TransactionID]; f.Status != store.FeeExported || f.Balance != l.Amount {
			t.Errorf("%s changed by a refused line: %s, balance %d", l.TransactionID, f.Status, f.Balance)
		}
	}
	if got, want := len(e.fees()[store.FeeExportedPaid]), len(before[store.FeeExportedPaid])+len(lines)-refused-1; got != want {
		t.Errorf("%d fees paid in full, want %d", got, want)
	}
	if _, err := os.Stat(srv.Path("/in/archive/payments_1.xml")); err != nil {
		t.Fatalf("applied file not archived: %v", err)
	}

	// The same file again pays nothing twice, the partial payment included.
	first := e.fees()
	again, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{Files: []string{srv.Path("/in/archive/payments_1.xml")}})
	if err != nil || again.Records != 0 {
		t.Fatalf("the same file again: %+v, %v", again, err)
	}
	for st, fees := range e.fees() {
		if len(fees) != len(first[st]) {
			t.Errorf("the same file again changed the %s fees: %d, were %d", st, len(fees), len(first[st]))
		}
	}
	for _, fee := range e.fees()[store.FeeExported] {
		if fee.ID == byTxn[partial.TransactionID].ID && fee.Balance != 1 {
			t.Fatalf("the partial payment was applied again: balance %d", fee.Balance)
		}
	}
}

// TestBursarImportReadsLegacyTransactionIDs applies a payment file that
// names fees in the CODE-N form earlier versions wrote: the ids are found
// through the fee transaction index and pay as numbers do.
func TestBursarImportReadsLegacyTransactionIDs(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	p := bursarProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: dir})
	p.ImportDir = ""
	e.save(p)
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	export, _ := os.ReadFile(filepath.Join(dir, run.Files[0]))
	lines, err := ParseBursar("x", export)
	if err != nil || len(lines) < 2 {
		t.Fatalf("%d lines, %v", len(lines), err)
	}
	partial := lines[1]
	s := string(export)
	s = editFee(t, s, partial.TransactionID, func(b string) string {
		return sumElem.ReplaceAllString(b, "<xb:sum>"+circ.FormatAmount(partial.Amount-1, partial.Currency)+"</xb:sum>")
	})
	for _, l := range lines {
		s = strings.Replace(s, txnElem(l.TransactionID), txnElem("BURSAR-"+l.TransactionID), 1)
	}
	path := filepath.Join(t.TempDir(), "payments_legacy.xml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	run, err = e.sched.RunNow(ctx, "BURSAR", RunOptions{Files: []string{path}})
	if err != nil || run.Records != len(lines) || len(run.Exceptions) != 0 {
		t.Fatalf("legacy ids: %+v, %v", run, err)
	}
	for _, l := range lines {
		id, _ := circ.FeeNumber(l.TransactionID)
		var f store.Fee
		if err := e.db.View(ctx, func(tx store.Tx) (err error) { f, err = tx.Fee(id); return err }); err != nil {
			t.Fatal(err)
		}
		want, status := int64(0), store.FeeExportedPaid
		if l.TransactionID == partial.TransactionID {
			want, status = 1, store.FeeExported
		}
		if f.Balance != want || f.Status != status {
			t.Errorf("fee %d: %s, balance %d; want %s, %d", id, f.Status, f.Balance, status, want)
		}
	}
}

func TestBursarImportRefusesBadFiles(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	p := bursarProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: dir})
	p.ImportDir = ""
	e.save(p)
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, run.Files[0]))
	lines, _ := ParseBursar("x", good)
	first := lines[0].TransactionID
	firstSum := circ.FormatAmount(lines[0].Amount, lines[0].Currency)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"truncated":  {good[:len(good)*2/3], "truncated"},
		"malformed":  {[]byte(strings.Replace(string(good), "</xb:sum>", "</xb:summ>", 1)), "line"},
		"not utf-8":  {[]byte(strings.Replace(string(good), "<xb:fineFeeComment", "<xb:x>\xe9t\xe9</xb:x><xb:fineFeeComment", 1)), "not UTF-8"},
		"duplicated": {[]byte(strings.Replace(string(good), txnElem(lines[1].TransactionID), txnElem(first), 1)), "repeats line"},
		"bad sum":    {[]byte(strings.Replace(string(good), "<xb:sum>"+firstSum, "<xb:sum>3,50", 1)), "not a number"},
		"no id":      {[]byte(strings.Replace(string(good), txnElem(first), txnElem(""), 1)), "no bursarTransactionId"},
		"encoding":   {[]byte(strings.Replace(string(good), `encoding="UTF-8"`, `encoding="EBCDIC"`, 1)), "not supported"},
		"other file": {[]byte("<users><user/></users>"), "not a bursar file"},
		"empty":      {nil, "empty"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "payments_bad.xml")
			os.WriteFile(path, c.data, 0o644)
			before := len(e.fees()[store.FeeExportedPaid])
			run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{Files: []string{path}})
			var fe *FileError
			if !errors.As(err, &fe) && !strings.Contains(fmt.Sprint(err), "refused") {
				t.Fatalf("want a refusal, got %v", err)
			}
			if !strings.Contains(strings.Join(run.Exceptions, "\n"), c.want) {
				t.Fatalf("report %q lacks %q", run.Exceptions, c.want)
			}
			if after := len(e.fees()[store.FeeExportedPaid]); after != before {
				t.Fatalf("a refused file paid %d fees", after-before)
			}
		})
	}
	// Latin-1, declared, is read.
	latin := strings.Replace(string(good), `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1)
	if _, err := ParseBursar("latin1.xml", []byte(latin)); err != nil {
		t.Fatalf("declared ISO-8859-1: %v", err)
	}
}

func TestBursarImportRefusesFileFailingItsManifest(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	e.save(bursarProfile(tg))
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := srv.Path("/out/" + run.Files[0])
	data, _ := os.ReadFile(out)
	man, _ := os.ReadFile(out + delivery.ManifestSuffix)
	// The partner's manifest describes other content than the file holds.
	os.WriteFile(srv.Path("/in/payments_1.xml"), append(data, ' '), 0o644)
	os.WriteFile(srv.Path("/in/payments_1.xml"+delivery.ManifestSuffix),
		[]byte(strings.Replace(string(man), run.Files[0], "payments_1.xml", 1)), 0o644)
	run, err = e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err == nil {
		t.Fatalf("a file failing its manifest was accepted: %+v", run)
	}
	if n := len(e.fees()[store.FeeExportedPaid]); n != 0 {
		t.Fatalf("%d fees paid from a file failing its manifest", n)
	}
	if _, err := os.Stat(srv.Path("/in/payments_1.xml")); err != nil {
		t.Fatal("the refused file should stay for the partner to see")
	}
}

// exactlyOnce runs the profile until it succeeds and checks that every
// exported fee was delivered once.
func exactlyOnce(t *testing.T, e *env, srv *sftptest.Server) {
	t.Helper()
	srv.SetFaults(sftptest.Faults{})
	if _, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); err != nil {
		t.Fatalf("run after the fault: %v", err)
	}
	delivered := deliveredTxns(t, srv.Path("/out"))
	exported := e.exportedTxns()
	if len(exported) == 0 || !sameKeys(delivered, exported) {
		t.Fatalf("delivered %d records, exported %d", len(delivered), len(exported))
	}
	st, err := ProfileStatus(ctx, e.db, "BURSAR")
	if err != nil || len(st.Pending) != 0 || st.Stopped != "" {
		t.Fatalf("status after recovery: %+v, %v", st, err)
	}
}

func TestFaultConnectionCutMidUpload(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	e.save(bursarProfile(tg))
	// Every attempt of the run is cut, so the run fails and leaves the
	// file pending; the next run finishes it.
	srv.SetFaults(sftptest.Faults{CutAfterBytes: 300})
	e.sched.afterSave = func(d delivery.Delivery) error {
		if d.Step == delivery.StepPending {
			srv.SetFaults(sftptest.Faults{CutAfterBytes: 300})
		}
		return nil
	}
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err == nil || run.Result != ResultFailed {
		t.Fatalf("want a failed run, got %+v, %v", run, err)
	}
	st, _ := ProfileStatus(ctx, e.db, "BURSAR")
	if len(st.Pending) != 1 {
		t.Fatalf("pending %v", st.Pending)
	}
	e.sched.afterSave = nil
	exactlyOnce(t, e, srv)
}

func TestFaultServerRefusesRename(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	e.save(bursarProfile(tg))
	srv.SetFaults(sftptest.Faults{RefuseRename: true})
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err == nil || run.Result != ResultStopped || !run.Permanent {
		t.Fatalf("a refused rename should stop the profile: %+v, %v", run, err)
	}
	st, _ := ProfileStatus(ctx, e.db, "BURSAR")
	if st.Stopped == "" {
		t.Fatal("profile not marked stopped")
	}
	if len(e.reports) == 0 || !e.reports[len(e.reports)-1].Run.Permanent {
		t.Fatal("the observer did not see the permanent failure")
	}
	if got := dataFiles(t, srv.Path("/out")); len(got) != 0 {
		t.Fatalf("files visible before the rename: %v", got)
	}
	exactlyOnce(t, e, srv)
}

// TestFaultKilled kills the process right after each delivery step is
// saved (between upload and rename among them), restarts it, and checks
// every fee reaches the bursar once.
func TestFaultKilled(t *testing.T) {
	for _, step := range []delivery.Step{delivery.StepPending, delivery.StepUploadedTemp, delivery.StepRenamed,
		delivery.StepVerified, delivery.StepDone} {
		t.Run(string(step), func(t *testing.T) {
			e := newEnv(t)
			srv, tg := sftpTarget(t)
			e.save(bursarProfile(tg))
			killed := errors.New("killed")
			e.sched.afterSave = func(d delivery.Delivery) error {
				if d.Step == step {
					return killed
				}
				return nil
			}
			if _, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); !strings.Contains(fmt.Sprint(err), "killed") {
				t.Fatalf("want the simulated kill, got %v", err)
			}
			// The process restarts: a new store handle, service and
			// scheduler, and the local outbox copy may be gone too.
			path := e.db.Describe()
			e.db.Close()
			os.RemoveAll(filepath.Join(e.dir, "outbox"))
			e.open(path)
			exactlyOnce(t, e, srv)
		})
	}
}

// TestFaultKilledAfterBuild kills the process after the file was built and
// its fees marked, before delivery began and before the local copy was
// written: the restarted run writes it from the outbox entry and sends it.
func TestFaultKilledAfterBuild(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	p := bursarProfile(tg)
	e.save(p)
	n, err := e.sched.buildBursar(ctx, p)
	if err != nil || n == 0 {
		t.Fatalf("build: %d, %v", n, err)
	}
	path := e.db.Describe()
	e.db.Close()
	e.open(path)
	exactlyOnce(t, e, srv)
}

func TestFaultLostRenameReply(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	e.save(bursarProfile(tg))
	srv.SetFaults(sftptest.Faults{CutAfterRename: true})
	if _, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); err != nil {
		t.Fatalf("a lost rename reply is retried within the run: %v", err)
	}
	exactlyOnce(t, e, srv)
}

func benchFees(n int) []circ.ExportedFee {
	fees := make([]circ.ExportedFee, n)
	for i := range fees {
		fees[i] = circ.ExportedFee{TransactionID: fmt.Sprintf("B-%d", i+1), MatchID: fmt.Sprintf("U%d", i/3),
			PatronName: "Lovelace, Ada", PatronID: uint64(i / 3), Title: "The quiet harbor",
			Fee: store.Fee{ID: uint64(i + 1), Type: "04", Balance: 350, Currency: "USD", Library: "MAIN",
				Transactions: []store.FeeTxn{{Kind: store.TxnExport, Amount: 350}}}}
	}
	return fees
}

// benchPlaces is a one-library institution in UTC.
var benchPlaces = places{institution: "INST", zone: func(string) *time.Location { return time.UTC },
	library: func(c string) string { return c }, location: func(c string) string { return c }}

func BenchmarkRenderBursar(b *testing.B) {
	fees := benchFees(1000)
	for b.Loop() {
		renderBursar(1, "barcode", benchPlaces, fees)
	}
}

func BenchmarkParseBursar(b *testing.B) {
	data, _ := renderBursar(1, "barcode", benchPlaces, benchFees(1000))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseBursar("b.xml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// almaFineFeeOrder is the order of a userFineFee's children in Alma's
// bursar files (and of the fields of consumers' models built from them).
var almaFineFeeOrder = []string{"fineFeeComment", "fineFeeType", "owneredEntity", "lastTransactionDate", "itemTitle",
	"itemCallNumebr", "itemLibrary", "itemLocation", "itemInternalLocation", "itemDueDate", "itemBarcode",
	"compositeSum", "bursarTransactionId"}

// libJobsPatron is a userExportedFineFeesList read as Princeton's lib_jobs
// reads Alma's bursar files: namespace-qualified names (its xb: prefix),
// found anywhere in the document, the user's value, each
// finefeeList/userFineFee with its compositeSum/sum as a decimal and its
// lastTransactionDate as "%m/%d/%Y %H:%M:%S %Z"; and every other field a
// real file carries, as Alma names them.
type libJobsPatron struct {
	UserType        string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans user>type"`
	UserValue       string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans user>value"`
	UserInstitution string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans user>owneredEntity>InstitutionId"`
	Name            string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans patronName"`
	Fees            []struct {
		Comment     string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans fineFeeComment"`
		Type        string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans fineFeeType"`
		Institution string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans owneredEntity>InstitutionId"`
		LibraryID   string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans owneredEntity>libraryId"`
		LibraryCode string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans owneredEntity>libraryCode"`
		LastDate    string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans lastTransactionDate"`
		Title       string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans itemTitle"`
		CallNumber  string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans itemCallNumebr"`
		Library     string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans itemLibrary"`
		Location    string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans itemLocation"`
		Internal    string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans itemInternalLocation"`
		Barcode     string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans itemBarcode"`
		Currency    string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans compositeSum>currency"`
		Sum         string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans compositeSum>sum"`
		VAT         struct {
			Nil string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
		} `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans compositeSum>vat"`
		TxnID string `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans bursarTransactionId"`
	} `xml:"http://com/exlibris/urm/rep/externalsysfinesfees/xmlbeans finefeeList>userFineFee"`
}

// readAsLibJobs finds every userExportedFineFeesList of a bursar file, and
// the order of each userFineFee's children.
func readAsLibJobs(t *testing.T, data []byte) (patrons []libJobsPatron, orders [][]string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(data)))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return patrons, orders
		}
		if err != nil {
			t.Fatalf("the file does not parse: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Space != BursarNamespace || se.Name.Local != "userExportedFineFeesList" {
			continue
		}
		var raw struct {
			Inner []byte `xml:",innerxml"`
		}
		if err := d.DecodeElement(&raw, &se); err != nil {
			t.Fatal(err)
		}
		// Decode the element again, as the patron and as bare children.
		whole := []byte(`<l xmlns:xb="` + BursarNamespace + `" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
			string(raw.Inner) + `</l>`)
		var p libJobsPatron
		if err := xml.Unmarshal(whole, &p); err != nil {
			t.Fatal(err)
		}
		patrons = append(patrons, p)
		var kids struct {
			Fees []struct {
				Children []struct {
					XMLName xml.Name
				} `xml:",any"`
			} `xml:"finefeeList>userFineFee"`
		}
		if err := xml.Unmarshal(whole, &kids); err != nil {
			t.Fatal(err)
		}
		for _, f := range kids.Fees {
			var names []string
			for _, c := range f.Children {
				names = append(names, c.XMLName.Local)
			}
			orders = append(orders, names)
		}
	}
}

// TestBursarFileCarriesEveryFieldOfAlmasFiles reads an export the way
// lib_jobs reads Alma's and checks every field real files carry: the
// institution on the user and the fee, the fee's library id and code,
// item library and location names, the internal location, a nil VAT, in
// Alma's order.
func TestBursarFileCarriesEveryFieldOfAlmasFiles(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	p := bursarProfile(delivery.Target{Kind: delivery.KindLocal, LocalDir: dir})
	p.Bursar.ImportPattern = ""
	e.save(p)
	if err := e.db.Update(ctx, func(tx store.Tx) error {
		return tx.PutInstitution(&store.Institution{Code: "CIRCA_U", Name: "Circa University"})
	}); err != nil {
		t.Fatal(err)
	}
	run, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil || len(run.Files) == 0 {
		t.Fatalf("run: %+v, %v", run, err)
	}
	fees := map[string]store.Fee{}
	for _, f := range e.fees()[store.FeeExported] {
		fees[strconv.FormatUint(f.ID, 10)] = f
	}
	withItem := 0
	for _, name := range run.Files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		patrons, orders := readAsLibJobs(t, data)
		if len(patrons) == 0 {
			t.Fatalf("%s: no userExportedFineFeesList", name)
		}
		for _, o := range orders {
			if !slices.Equal(o, almaFineFeeOrder) {
				t.Fatalf("userFineFee children\n%v\nwant Alma's order\n%v", o, almaFineFeeOrder)
			}
		}
		for _, pt := range patrons {
			if pt.UserType != "barcode" || pt.UserValue == "" || pt.UserInstitution != "CIRCA_U" || pt.Name == "" {
				t.Errorf("user %+v", pt)
			}
			for _, f := range pt.Fees {
				fee, ok := fees[f.TxnID]
				if !ok {
					t.Fatalf("%s is not an exported fee", f.TxnID)
				}
				if _, err := strconv.ParseFloat(f.Sum, 64); err != nil || f.Currency != fee.Currency {
					t.Errorf("%s: sum %q %q", f.TxnID, f.Sum, f.Currency)
				}
				if _, err := time.Parse("01/02/2006 15:04:05 MST", f.LastDate); err != nil {
					t.Errorf("%s: lastTransactionDate %q: %v", f.TxnID, f.LastDate, err)
				}
				if f.Institution != "CIRCA_U" || f.LibraryID != fee.Library || f.LibraryCode != fee.Library || f.Type == "" {
					t.Errorf("%s: owner %q %q %q, type %q", f.TxnID, f.Institution, f.LibraryID, f.LibraryCode, f.Type)
				}
				if f.VAT.Nil != "true" {
					t.Errorf("%s: vat is not nil", f.TxnID)
				}
				if fee.ItemID == 0 {
					continue
				}
				withItem++
				var it store.Item
				var lib store.Library
				var loc store.Location
				if err := e.db.View(ctx, func(tx store.Tx) (err error) {
					if it, err = tx.Item(fee.ItemID); err != nil {
						return err
					}
					if lib, err = tx.Library(it.Library); err != nil {
						return err
					}
					loc, err = tx.Location(it.Location)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if f.Library != lib.Name || f.Location != loc.Name || f.Internal != it.Location+": "+lib.Name ||
					f.Barcode != it.Barcode || f.Title == "" {
					t.Errorf("%s: item %q %q %q %q %q, want %q %q %q %q", f.TxnID, f.Library, f.Location, f.Internal,
						f.Barcode, f.Title, lib.Name, loc.Name, it.Location+": "+lib.Name, it.Barcode)
				}
			}
		}
	}
	if withItem == 0 {
		t.Fatal("no exported fee has an item to check")
	}
}

// The status says when the profile last succeeded: nothing after a failed
// run, then the finish of the latest successful one, read from the history
// for runs recorded before the state kept it.
func TestProfileStatusLastSuccess(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	e.save(bursarProfile(tg))
	srv.SetFaults(sftptest.Faults{CutAfterBytes: 300})
	e.sched.afterSave = func(d delivery.Delivery) error {
		if d.Step == delivery.StepPending {
			srv.SetFaults(sftptest.Faults{CutAfterBytes: 300})
		}
		return nil
	}
	if run, _ := e.sched.RunNow(ctx, "BURSAR", RunOptions{}); run.Result != ResultFailed {
		t.Fatalf("want a failed run, got %+v", run)
	}
	if st, err := ProfileStatus(ctx, e.db, "BURSAR"); err != nil || !st.LastSuccess.IsZero() {
		t.Fatalf("after a failed run: %+v, %v", st, err)
	}
	e.sched.afterSave = nil
	srv.SetFaults(sftptest.Faults{})
	e.advance(time.Hour)
	ok, err := e.sched.RunNow(ctx, "BURSAR", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := ProfileStatus(ctx, e.db, "BURSAR"); !st.LastSuccess.Equal(ok.Finished) || ok.Finished.IsZero() {
		t.Fatalf("last success %v, want the ok run's finish %v", st.LastSuccess, ok.Finished)
	}
	// A run with nothing new to send succeeds too.
	e.advance(time.Hour)
	if ok, err = e.sched.RunNow(ctx, "BURSAR", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	err = e.db.Update(ctx, func(tx store.Tx) error {
		st, err := loadState(tx, "BURSAR")
		st.LastOK = time.Time{}
		return errors.Join(err, tx.SetMeta(stateKey("BURSAR"), st))
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := ProfileStatus(ctx, e.db, "BURSAR"); !st.LastSuccess.Equal(ok.Finished) {
		t.Fatalf("from the history: last success %v, want %v", st.LastSuccess, ok.Finished)
	}
}
