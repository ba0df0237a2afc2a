package ncip

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Limits bound what the reader accepts, so a hostile message costs little.
type Limits struct {
	MaxBytes    int // whole message after charset conversion; 0 means 1 MiB
	MaxDepth    int // element nesting; 0 means 32
	MaxElements int // element count; 0 means 4096
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	if l.MaxElements <= 0 {
		l.MaxElements = 4096
	}
	return l
}

// Errors of the reader. Every one of them but ErrVersion is answered with
// an "Invalid Message Syntax Error" Problem.
var (
	ErrNotXML      = errors.New("ncip: not well-formed XML")
	ErrDTD         = errors.New("ncip: document type declarations are not accepted")
	ErrTooLarge    = errors.New("ncip: message too large")
	ErrTooDeep     = errors.New("ncip: elements nested too deeply")
	ErrTooMany     = errors.New("ncip: too many elements")
	ErrNotNCIP     = errors.New("ncip: root element is not NCIPMessage")
	ErrNoService   = errors.New("ncip: NCIPMessage holds no message")
	ErrBadEncoding = errors.New("ncip: unsupported character encoding")
	// ErrNamespace: the message's elements are in a namespace other than
	// NCIP's (no namespace at all is accepted).
	ErrNamespace = errors.New("ncip: the message is not in the NCIP namespace")
	// ErrVersion: the version attribute names neither NCIP 1.x nor 2.x.
	// It is answered with a "Protocol Error" Problem.
	ErrVersion = errors.New("ncip: not an NCIP 1.x or 2.x message")
)

// node is one element of the parsed message. Names are local names: the
// namespace prefix is dropped, so prefixed, default-namespace and
// namespace-less messages read the same.
type node struct {
	name  string
	attrs []attr
	text  string // direct character data, entity-decoded, untrimmed
	first int32  // index of the first child in the arena, -1 when none
	next  int32  // index of the next sibling, -1 when none
}

type attr struct{ name, value string }

// tree is an arena of nodes; index 0 is the root element. Its nodes are
// only valid until release.
type tree struct {
	nodes []node
	arena *arena
	// ns holds the namespaces of the root element and of its first child
	// (the service element): "" for none or an undeclared prefix.
	ns [2]string
}

// release hands the tree's memory back for the next message.
func (t *tree) release() {
	t.nodes = nil
	t.arena.release()
}

func (t *tree) root() *node { return &t.nodes[0] }

// children calls fn for every child element of n, in document order.
func (t *tree) children(n *node, fn func(c *node)) {
	for i := n.first; i >= 0; i = t.nodes[i].next {
		fn(&t.nodes[i])
	}
}

// child returns the first child named name, or nil.
func (t *tree) child(n *node, name string) *node {
	for i := n.first; i >= 0; i = t.nodes[i].next {
		if t.nodes[i].name == name {
			return &t.nodes[i]
		}
	}
	return nil
}

// attr returns the value of the attribute with the given local name.
func (n *node) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.name == name {
			return a.value, true
		}
	}
	return "", false
}

// scanner is a small XML 1.0 reader for messages that are data, not
// documents: elements, attributes, character data, CDATA, character and the
// five predefined entity references, comments and processing instructions.
// A DOCTYPE is accepted only when it merely names an external DTD (NCIP v1
// clients send one); the DTD is never read, and one with an internal subset
// is refused, so no entity can ever be declared or expanded. It reads far
// faster than encoding/xml and keeps the first error.
type scanner struct {
	s     string
	pos   int
	lim   Limits
	nodes []node
	attrs []attr // arena the nodes' attribute slices point into
	stack []stackEntry
	ns    [2]string // see tree.ns
	// doctype is the root element name a DOCTYPE declared, "" when none;
	// rootName the root element's name as written.
	doctype, rootName string
}

type stackEntry struct {
	idx   int32
	qname string
	last  int32  // last child index, -1 when none
	text  string // character data so far, when it is one piece
	buf   []byte // character data so far, when it had to be joined
}

func lastLocal(qname string) string {
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// parseTree parses UTF-8 input into a tree.
func parseTree(s string, lim Limits) (*tree, error) {
	lim = lim.withDefaults()
	if len(s) > lim.MaxBytes {
		return nil, ErrTooLarge
	}
	// Every element has at least one '<', so this bounds the arena and
	// avoids regrowing it on the way.
	n := strings.Count(s, "<")/2 + 1
	n = min(n, lim.MaxElements)
	a := arenaPool.Get().(*arena)
	if cap(a.nodes) < n {
		a.nodes = make([]node, 0, n)
	}
	sc := scanner{s: s, lim: lim, nodes: a.nodes[:0], attrs: a.attrs[:0], stack: a.stack[:0]}
	err := sc.run()
	a.nodes, a.attrs, a.stack = sc.nodes, sc.attrs, sc.stack
	if err != nil {
		a.release()
		return nil, err
	}
	return &tree{nodes: sc.nodes, arena: a, ns: sc.ns}, nil
}

// arena holds the scanner's slices between messages, so a busy server does
// not allocate them for every request.
type arena struct {
	nodes []node
	attrs []attr
	stack []stackEntry
}

var arenaPool = sync.Pool{New: func() any {
	return &arena{nodes: make([]node, 0, 64), attrs: make([]attr, 0, 16), stack: make([]stackEntry, 0, 16)}
}}

// release returns the arena to the pool; arenas grown by an unusually
// large message are left to the GC. Every slot is overwritten whole before
// it is read again, so the old message's entries are not cleared: they
// keep at most one earlier message alive, and only until the pool drops
// the arena at a GC.
func (a *arena) release() {
	if cap(a.nodes) > 512 || cap(a.attrs) > 512 || cap(a.stack) > 64 {
		return
	}
	arenaPool.Put(a)
}

func (sc *scanner) errf(format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if len(msg) > 120 {
		msg = strings.ToValidUTF8(msg[:120], "") + "…"
	}
	return fmt.Errorf("%w: %s at byte %d", ErrNotXML, msg, sc.pos)
}

// isDeclaration reports whether s starts a DTD construct (DOCTYPE, ENTITY,
// ELEMENT, ATTLIST, NOTATION), all of which are refused.
func isDeclaration(s string) bool {
	for _, d := range []string{"<!DOCTYPE", "<!ENTITY", "<!ELEMENT", "<!ATTLIST", "<!NOTATION"} {
		if len(s) >= len(d) && strings.EqualFold(s[:len(d)], d) {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (sc *scanner) skipSpace() {
	for sc.pos < len(sc.s) && isSpace(sc.s[sc.pos]) {
		sc.pos++
	}
}

func (sc *scanner) run() error {
	rootSeen := false
	for {
		// Between markup at the top level only white space is allowed.
		sc.skipSpace()
		if sc.pos >= len(sc.s) {
			if !rootSeen {
				return sc.errf("no root element")
			}
			return nil
		}
		if sc.s[sc.pos] != '<' {
			return sc.errf("text outside the root element")
		}
		rest := sc.s[sc.pos:]
		switch {
		case strings.HasPrefix(rest, "<?"):
			if err := sc.skipPI(); err != nil {
				return err
			}
		case strings.HasPrefix(rest, "<!--"):
			if err := sc.skipComment(); err != nil {
				return err
			}
		case strings.HasPrefix(rest, "<!DOCTYPE") && !rootSeen && sc.doctype == "":
			if err := sc.doctypeDecl(); err != nil {
				return err
			}
		case isDeclaration(rest):
			return ErrDTD
		case strings.HasPrefix(rest, "<!"):
			return sc.errf("unexpected markup outside the root element")
		default:
			if rootSeen {
				return sc.errf("more than one root element")
			}
			rootSeen = true
			if err := sc.element(); err != nil {
				return err
			}
			if sc.doctype != "" && sc.doctype != sc.rootName {
				return fmt.Errorf("%w: the DOCTYPE names %q, not the root element", ErrDTD, clip(sc.doctype))
			}
		}
	}
}

func (sc *scanner) skipPI() error {
	end := strings.Index(sc.s[sc.pos+2:], "?>")
	if end < 0 {
		return sc.errf("unterminated processing instruction")
	}
	sc.pos += 2 + end + 2
	return nil
}

func (sc *scanner) skipComment() error {
	end := strings.Index(sc.s[sc.pos+4:], "-->")
	if end < 0 {
		return sc.errf("unterminated comment")
	}
	sc.pos += 4 + end + 3
	return nil
}

// doctypeDecl reads a document type declaration that only names an
// external DTD, as NCIP v1 clients send:
//
//	<!DOCTYPE name PUBLIC "pubid" "sysid">  or  <!DOCTYPE name SYSTEM "sysid">
//
// The DTD is never fetched. Anything else (no external id, an internal
// subset, stray tokens) is refused with ErrDTD.
func (sc *scanner) doctypeDecl() error {
	refuse := func(why string) error { return fmt.Errorf("%w: %s", ErrDTD, why) }
	sc.pos += len("<!DOCTYPE")
	if sc.pos >= len(sc.s) || !isSpace(sc.s[sc.pos]) {
		return refuse("malformed DOCTYPE")
	}
	sc.skipSpace()
	name, err := sc.name()
	if err != nil {
		return refuse("malformed DOCTYPE")
	}
	keyword := func() string {
		if sc.pos >= len(sc.s) || !isSpace(sc.s[sc.pos]) {
			return ""
		}
		sc.skipSpace()
		for _, k := range []string{"PUBLIC", "SYSTEM"} {
			if strings.HasPrefix(sc.s[sc.pos:], k) {
				sc.pos += len(k)
				return k
			}
		}
		return ""
	}
	kw := keyword()
	if kw == "" {
		return refuse("only a DOCTYPE naming an external DTD (PUBLIC or SYSTEM) is accepted")
	}
	literal := func(pubid bool) bool {
		if sc.pos >= len(sc.s) || !isSpace(sc.s[sc.pos]) {
			return false
		}
		sc.skipSpace()
		if sc.pos >= len(sc.s) || (sc.s[sc.pos] != '"' && sc.s[sc.pos] != '\'') {
			return false
		}
		q := sc.s[sc.pos]
		end := strings.IndexByte(sc.s[sc.pos+1:], q)
		if end < 0 {
			return false
		}
		lit := sc.s[sc.pos+1 : sc.pos+1+end]
		if pubid && strings.IndexFunc(lit, func(r rune) bool { return !isPubidChar(r) }) >= 0 {
			return false
		}
		sc.pos += end + 2
		return true
	}
	if kw == "PUBLIC" && !literal(true) {
		return refuse("malformed public id in the DOCTYPE")
	}
	if !literal(false) {
		return refuse("malformed system id in the DOCTYPE")
	}
	sc.skipSpace()
	if sc.pos >= len(sc.s) || sc.s[sc.pos] != '>' {
		// Above all an internal subset, '[', which could declare entities.
		return refuse("a DOCTYPE with an internal subset or more than an external id is not accepted")
	}
	sc.pos++
	sc.doctype = name
	return nil
}

// isPubidChar reports whether r may appear in a public identifier.
func isPubidChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune(" \r\n-'()+,./:=?;!*#@$_%", r)
}

// nameByte marks the bytes a name may contain: everything but white space
// and the XML delimiters (names are matched, not validated).
var nameByte = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	for _, c := range " \t\r\n<>/=\"'&?!" {
		t[c] = false
	}
	return t
}()

func (sc *scanner) name() (string, error) {
	start := sc.pos
	for sc.pos < len(sc.s) && nameByte[sc.s[sc.pos]] {
		sc.pos++
	}
	if sc.pos == start {
		return "", sc.errf("expected a name")
	}
	n := sc.s[start:sc.pos]
	if c := n[0]; c == '-' || c == '.' || c == ':' || (c >= '0' && c <= '9') {
		return "", sc.errf("invalid name %q", n)
	}
	return n, nil
}

// element parses the root element and everything inside it, iteratively so
// that depth costs no Go stack.
func (sc *scanner) element() error {
	if err := sc.openTag(); err != nil {
		return err
	}
	for len(sc.stack) > 0 {
		if sc.pos >= len(sc.s) {
			return sc.errf("unexpected end of input inside <%s>", sc.stack[len(sc.stack)-1].qname)
		}
		c := sc.s[sc.pos]
		if c != '<' {
			if err := sc.charData(); err != nil {
				return err
			}
			continue
		}
		rest := sc.s[sc.pos:]
		var next byte
		if len(rest) > 1 {
			next = rest[1]
		}
		switch next {
		case '/':
			if err := sc.closeTag(); err != nil {
				return err
			}
		case '!':
			switch {
			case strings.HasPrefix(rest, "<!--"):
				if err := sc.skipComment(); err != nil {
					return err
				}
			case strings.HasPrefix(rest, "<![CDATA["):
				end := strings.Index(rest[9:], "]]>")
				if end < 0 {
					return sc.errf("unterminated CDATA section")
				}
				sc.addText(rest[9 : 9+end])
				sc.pos += 9 + end + 3
			case isDeclaration(rest):
				return ErrDTD
			default:
				return sc.errf("unexpected markup")
			}
		case '?':
			if err := sc.skipPI(); err != nil {
				return err
			}
		default:
			if err := sc.openTag(); err != nil {
				return err
			}
		}
	}
	return nil
}

// addText appends character data to the open element. Text that is only
// white space (the indentation between child elements) is replaced rather
// than joined, so container elements cost no allocation; values are trimmed
// by the reader anyway. Joining goes through a buffer, so text split by
// many references or comments still costs linear time.
func (sc *scanner) addText(s string) {
	top := &sc.stack[len(sc.stack)-1]
	switch {
	case top.buf != nil:
		top.buf = append(top.buf, s...)
	case top.text == "" || strings.TrimSpace(top.text) == "":
		top.text = s
	default:
		top.buf = make([]byte, 0, 2*(len(top.text)+len(s)))
		top.buf = append(append(top.buf, top.text...), s...)
	}
}

func (sc *scanner) charData() error {
	start := sc.pos
	for sc.pos < len(sc.s) {
		c := sc.s[sc.pos]
		if c == '<' {
			break
		}
		if c == '&' {
			if sc.pos > start {
				sc.addText(sc.s[start:sc.pos])
			}
			r, err := sc.reference()
			if err != nil {
				return err
			}
			sc.addText(r)
			start = sc.pos
			continue
		}
		sc.pos++
	}
	if sc.pos > start {
		sc.addText(sc.s[start:sc.pos])
	}
	return nil
}

var predefined = map[string]string{"lt": "<", "gt": ">", "amp": "&", "quot": `"`, "apos": "'"}

// reference decodes &name; or &#n; / &#xh; at sc.pos.
func (sc *scanner) reference() (string, error) {
	end := strings.IndexByte(sc.s[sc.pos:], ';')
	if end < 0 || end > 12 {
		return "", sc.errf("unterminated entity reference")
	}
	ref := sc.s[sc.pos+1 : sc.pos+end]
	sc.pos += end + 1
	if v, ok := predefined[ref]; ok {
		return v, nil
	}
	if len(ref) > 1 && ref[0] == '#' {
		var n uint64
		digits := ref[1:]
		base := uint64(10)
		if digits[0] == 'x' {
			base = 16
			digits = digits[1:]
		}
		if digits == "" {
			return "", sc.errf("empty character reference")
		}
		for i := 0; i < len(digits); i++ {
			d := digits[i]
			var v uint64
			switch {
			case d >= '0' && d <= '9':
				v = uint64(d - '0')
			case base == 16 && d >= 'a' && d <= 'f':
				v = uint64(d-'a') + 10
			case base == 16 && d >= 'A' && d <= 'F':
				v = uint64(d-'A') + 10
			default:
				return "", sc.errf("bad character reference %q", ref)
			}
			n = n*base + v
			if n > utf8.MaxRune {
				return "", sc.errf("character reference out of range")
			}
		}
		r := rune(n)
		if !utf8.ValidRune(r) || r == 0 {
			return "", sc.errf("invalid character reference %q", ref)
		}
		return string(r), nil
	}
	return "", sc.errf("undefined entity &%s;", ref)
}

func (sc *scanner) openTag() error {
	sc.pos++ // '<'
	qname, err := sc.name()
	if err != nil {
		return err
	}
	if len(sc.stack) >= sc.lim.MaxDepth {
		return ErrTooDeep
	}
	if len(sc.nodes) >= sc.lim.MaxElements {
		return ErrTooMany
	}
	idx := int32(len(sc.nodes))
	sc.nodes = append(sc.nodes, node{name: v2Name(lastLocal(qname)), first: -1, next: -1})
	// The namespaces of the root and of the service element are kept, to
	// refuse a message in another namespace; their xmlns declarations stay
	// among their attributes (under the full name, which no lookup by local
	// name matches) until the tag is read.
	nsSlot := -1
	if idx == 0 {
		nsSlot, sc.rootName = 0, qname
	}
	if len(sc.stack) > 0 {
		parent := &sc.stack[len(sc.stack)-1]
		if parent.last < 0 {
			sc.nodes[parent.idx].first = idx
			if parent.idx == 0 {
				nsSlot = 1
			}
		} else {
			sc.nodes[parent.last].next = idx
		}
		parent.last = idx
	}
	attrStart := len(sc.attrs)
	for {
		hadSpace := sc.pos < len(sc.s) && isSpace(sc.s[sc.pos])
		sc.skipSpace()
		if sc.pos >= len(sc.s) {
			return sc.errf("unterminated start tag <%s>", qname)
		}
		switch sc.s[sc.pos] {
		case '>':
			sc.pos++
			sc.nodes[idx].attrs = sc.attrs[attrStart:len(sc.attrs):len(sc.attrs)]
			if nsSlot >= 0 {
				sc.ns[nsSlot] = sc.namespaceOf(qname, sc.nodes[idx].attrs)
			}
			sc.stack = append(sc.stack, stackEntry{idx: idx, qname: qname, last: -1})
			return nil
		case '/':
			if !strings.HasPrefix(sc.s[sc.pos:], "/>") {
				return sc.errf("bad empty-element tag <%s>", qname)
			}
			sc.pos += 2
			sc.nodes[idx].attrs = sc.attrs[attrStart:len(sc.attrs):len(sc.attrs)]
			if nsSlot >= 0 {
				sc.ns[nsSlot] = sc.namespaceOf(qname, sc.nodes[idx].attrs)
			}
			return nil
		}
		if !hadSpace {
			return sc.errf("attributes of <%s> must be separated by white space", qname)
		}
		an, err := sc.name()
		if err != nil {
			return err
		}
		sc.skipSpace()
		if sc.pos >= len(sc.s) || sc.s[sc.pos] != '=' {
			return sc.errf("attribute %s has no value", an)
		}
		sc.pos++
		sc.skipSpace()
		v, err := sc.attrValue()
		if err != nil {
			return err
		}
		name := lastLocal(an)
		if an == "xmlns" || strings.HasPrefix(an, "xmlns:") {
			if nsSlot < 0 {
				continue
			}
			name = an
		}
		if len(sc.attrs)-attrStart >= 32 {
			return sc.errf("too many attributes on <%s>", qname)
		}
		sc.attrs = append(sc.attrs, attr{name: name, value: v})
	}
}

// namespaceOf resolves the prefix of an element's qname with its own xmlns
// declarations (own) and the root's. An undeclared prefix counts as no
// namespace, as lenient readers treat it.
func (sc *scanner) namespaceOf(qname string, own []attr) string {
	prefix := ""
	if i := strings.IndexByte(qname, ':'); i >= 0 {
		prefix = qname[:i]
	}
	lookup := func(attrs []attr) (string, bool) {
		for _, a := range attrs {
			if prefix == "" && a.name == "xmlns" || prefix != "" && len(a.name) == 6+len(prefix) && strings.HasPrefix(a.name, "xmlns:") && a.name[6:] == prefix {
				return strings.TrimSpace(a.value), true
			}
		}
		return "", false
	}
	if ns, ok := lookup(own); ok {
		return ns
	}
	if len(sc.nodes) > 1 {
		ns, _ := lookup(sc.nodes[0].attrs)
		return ns
	}
	return ""
}

func (sc *scanner) attrValue() (string, error) {
	if sc.pos >= len(sc.s) || (sc.s[sc.pos] != '"' && sc.s[sc.pos] != '\'') {
		return "", sc.errf("attribute value must be quoted")
	}
	q := sc.s[sc.pos]
	sc.pos++
	start := sc.pos
	end := strings.IndexByte(sc.s[start:], q)
	if end < 0 {
		return "", sc.errf("unterminated attribute value")
	}
	raw := sc.s[start : start+end]
	if strings.IndexByte(raw, '<') >= 0 {
		return "", sc.errf("'<' in attribute value")
	}
	if strings.IndexByte(raw, '&') < 0 {
		sc.pos = start + end + 1
		return normAttr(raw), nil
	}
	var b strings.Builder
	for sc.pos < start+end {
		c := sc.s[sc.pos]
		if c == '&' {
			r, err := sc.reference()
			if err != nil {
				return "", err
			}
			if sc.pos > start+end {
				return "", sc.errf("entity reference runs past the attribute value")
			}
			b.WriteString(r)
			continue
		}
		if isSpace(c) {
			c = ' '
		}
		b.WriteByte(c)
		sc.pos++
	}
	sc.pos = start + end + 1
	return b.String(), nil
}

// normAttr applies XML attribute-value normalisation of white space.
func normAttr(s string) string {
	if strings.ContainsAny(s, "\t\r\n") {
		return strings.Map(func(r rune) rune {
			if r == '\t' || r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, s)
	}
	return s
}

func (sc *scanner) closeTag() error {
	sc.pos += 2
	top := &sc.stack[len(sc.stack)-1]
	// The end tag nearly always matches: compare in place before scanning.
	if rest := sc.s[sc.pos:]; strings.HasPrefix(rest, top.qname) && len(rest) > len(top.qname) && !nameByte[rest[len(top.qname)]] {
		sc.pos += len(top.qname)
	} else {
		qname, err := sc.name()
		if err != nil {
			return err
		}
		return sc.errf("end tag </%s> does not match <%s>", qname, top.qname)
	}
	sc.skipSpace()
	if sc.pos >= len(sc.s) || sc.s[sc.pos] != '>' {
		return sc.errf("bad end tag </%s>", top.qname)
	}
	sc.pos++
	n := &sc.nodes[top.idx]
	if top.buf != nil {
		n.text = string(top.buf)
	} else {
		n.text = top.text
	}
	if n.first >= 0 && strings.TrimSpace(n.text) == "" {
		sc.foldV1SchemeValue(n)
	}
	sc.stack = sc.stack[:len(sc.stack)-1]
	return nil
}

// v2Name maps the NCIP v1 identifier elements to their v2 names, so v1
// messages (sent without a DOCTYPE) read like v2 ones: the child elements
// inside them (…IdentifierValue) are the same in both versions.
func v2Name(local string) string {
	if !strings.HasPrefix(local, "Unique") {
		return local
	}
	switch local {
	case "UniqueAgencyId":
		return "AgencyId"
	case "UniqueUserId":
		return "UserId"
	case "UniqueItemId":
		return "ItemId"
	case "UniqueRequestId":
		return "RequestId"
	case "UniqueBibliographicId":
		return "BibliographicId"
	}
	return local
}

// foldV1SchemeValue turns an NCIP v1 scheme-value pair,
// <X><Scheme>s</Scheme><Value>v</Value></X>, into the v2 form
// <X Scheme="s">v</X>. No v2 element is named Scheme or Value, so this
// never touches a v2 message.
func (sc *scanner) foldV1SchemeValue(n *node) {
	var scheme, value *node
	for i := n.first; i >= 0; i = sc.nodes[i].next {
		c := &sc.nodes[i]
		switch {
		case c.first >= 0:
		case c.name == "Value":
			value = c
		case c.name == "Scheme":
			scheme = c
		}
	}
	if value == nil {
		return
	}
	n.text = value.text
	if scheme != nil {
		n.attrs = append(n.attrs[:len(n.attrs):len(n.attrs)], attr{name: "Scheme", value: scheme.text})
	}
}
