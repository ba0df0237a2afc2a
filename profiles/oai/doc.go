// Package oai publishes the catalogue over OAI-PMH 2.0 and harvests other
// OAI-PMH repositories.
//
// The data provider is NewHandler: an http.Handler answering GET and POST
// (application/x-www-form-urlencoded) requests for all six verbs. It reads from a
// Repository, which the store implements; nothing here imports the store.
//
// # Protocol behaviour
//
//   - Every response is text/xml in UTF-8 with HTTP 200, protocol errors
//     included; all errors found in a request are reported, and the request
//     element carries no attributes when one of them is badVerb or badArgument.
//     gzip is used when the client accepts it, and Identify announces it.
//   - Datestamps have second granularity ("YYYY-MM-DDThh:mm:ssZ"); from and until
//     also accept days (until then means the end of that day), must share one
//     granularity, and from may not be later than until.
//   - Deletions are persistent: a deleted record is a header with
//     status="deleted" and no metadata, in lists and in GetRecord.
//   - Identifiers are oai:<repositoryIdentifier>:<bibID>, the bib id
//     percent-escaped outside the oai-identifier alphabet.
//   - Lists are ordered by (datestamp, bib id) and paged by stateless, HMAC-signed
//     resumptionTokens holding the list's arguments, the upper bound frozen at
//     the start of the list (the request's until, or the time of the first
//     request when it is later or absent), the last key returned and the cursor.
//     Any token issued, the latest or an earlier one, can be replayed. Each page
//     is streamed to the client as the repository yields it.
//
// # Metadata formats
//
//   - oai_dc: Dublin Core, by the crosswalk below.
//   - marc21: the stored MARCXML, normalised to validate against MARC21slim.xsd.
//   - marc21_holdings: marc21 enriched with the live inventory as Alma's
//     publishing does (InventoryFields): the stored 852 and 876 fields give
//     way to one 852 per holdings record ($a institution, $b library, $c
//     location, $h/$i call number, $8 holdings id; first indicator the
//     shelving scheme) and one 876 per item ($a item id, $h use restriction,
//     $j status, $p barcode, $8 holdings id).
//
// # The oai_dc crosswalk
//
// After the Library of Congress MARC to Dublin Core crosswalk, simplified.
// Values keep MARC order; a value repeated within an element is written once;
// trailing ISBD punctuation (" /", " :", " ;", ",", " =", and a final "." that
// does not close an initial) is trimmed.
//
//	dc:title        245 $a $b $f $g $k $n $p $s, joined with spaces
//	dc:creator      100, 110, 111, 700, 710, 711: the name subfields
//	                ($a $b $c $d $g $n $q), joined with spaces
//	dc:subject      600, 610, 611, 630, 650, 651, 653: the heading joined with
//	                spaces, then each subdivision ($v $x $y $z) after "--"
//	dc:description  500 $a, 505 $a, 520 $a $b
//	dc:publisher    264 (second indicator 1) $b, 260 $b
//	dc:date         264 (second indicator 1) $c, 260 $c: the first four-digit
//	                year, else the trimmed value; without them 008/07-10 when
//	                it is a year
//	dc:type         leader/06 in the DCMI Type Vocabulary: a c d t Text,
//	                e f k StillImage, g MovingImage, i j Sound, m Software,
//	                o p Collection, r PhysicalObject
//	dc:format       300 $a $b $c, joined with spaces
//	dc:identifier   020 $a as urn:ISBN:<digits>, 022 $a as urn:ISSN:<issn>, 856 $u
//	dc:language     041 $a (each three-letter code, split when run together),
//	                else 008/35-37 when it is a code
//	dc:relation     490 $a, 830 $a, 773 $t
//	dc:rights       506 $a, 540 $a
//
// # Data hygiene
//
// Stored MARC can carry bytes XML 1.0 forbids (stray MARC delimiters, escape
// sequences, invalid UTF-8). They are found before serialising and normalised
// by the rules documented on the IssueKind constants: forbidden characters and
// references to them are removed, invalid UTF-8 bytes become U+FFFD, leaders,
// tags, indicators and subfield codes are made schema-valid. Every normalisation
// is reported per record through Options.OnProblem and counted in Stats. A
// record whose MARC cannot be read at all is reported the same way and published
// as its header alone (no metadata), so it is never silently missing from a page;
// ListMetadataFormats for it answers noMetadataFormats.
//
// # Harvester
//
// Harvest lists a remote repository page by page, following resumptionTokens,
// checking every page is well-formed (and optionally validating it), and hands
// each record to a callback.
package oai
