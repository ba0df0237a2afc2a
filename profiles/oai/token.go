package oai

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// A resumptionToken carries the whole state of a list in itself, signed so that a
// harvester cannot alter it: the verb, the metadata prefix, the set, the range
// with its upper bound frozen when the list started, the last key returned, the
// cursor and, when tokens expire, the expiry. Tokens are deterministic, so
// replaying the latest or the previous one returns the same page again.
//
// Layout before base64url (no padding): version byte, verb byte, prefix, set,
// from, until, resume datestamp, resume id, cursor, expiry, then the first 16
// bytes of HMAC-SHA256(key, everything before). Strings are uvarint-length
// prefixed, numbers are (u)varints, times are Unix seconds (from and expiry:
// 0 = none) except the resume datestamp, which keeps the repository's precision
// in Unix nanoseconds (0 with an empty id: the start of the list).

const (
	tokenVersion = 1
	macLen       = 16
	maxTokenLen  = 4096 // encoded; far above any token this package issues
)

// listState is the decoded content of a resumptionToken.
type listState struct {
	verb    string // ListIdentifiers, ListRecords or ListSets
	prefix  string
	set     string
	from    time.Time // zero: no lower bound
	until   time.Time
	after   Key
	cursor  int
	expires time.Time // zero: never
}

var verbCodes = map[string]byte{"ListIdentifiers": 1, "ListRecords": 2, "ListSets": 3}

var errBadToken = errors.New("the resumptionToken is not one this repository issued, or it was altered")

func encodeToken(key []byte, s listState) string {
	b := make([]byte, 0, 96)
	b = append(b, tokenVersion, verbCodes[s.verb])
	b = appendString(b, s.prefix)
	b = appendString(b, s.set)
	var from int64
	if !s.from.IsZero() {
		from = s.from.Unix()
	}
	b = binary.AppendVarint(b, from)
	b = binary.AppendVarint(b, s.until.Unix())
	var after int64
	if s.after.ID != "" {
		after = s.after.Datestamp.UnixNano()
	}
	b = binary.AppendVarint(b, after)
	b = appendString(b, s.after.ID)
	b = binary.AppendUvarint(b, uint64(s.cursor))
	var exp int64
	if !s.expires.IsZero() {
		exp = s.expires.Unix()
	}
	b = binary.AppendVarint(b, exp)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	b = m.Sum(b)[:len(b)+macLen]
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken verifies and decodes a token; any failure is errBadToken.
func decodeToken(key []byte, tok string) (listState, error) {
	var s listState
	if len(tok) == 0 || len(tok) > maxTokenLen {
		return s, errBadToken
	}
	for i := 0; i < len(tok); i++ {
		// The decoder would skip line breaks; a token is exactly what was issued.
		if c := tok[i]; !isAlnum(c) && c != '-' && c != '_' {
			return s, errBadToken
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < 2+macLen {
		return s, errBadToken
	}
	body, sum := b[:len(b)-macLen], b[len(b)-macLen:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:macLen], sum) {
		return s, errBadToken
	}
	d := tokenDecoder{b: body}
	if d.byte() != tokenVersion {
		return s, errBadToken
	}
	vc := d.byte()
	for v, c := range verbCodes {
		if c == vc {
			s.verb = v
		}
	}
	s.prefix = d.string()
	s.set = d.string()
	if from := d.varint(); from != 0 {
		s.from = time.Unix(from, 0).UTC()
	}
	s.until = time.Unix(d.varint(), 0).UTC()
	after := d.varint()
	s.after.ID = d.string()
	if s.after.ID != "" {
		s.after.Datestamp = time.Unix(0, after).UTC()
	} else if after != 0 {
		d.bad = true
	}
	c := d.uvarint()
	if exp := d.varint(); exp != 0 {
		s.expires = time.Unix(exp, 0).UTC()
	}
	if d.bad || len(d.b) != 0 || s.verb == "" || c > 1<<40 {
		return listState{}, errBadToken
	}
	s.cursor = int(c)
	return s, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// tokenDecoder reads the token layout; the first failure sticks in bad.
type tokenDecoder struct {
	b   []byte
	bad bool
}

func (d *tokenDecoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *tokenDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *tokenDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *tokenDecoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
