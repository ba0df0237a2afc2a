// Package sip2 implements the 3M Standard Interchange Protocol 2.00 used by
// library self-check kiosks, RFID pads and sorters: a pure wire codec for
// every message of the specification, a TCP server that calls one Session per
// connection, and a client.
//
// The codec is lenient in and strict out. It reads CR, CRLF or LF
// terminated frames, a leading telnet negotiation, empty or leading field
// delimiters, blank or ZZZZ dates, lowercase checksums, multi-digit sequence
// numbers and unknown fields. It writes every required fixed field, echoes the
// request's sequence number, signs the exact bytes it puts on the wire with an
// uppercase checksum, and never lets a delimiter or control character leak
// into a field.
//
// The package knows nothing of circulation: the server decodes a request into
// a typed struct, calls the matching Session method and encodes the typed
// response it gets back.
package sip2
