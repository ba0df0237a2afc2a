package exchange

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/store"
)

// rsNode is a node of a parsed request file as a DOM parser that is not
// namespace aware keeps it: elements under their qualified names
// ("xb:barcode"), and text, comments and processing instructions as nodes
// of their own.
type rsNode struct {
	name     string // qualified element name; empty for any other node
	attrs    []xml.Attr
	text     string
	children []*rsNode
}

// textContent is the text of the node and all its descendants.
func (n *rsNode) textContent() string {
	if n.name == "" {
		return n.text
	}
	var b strings.Builder
	for _, c := range n.children {
		b.WriteString(c.textContent())
	}
	return b.String()
}

// byTag returns the first descendant element named tag, in document order,
// as getElementsByTagName(tag).item(0) does.
func (n *rsNode) byTag(tag string) *rsNode {
	for _, c := range n.children {
		if c.name == tag {
			return c
		}
		if f := c.byTag(tag); f != nil {
			return f
		}
	}
	return nil
}

func (n *rsNode) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if qname(a.Name) == name {
			return a.Value, true
		}
	}
	return "", false
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// parseRSDOM builds the tree from the raw tokens, keeping prefixes as
// written.
func parseRSDOM(data []byte) (*rsNode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	doc := &rsNode{name: "#document"}
	stack := []*rsNode{doc}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			n := &rsNode{name: qname(t.Name), attrs: t.Attr}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if top != doc { // text outside the document element is not a node of it
				top.children = append(top.children, &rsNode{text: string(t)})
			}
		case xml.Comment:
			top.children = append(top.children, &rsNode{text: ""})
		}
	}
	for _, c := range doc.children {
		if c.name != "" {
			return c, nil
		}
	}
	return nil, errors.New("no document element")
}

// rsRequest is one request as the facility's software takes it.
type rsRequest struct {
	Type, ID, Barcode, MMSID, ItemID, Title   string
	Library, LibraryCode, Desk, LocationCode  string
	CallNumber, CallNumberType                string
	Patron, PatronName, PatronEmail, Note     string
	Author, ISBN, ShipLine1                   string
	hasPatronInfo, hasShipAddress, hasBibInfo bool
}

// almaRSNamespace is the namespace of Alma's request export as real files
// carry it.
const almaRSNamespace = "http://com/exlibris/urm/rep/externalsysremotestorage/xmlbeans"

// readAlmaRS reads a request file under the rules of Ex Libris' sample
// remote-storage reader (AlmaRemoteStorageApp, ItemData.xmlStringToRequestData)
// and of the Alma files real facilities receive:
//   - the document element is xb:rsExportList in Alma's namespace, bound
//     to the prefix xb, since the reader looks elements up by the
//     qualified names "xb:barcode", "xb:libraryCode" …;
//   - every child node of the document element is an element (the reader
//     casts each to Element: a whitespace text node between two requests
//     fails the whole file), and an xb:rsExport;
//   - an item barcode is present (the reader calls contains on it);
//   - a request with an xb:mmsId has an xb:libraryCode (one reader reads
//     the library code whenever mmsId is present, and fails without it);
//   - the first xb:barcode in document order is the item's, so no other
//     element of a request may be called barcode.
func readAlmaRS(data []byte) ([]rsRequest, error) {
	root, err := parseRSDOM(data)
	if err != nil {
		return nil, err
	}
	if root.name != "xb:rsExportList" {
		return nil, fmt.Errorf("document element %s, want xb:rsExportList", root.name)
	}
	if ns, _ := root.attr("xmlns:xb"); ns != almaRSNamespace {
		return nil, fmt.Errorf("prefix xb bound to %q, want %q", ns, almaRSNamespace)
	}
	var out []rsRequest
	for i, el := range root.children {
		if el.name == "" {
			return nil, fmt.Errorf("child node %d of the document element is text %q, not an element", i, el.text)
		}
		if el.name != "xb:rsExport" {
			return nil, fmt.Errorf("child %d is %s, want xb:rsExport", i, el.name)
		}
		text := func(tag string) string {
			if n := el.byTag(tag); n != nil {
				return n.textContent()
			}
			return ""
		}
		r := rsRequest{Type: text("xb:requestType"), ID: text("xb:requestId"), MMSID: text("xb:mmsId"),
			ItemID: text("xb:itemId"), Title: text("xb:title"), LibraryCode: text("xb:libraryCode"),
			Note: text("xb:requestNote"), Author: text("xb:author"), ISBN: text("xb:isbn"),
			ShipLine1: text("xb:line1"), hasShipAddress: el.byTag("xb:shipAddress") != nil, hasBibInfo: el.byTag("xb:bibliographicInformation") != nil}
		bc := el.byTag("xb:barcode")
		if bc == nil {
			return nil, fmt.Errorf("request %d has no xb:barcode", i)
		}
		r.Barcode = bc.textContent()
		if r.MMSID != "" && el.byTag("xb:libraryCode") == nil {
			return nil, fmt.Errorf("request %d has an xb:mmsId and no xb:libraryCode", i)
		}
		if p := el.byTag("xb:pickup"); p != nil {
			if l := p.byTag("xb:library"); l != nil {
				r.Library = l.textContent()
			}
			if d := p.byTag("xb:desk"); d != nil {
				r.Desk = d.textContent()
			}
		}
		if o := el.byTag("xb:operationalRecordinformation"); o != nil {
			for tag, f := range map[string]*string{"xb:permanent_physical_location_code": &r.LocationCode,
				"xb:permanent_call_number": &r.CallNumber, "xb:call_number_type": &r.CallNumberType} {
				if n := o.byTag(tag); n != nil {
					*f = n.textContent()
				}
			}
		}
		if p := el.byTag("xb:patronInfo"); p != nil {
			r.hasPatronInfo = true
			for tag, f := range map[string]*string{"xb:patronIdentifier": &r.Patron, "xb:patronName": &r.PatronName,
				"xb:patronEmail": &r.PatronEmail} {
				if n := p.byTag(tag); n != nil {
					*f = n.textContent()
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// TestRequestFileAsAlmaReadersTakeIt places a hold on the annex item and
// reads the file circa sends with the rules of Ex Libris' sample reader:
// Alma's root, namespace and prefix, no text between elements, the pickup
// library by name with its code beside it, the item's location code and
// call number, and the requester under patronInfo/patronIdentifier.
func TestRequestFileAsAlmaReadersTakeIt(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	p := profiles.NewExchange(profiles.TypeRequests, "ANNEX-REQ")
	p.Library, p.Target = fixtures.LibraryMain, tg
	p.Requests.Facility, p.Requests.PatronDetails = "ANNEX", true
	e.save(p)
	if _, err := e.sched.RunNow(ctx, "ANNEX-REQ", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	agent := circ.Agent{Protocol: "cli", Library: fixtures.LibraryMain}
	hold, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronGood, Item: fixtures.ItemAnnex,
		Pickup: fixtures.LibraryMain})
	if err != nil || hold.Retrieval == 0 {
		t.Fatalf("hold on the annex item: %+v, %v", hold, err)
	}
	run, err := e.sched.RunNow(ctx, "ANNEX-REQ", RunOptions{})
	if err != nil || len(run.Files) != 1 {
		t.Fatalf("request run: %+v, %v", run, err)
	}
	data, err := os.ReadFile(srv.Path("/out/" + run.Files[0]))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAlmaRS(data)
	if err != nil {
		t.Fatalf("the reader refuses the file: %v\n%s", err, data)
	}
	var (
		lib  store.Library
		loc  store.Location
		item store.Item
		bib  store.Bib
		pt   store.Patron
	)
	err = e.db.View(ctx, func(tx store.Tx) error {
		var err error
		if lib, err = tx.Library(fixtures.LibraryMain); err != nil {
			return err
		}
		if item, err = tx.ItemByBarcode(fixtures.ItemAnnex); err != nil {
			return err
		}
		if loc, err = tx.Location(item.Location); err != nil {
			return err
		}
		if bib, err = tx.Bib(item.BibID); err != nil {
			return err
		}
		pt, err = tx.PatronByBarcode(fixtures.PatronGood)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	email, _ := pt.ContactOf("email")
	want := rsRequest{Type: "PATRON_PHYSICAL", ID: strconv.FormatUint(hold.Retrieval, 10), Barcode: fixtures.ItemAnnex,
		MMSID: bib.ControlNumber, ItemID: strconv.FormatUint(item.ID, 10), Title: bib.Title,
		Library: lib.Name, LibraryCode: lib.Code, LocationCode: loc.Code, CallNumber: item.CallNumber,
		CallNumberType: "0", ShipLine1: lib.Address,
		Patron: pt.Barcode, PatronName: pt.LastName + ", " + pt.FirstName, PatronEmail: email.Value,
		Author: bib.Author, ISBN: bib.ISBN,
		hasPatronInfo: true, hasShipAddress: true, hasBibInfo: bib.Author != "" || bib.ISBN != ""}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("requests read\n got %+v\nwant %+v", got, want)
	}
	// The fixture must exercise the fields: a test on empty values proves
	// nothing.
	for name, v := range map[string]string{"library name": lib.Name, "mms id": bib.ControlNumber, "title": bib.Title,
		"call number": item.CallNumber, "e-mail": email.Value, "author": bib.Author, "address": lib.Address} {
		if v == "" {
			t.Errorf("the fixture has no %s", name)
		}
	}
	if loc.CallNumberType != "lc" {
		t.Errorf("the annex shelves by %q; the test expects LC (Alma's call_number_type 0)", loc.CallNumberType)
	}
	if lib.Name == lib.Code {
		t.Error("the fixture's library name is its code: the test cannot tell them apart")
	}
}

// TestRequestReaderRulesRefuse keeps the reader honest: each rule it
// follows refuses a file that breaks it.
func TestRequestReaderRulesRefuse(t *testing.T) {
	const (
		head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
		ok   = `<xb:rsExport><xb:requestType>PATRON_PHYSICAL</xb:requestType><xb:requestId>1</xb:requestId>` +
			`<xb:barcode>31</xb:barcode><xb:mmsId>99</xb:mmsId><xb:libraryCode>MAIN</xb:libraryCode></xb:rsExport>`
		root = `<xb:rsExportList xmlns:xb="` + almaRSNamespace + `">`
	)
	if _, err := readAlmaRS([]byte(head + root + ok + ok + `</xb:rsExportList>`)); err != nil {
		t.Fatalf("a good file refused: %v", err)
	}
	for name, doc := range map[string]string{
		"whitespace between requests": root + ok + "\n  " + ok + `</xb:rsExportList>`,
		"another namespace":           `<xb:rsExportList xmlns:xb="urn:other">` + ok + `</xb:rsExportList>`,
		"another prefix": `<rs:rsExportList xmlns:rs="` + almaRSNamespace + `">` + strings.ReplaceAll(ok, "xb:", "rs:") +
			`</rs:rsExportList>`,
		"another root":        `<xb:requests xmlns:xb="` + almaRSNamespace + `">` + ok + `</xb:requests>`,
		"no barcode":          root + strings.Replace(ok, `<xb:barcode>31</xb:barcode>`, "", 1) + `</xb:rsExportList>`,
		"mmsId, no library":   root + strings.Replace(ok, `<xb:libraryCode>MAIN</xb:libraryCode>`, "", 1) + `</xb:rsExportList>`,
		"another child":       root + `<xb:request/>` + `</xb:rsExportList>`,
		"a comment in a list": root + ok + `<!-- x -->` + `</xb:rsExportList>`,
	} {
		if _, err := readAlmaRS([]byte(head + doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRequestFileWithoutCancellations: by default the file is Alma's, which
// never carries a withdrawn request (a reader written for it would fetch
// the item again); a partner's request goes out under Alma's
// resource-sharing type, and without patronInfo unless the profile asks.
func TestRequestFileWithoutCancellations(t *testing.T) {
	e := newEnv(t)
	srv, tg := sftpTarget(t)
	p := profiles.NewExchange(profiles.TypeRequests, "ANNEX-REQ")
	p.Library, p.Target, p.Requests.Facility = fixtures.LibraryMain, tg, "ANNEX"
	e.save(p)
	if _, err := e.sched.RunNow(ctx, "ANNEX-REQ", RunOptions{}); err != nil {
		t.Fatal(err)
	}
	agent := circ.Agent{Protocol: "ncip", Library: fixtures.LibraryMain}
	hold, err := e.svc.PlaceHold(ctx, circ.HoldRequest{Agent: agent, Patron: fixtures.PatronILL, Item: fixtures.ItemAnnex,
		Pickup: fixtures.LibraryMain, Kind: store.RequestResourceSharing, Partner: "ILL", ExternalID: "BRK-1"})
	if err != nil || hold.Retrieval == 0 {
		t.Fatalf("lending request on the annex item: %+v, %v", hold, err)
	}
	run, err := e.sched.RunNow(ctx, "ANNEX-REQ", RunOptions{})
	if err != nil || len(run.Files) != 1 {
		t.Fatalf("request run: %+v, %v", run, err)
	}
	f := readRS(t, srv.Path("/out/"+run.Files[0]))
	if len(f.Requests) != 1 || f.Requests[0].Type != RequestTypeResourceSharing || f.Requests[0].hasPatronInfo {
		t.Fatalf("request file %+v", f)
	}
	if _, err := e.svc.CancelHold(ctx, circ.CancelHoldRequest{Agent: agent, RequestID: hold.Request}); err != nil {
		t.Fatal(err)
	}
	run, err = e.sched.RunNow(ctx, "ANNEX-REQ", RunOptions{})
	if err != nil || len(run.Files) != 0 {
		t.Fatalf("a cancellation was sent: %+v, %v", run, err)
	}
}

// FuzzRenderRequests: whatever the records hold, the file stays one that
// the sample reader takes, and each value reads back as written (characters
// XML cannot carry become U+FFFD).
func FuzzRenderRequests(f *testing.F) {
	f.Add("31000000000006", "Canal days on Cayuga Lake", "Main Library", "Whitfield", "Eleanor", "a note", "Gallagher, Edward")
	f.Add(" ", "\n", "<&>\"'", "\x00\x01", "\xff", "]]>", "\r\n\t")
	f.Fuzz(func(t *testing.T, barcode, title, libName, last, first, note, author string) {
		l := rsLine{typ: RequestTypePatron, req: store.Request{ID: 7, BibID: 3, ItemID: 5, Pickup: "MAIN"}, note: note,
			item: store.Item{Barcode: barcode, Location: "ANNEX"}, bib: store.Bib{ControlNumber: "rec1", Title: title, Author: author},
			pickup: store.Library{Code: "MAIN", Name: libName}, patron: &store.Patron{Barcode: "2100", LastName: last, FirstName: first}}
		got, err := readAlmaRS(renderRequests([]rsLine{l, l}))
		if err != nil {
			t.Fatal(err)
		}
		xmlText := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
					return r
				}
				return 0xFFFD
			}, s)
		}
		name := last
		if first != "" {
			name += ", " + first
		}
		r := got[1]
		if len(got) != 2 || r.Barcode != xmlText(barcode) || r.Title != xmlText(title) ||
			r.Library != xmlText(cmp.Or(libName, "MAIN")) || r.PatronName != xmlText(name) || r.Note != xmlText(note) ||
			r.Author != xmlText(author) || r.LibraryCode != "MAIN" || r.Patron != "2100" {
			t.Fatalf("read back %+v", got)
		}
	})
}
