package ncip

import (
	"strings"
	"time"
)

// ResponseMessage is what a client needs from an NCIP response: which
// service answered, its Problems, and the identifiers and due date of a
// success.
type ResponseMessage struct {
	Version  string
	Service  string // "CheckOutItem" for a CheckOutItemResponse; "" for a top-level Problem
	Header   *ResponseHeader
	Problems []Problem
	UserID   *Identifier
	ItemID   *Identifier
	// RequestID is the RequestId of the response, if any.
	RequestID *Identifier
	DateDue   time.Time
}

// DecodeResponse reads an NCIP response with the same tolerance as
// DecodeRequest.
func DecodeResponse(b []byte, o DecodeOptions) (*ResponseMessage, error) {
	t, err := readTree(b, o)
	if err != nil {
		return nil, err
	}
	defer t.release()
	root := t.root()
	if root.name != "NCIPMessage" {
		return nil, ErrNotNCIP
	}
	d := &decoder{t: t, loc: o.Location}
	if d.loc == nil {
		d.loc = time.UTC
	}
	m := &ResponseMessage{}
	m.Version, _ = root.attr("version")
	found := false
	t.children(root, func(c *node) {
		switch {
		case c.name == "Problem":
			m.Problems = append(m.Problems, d.problem(c))
			found = true
		case !found && strings.HasSuffix(c.name, "Response"):
			found = true
			m.Service = strings.TrimSuffix(c.name, "Response")
			d.service = m.Service
			d.responseBody(m, c)
		}
	})
	if !found {
		return nil, ErrNoService
	}
	return m, nil
}

func (d *decoder) problem(n *node) Problem {
	var p Problem
	d.t.children(n, func(c *node) {
		switch c.name {
		case "ProblemType":
			p.Type = sv(c)
		case "ProblemDetail":
			p.Detail = text(c)
		case "ProblemElement":
			p.Element = text(c)
		case "ProblemValue":
			p.Value = text(c)
		}
	})
	return p
}

func (d *decoder) responseBody(m *ResponseMessage, n *node) {
	d.t.children(n, func(c *node) {
		switch c.name {
		case "ResponseHeader":
			h := d.header(c)
			m.Header = &ResponseHeader{FromSystemID: h.FromSystemID, FromAgencyID: h.FromAgencyID, ToSystemID: h.ToSystemID, ToAgencyID: h.ToAgencyID}
		case "FromAgencyId", "ToAgencyId":
			// LookupVersionResponse carries its agencies directly.
			if m.Header == nil {
				m.Header = &ResponseHeader{}
			}
			if c.name == "FromAgencyId" {
				m.Header.FromAgencyID = d.agency(c)
			} else {
				m.Header.ToAgencyID = d.agency(c)
			}
		case "Problem":
			m.Problems = append(m.Problems, d.problem(c))
		case "UserId":
			m.UserID = d.ident(c)
		case "ItemId":
			m.ItemID = d.ident(c)
		case "RequestId":
			m.RequestID = d.ident(c)
		case "DateDue":
			m.DateDue, _ = parseDate(text(c), d.loc)
		}
	})
}
