// Package marc reads MARC 21 records one at a time, from ISO 2709
// exchange files (MARC-8 or UTF-8, as leader/09 says) and from MARCXML, in
// bounded memory so a migration import of millions of records stays flat.
//
// A record that cannot be read is reported as a *RecordError naming its
// position, byte offset, control number when one could be found, and the
// reason in words a cataloguer understands; the reader then moves on to the
// next record. Any other error ends the file.
//
// MARC-8 records are decoded to Unicode NFC (combining diacritics, which
// MARC-8 writes before their base letter, come after it) and returned with
// leader/09 set to 'a'. The MARC-8 sets supported are Basic and Extended
// Latin (ASCII, ANSEL), the Greek symbols, subscripts and superscripts, Basic
// and Extended Cyrillic, Basic Greek, Basic Hebrew and Basic and Extended
// Arabic. The multibyte East Asian set (EACC) is refused: export such records
// as UTF-8.
package marc
