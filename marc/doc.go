// Package marc reads MARC 21 records one at a time, from ISO 2709
// exchange files (MARC-8 or UTF-8, as leader/09 says) and from MARCXML, in
// bounded memory so a migration import of millions of records stays flat.
//
// A record that cannot be read is reported as a *RecordError naming its
// position, byte offset, control number when one could be found, and the
// reason in words a cataloguer understands; the reader then moves on to the
// next record. Any other error ends the file.
//
// ISO 2709 is read the way permissive MARC tools read real exports: the
// record terminator is trusted over a wrong leader length, a wrong base
// address or directory offsets are tolerated when the field terminators
// tell where the fields are, line ends, NUL padding and DOS end-of-file
// marks between records are skipped, and so is junk after the last record.
// Junk, or a record cut short, before another record is reported, and the
// record after it is still read. A record that ends before its terminator,
// a leader length that is not digits, a directory that cannot be read, or
// a record that says it is UTF-8 but is not, is reported, not repaired.
//
// MARC-8 records are decoded to Unicode NFC (combining diacritics, which
// MARC-8 writes before their base letter, come after it) and returned with
// leader/09 set to 'a'. A record whose leader/09 is blank but whose data is
// valid UTF-8 with non-ASCII characters and no escape is read as UTF-8: a
// common export mistake, and MARC-8 text is practically never valid UTF-8.
//
// The MARC-8 sets supported are Basic and Extended Latin (ASCII, ANSEL), the
// Greek symbols, subscripts and superscripts, Basic and Extended Cyrillic,
// Basic Greek, Basic Hebrew and Basic and Extended Arabic. The multibyte East Asian set (EACC) is refused: export such records
// as UTF-8. An unknown escape sequence or a byte with no character in its
// set makes the record an error naming the field.
//
// MARCXML is read token by token, a record at a time, with any namespace
// prefix or none, inside a <collection>, bare, or wrapped in an OAI-PMH
// response. A record is limited to 1 MiB of text.
package marc
