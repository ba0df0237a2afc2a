// Package publishing publishes the catalogue: the store-backed OAI-PMH
// repository that profiles/oai serves, the publishing profiles that name
// selections of it, and the publisher that delivers changed records to
// partners as MARCXML files.
//
// # OAI-PMH repository
//
// NewRepository implements oai.Repository over the store. A record is a
// bibliographic record; its identifier is oai:<RepositoryID>:<bib id> and its
// datestamp is the bib's change stamp, which every change to the record, its
// holdings, its items or its deletion moves forward. Deleted and suppressed
// records are tombstones, listed with status="deleted" forever. Temporary
// records made for borrowed ILL items are not the library's and are never
// published. Lists are in (change stamp, bib id) order, read a few dozen
// records per read transaction so that no transaction stays open while a
// page goes out to the network.
//
// # Sets
//
// setSpecs are built from codes, each code as one setSpec token with every
// byte outside [A-Za-z0-9-_.] written as ~ and two upper-case hex digits
// (so "RARE BOOKS" is RARE~20BOOKS):
//
//	library:<library>             everything held at a library
//	library:<library>:<location>  everything held at one of its locations
//	profile:<code>                the selection of a publishing profile
//
// A record belongs to the library and location sets of its items (of its
// holdings when it has no items, such as a title on order); its header
// lists both levels. A deleted or suppressed record keeps the places
// remembered when it was withdrawn (circ.Tombstone), so a
// selective harvest of a set sees the deletion. A live record that has
// left a set (every item it had there moved away; its holdings record
// there stays, empty) is listed in that set as deleted, with the sets it
// left as its setSpecs; lists without that set show it live.
//
// # Publishing profiles
//
// A Profile names a selection (libraries, locations, material types, bib
// ids; every criterion given must match) and how to deliver it: a schedule,
// a delivery.Target and a format (MARCXML, optionally in a .tar.gz). Profiles
// are stored as documents of type "publishing" in the store's profile
// bucket; each is also an OAI set.
//
// # File publishing
//
// Publisher writes, for a profile, the records changed since its last run
// as Alma's publishing does: the new and changed records in a _new file,
// the deletions (leader/05 = d) in a _delete file, each a MARCXML
// collection, packed alone in a .tar.gz for FormatMARCXMLTarGz, and named
// CODE_RUN_YYYYMMDD_HHMMSS[mmm]_new|delete.xml (FileName). Deletions are
// records deleted or suppressed, and records the partner was sent that
// have left the selection (an item moved out of a selected location, say);
// it remembers which records the partner holds for that. The files go out
// with delivery.Client, one after the other. Each run covers the change
// stamps from just after the previous run's upper bound up to SettleTime
// before it starts, so a change still committing, or stamped later in the
// same second, is left to the next run rather than missed. The run's state
// (its window, file names and delivery steps) is saved in the store before
// anything is sent, so a crash at any point resumes the same files under
// the same names and every change is delivered exactly once.
package publishing
