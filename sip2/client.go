package sip2

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	Charset    Charset
	Terminator Terminator
	// NoChecksum sends messages without AY/AZ and does not check replies.
	NoChecksum bool
	// CodePoints accepts reply checksums computed over characters.
	CodePoints bool
	// Timeout bounds one exchange when the context has no deadline
	// (default 30 seconds).
	Timeout time.Duration
	// Retries is how often a request is sent again after a 96, or a 97 is
	// sent after a reply with a bad checksum (default 3; negative: never).
	Retries int
	// MaxMessage is the longest reply accepted (default 64 KiB).
	MaxMessage int
}

// Errors a Client returns.
var (
	ErrSeqMismatch = errors.New("sip2: reply sequence number does not match the request")
	ErrResend      = errors.New("sip2: server kept asking for a resend")
)

// Client sends SIP2 requests over one connection and reads the replies. It
// numbers requests with AY 0–9, signs them with AZ, checks the checksum and
// the sequence echo of each reply, resends a request the server answered
// with 96 and asks with 97 for a reply that arrived damaged. A Client is
// not safe for concurrent use: SIP2 is strictly one request at a time.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	o    ClientOptions
	seq  int
	out  []byte
}

// Dial connects to a SIP2 server (use tls.Dialer's DialContext through
// NewClient for TLS).
func Dial(ctx context.Context, network, addr string, o ClientOptions) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return NewClient(nc, o), nil
}

// NewClient returns a client speaking over c.
func NewClient(c net.Conn, o ClientOptions) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = 64 << 10
	}
	return &Client{conn: c, r: bufio.NewReaderSize(c, 1024), o: o}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Conn returns the underlying connection.
func (c *Client) Conn() net.Conn { return c.conn }

// Send sends m and returns the reply. Unless NoChecksum is set, m.Seq is
// set to the next sequence number (or kept if the caller set one).
func (c *Client) Send(ctx context.Context, m *Message) (*Message, error) {
	if deadline, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(deadline)
	} else {
		c.conn.SetDeadline(time.Now().Add(c.o.Timeout))
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(aLongTimeAgo) })
		defer stop()
	}
	sign := !c.o.NoChecksum
	if sign && m.Seq == "" && m.Code != "97" {
		m.Seq = strconv.Itoa(c.seq)
		c.seq = (c.seq + 1) % 10
	}
	c.out = m.AppendTo(c.out[:0], &EncodeOptions{Charset: c.o.Charset, Checksum: sign})
	c.out = append(c.out, c.o.Terminator.bytes()...)
	req := c.out
	for attempt := 0; ; attempt++ {
		if _, err := c.conn.Write(req); err != nil {
			return nil, err
		}
		reply, err := c.readReply()
		var de *DecodeError
		switch {
		case errors.As(err, &de) && de.Reason == ReasonBadChecksum && attempt < c.o.Retries:
			req = []byte("97")
			req = appendChecksum(req, 0)
			req = append(req, c.o.Terminator.bytes()...)
			continue
		case err != nil:
			return nil, err
		case reply.Code == "96" && m.Code != "97":
			if attempt >= c.o.Retries {
				return reply, ErrResend
			}
			req = c.out
			continue
		}
		if sign && m.Seq != "" && reply.Seq != "" && reply.Seq != m.Seq && reply.Code != "96" {
			return reply, fmt.Errorf("%w: sent %s, got %s", ErrSeqMismatch, m.Seq, reply.Seq)
		}
		return reply, nil
	}
}

func (c *Client) readReply() (*Message, error) {
	var line []byte
	for {
		b, err := c.r.ReadSlice('\r')
		line = append(line, b...)
		if err == bufio.ErrBufferFull {
			if len(line) > c.o.MaxMessage {
				return nil, errTooLong
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(Trim(string(line))) > 0 {
			break
		}
		line = line[:0]
	}
	mode := ChecksumAuto
	if c.o.NoChecksum {
		mode = ChecksumOff
	}
	// A reply ends in CR; an LF of CRLF is left in the buffer and trimmed
	// off the front of the next reply.
	return Decode(line, DecodeOptions{Charset: c.o.Charset, Checksum: mode, CodePoints: c.o.CodePoints})
}
