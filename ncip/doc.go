// Package ncip is circa's NCIP 2.02 codec and HTTP endpoint. It knows the
// protocol, not circulation: a responder elsewhere implements Service with
// circ and the partner profiles.
//
// Reading is lenient. DecodeRequest matches elements by local name, so
// messages with no namespace, a default namespace or any prefix read the
// same; elements may come in any order; a bare version attribute, a UserId
// beside AuthenticationInput, an Amount without CurrencyCode, a missing
// Scheme, padded agency ids, unknown Ext content, zone-less dates,
// ISO-8859-1 or UTF-16 bodies and NCIP v1 identifiers and Scheme/Value
// pairs are all accepted. A message in another namespace, or whose version
// names neither NCIP 1.x nor 2.x, is refused with a top-level Problem. A
// DOCTYPE is accepted only when it merely names an external DTD (never
// read); one with an internal subset is refused, so no entity is ever
// declared or expanded. Size, depth and element count are bounded. A small scanner does the reading, not
// encoding/xml: a CheckOutItem decodes in a few microseconds.
//
// Writing is strict. EncodeResponse writes ncip_v2_02.xsd-valid messages in
// schema order: the ncip prefix, a qualified ncip:version, a ResponseHeader
// with From and To swapped, RFC 3339 dates with an offset, and Problems with
// the NCIP v1 scheme URIs clients compare against (see ProblemSchemes).
// WriteOptions switch on the legacy forms some partners need.
//
// NewHandler serves POST /ncip and /ncip/{token}: always HTTP 200 with NCIP
// XML for protocol problems, 405 and 413 for transport ones, never HTML,
// stack traces or echoed secrets. Each request reaches the Service with a
// Call holding what the responder needs to authenticate the partner (API
// key, path token, TLS peer certificates, remote address). Client and
// BuildRequest send messages, for the command line and benchmarks.
package ncip
