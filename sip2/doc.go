// Package sip2 implements the 3M Standard Interchange Protocol 2.00 used by
// library self-check kiosks, RFID pads and sorters: a pure wire codec for
// every message of the specification, a TCP server that calls one Session per
// connection, and a client.
//
// # Codec
//
// Decode and Message.DecodeString read a frame into a generic Message (code,
// fixed part, fields in wire order including unknown ones, AY and AZ);
// Message.AppendTo writes one. Each request has a typed struct with a Decode
// method (CheckoutRequest, …) and each response a typed struct that
// AppendResponse encodes (CheckoutResponse, …), so a Session never touches
// field identifiers. Parsing and encoding a checkout does not allocate.
//
// Reading is lenient: CR, LF or CRLF terminators, telnet negotiation and
// other noise before the command code, empty and leading delimiters, blank
// or "ZZZZ" dates, lowercase checksums, multi-digit sequence numbers, and
// optionally checksums summed over characters instead of bytes. Writing is
// strict: every required fixed field is filled, the request's AY is echoed,
// the checksum is uppercase and covers the exact encoded bytes, 96 and 97
// never carry AY (they carry AZ when error detection is on, as the
// specification says), and no delimiter or control character leaks into a
// field. Text is UTF-8 in Go and UTF-8, CP850 or ISO-8859-1 on the wire.
//
// # Server
//
// NewServer takes Options (copied), Serve runs a listener (wrap it with
// tls.NewListener for TLS), Shutdown drains and Close stops. Each connection
// gets a Session from the Handler; the server handles framing, deadlines,
// limits, 96 and 97 (a retransmitted request goes to the Session, which
// decides whether it is a retry), turns Session errors and
// panics into failure responses of the right type, logs one redacted line per
// message and reports events to an Observer. Snapshot lists the logged-in
// connections (account, address, last message and its latency, errors) for
// operators.
//
// # Client
//
// Dial or NewClient give a Client that numbers, signs and checks messages
// and handles 96 and damaged replies; ParseFieldSpec and Message.Pretty help
// command-line tools build and show messages.
package sip2
