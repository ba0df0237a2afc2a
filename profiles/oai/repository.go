package oai

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (possibly wrapped) by Repository.Record when no record,
// live or deleted, has the requested bib id.
var ErrNotFound = errors.New("oai: record not found")

// Repository is where the data provider reads the catalogue from. The store-backed
// implementation lives outside this package; the tests use one over a slice.
//
// Listing order: records are listed by ascending Datestamp (at whatever precision
// the repository keeps it), ties broken by ID in an order of the repository's
// choosing (numeric for numeric ids, say), the same order every time. A Key
// names a position in that order by itself, so a list resumes correctly even
// after the record at the key has changed or gone.
//
// All methods must be safe for concurrent use.
type Repository interface {
	// Identity describes the repository for Identify and for building identifiers.
	Identity(ctx context.Context) (Identity, error)
	// Sets lists every set; an empty list means the repository has no set hierarchy.
	Sets(ctx context.Context) ([]Set, error)
	// Record returns one record, deleted or not, by its local bib id, or ErrNotFound.
	Record(ctx context.Context, bibID string) (Record, error)
	// List calls fn for each record in the range that comes strictly after
	// req.After in the listing order, in that order, stopping after req.Limit records or at the
	// first error fn returns (which List returns). The Record passed to fn, and the
	// slices it holds, need only stay valid until fn returns. fn writes to the
	// network, so an implementation that keeps read transactions short should read
	// in small chunks and call fn outside its transaction.
	List(ctx context.Context, req ListRequest, fn func(Record) error) error
	// Count returns the exact number of records in the range (deleted ones included).
	Count(ctx context.Context, r Range) (int, error)
}

// Identity is what Identify publishes about the repository.
type Identity struct {
	Name        string   // repositoryName
	BaseURL     string   // baseURL; when empty it is derived from the request
	AdminEmails []string // at least one is required by the protocol
	// RepositoryIdentifier is the domain-like name in identifiers
	// (oai:<RepositoryIdentifier>:<bibID>), e.g. "catalog.example.edu".
	RepositoryIdentifier string
	// EarliestDatestamp is the lowest datestamp of any record or tombstone; the
	// zero time (an empty repository) publishes the response time.
	EarliestDatestamp time.Time
}

// Set is one entry of ListSets.
type Set struct {
	Spec string // setSpec, colon-separated path, e.g. "lib:MAIN"
	Name string // setName
}

// Record is one bibliographic record with everything any format needs.
type Record struct {
	ID        string    // local bib id
	Datestamp time.Time // latest change to the record, its holdings or items, or its deletion; published to the second
	Deleted   bool      // a tombstone, kept forever
	Sets      []string  // setSpecs the record belongs to
	// MARCXML is the record exactly as stored: a <record> in the MARC21 slim
	// namespace (a <collection> holding one record and a missing namespace are
	// accepted). Empty for deleted records and in header-only listings.
	MARCXML  []byte
	Holdings []Holding // the holdings records with their items; used by marc21_holdings
}

// Range bounds a list. A record is in it when its Datestamp, truncated to the
// second, lies between From and Until inclusive (a zero From is no lower bound),
// and, when Set is not empty, it belongs to that set or to any set below it (a
// record in "lib:MAIN:stacks" belongs to "lib" and "lib:MAIN"; see InSet).
type Range struct {
	From, Until time.Time
	Set         string
}

// Key is a position in the listing order: the Datestamp and ID of a record, at
// the repository's full precision. The zero Key precedes every record.
type Key struct {
	Datestamp time.Time
	ID        string
}

// ListRequest asks Repository.List for one page.
type ListRequest struct {
	Range
	After Key // exclusive resume position
	Limit int // maximum number of records to pass to fn
	// HeadersOnly tells the repository that only ID, Datestamp, Deleted and Sets
	// will be read, so MARCXML and Holdings may be left empty.
	HeadersOnly bool
}

// InSet reports whether a record whose setSpecs are specs belongs to set, counting
// membership in descendant sets. It is the rule Repository implementations apply.
func InSet(specs []string, set string) bool {
	if set == "" {
		return true
	}
	for _, s := range specs {
		if s == set || (len(s) > len(set) && s[:len(set)] == set && s[len(set)] == ':') {
			return true
		}
	}
	return false
}
