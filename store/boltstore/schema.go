package boltstore

import (
	"encoding/binary"
	"time"
)

// Every bucket name and key encoding of the database lives in this file.
// Records are keyed by 8-byte big-endian ids so that numeric order equals
// byte order; composite index keys are concatenations of fixed-width parts
// or of a length-free string suffix that always comes last.

// SchemaVersion is the version of the layout this binary writes.
const SchemaVersion = 7

var (
	bucketMeta      = []byte("meta")
	bucketLibraries = []byte("libraries")     // code → Library
	bucketLocations = []byte("locations")     // code → Location
	bucketDesks     = []byte("desks")         // code → Desk
	bucketBibs      = []byte("bibs")          // id → Bib (without its MARCXML)
	bucketMARC      = []byte("marc")          // bibID → MARCXML as given
	bucketBibStamp  = []byte("bib_stamp")     // bibID → unix nanos of the latest change
	bucketHoldings  = []byte("holdings")      // id → Holding
	bucketItems     = []byte("items")         // id → Item
	bucketPatrons   = []byte("patrons")       // id → Patron
	bucketLoans     = []byte("loans")         // id → Loan (open and returned)
	bucketRequests  = []byte("requests")      // id → Request
	bucketFees      = []byte("fees")          // id → Fee
	bucketJournal   = []byte("journal")       // seq → Event
	bucketIdem      = []byte("idempotency")   // request key → IdemEntry (stored answer)
	bucketProfiles  = []byte("profiles")      // type 0x00 code → profile document
	bucketStorage   = []byte("storage_state") // itemID ‖ seq → StorageState history entry
	bucketPINFails  = []byte("pin_failures")  // patronID → PINFailures (only while there are some)
	bucketGroups    = []byte("groups")        // code → Group (patron groups)
	bucketPolicies  = []byte("item_policies") // code → Policy
	bucketStaff     = []byte("staff")         // name → StaffAccount (status page logins)
	bucketAudit     = []byte("audit")         // unix nanos ‖ seq → AuditEntry (JSON)

	idxItemBarcode    = []byte("idx_item_barcode")     // normalised barcode → itemID
	idxItemsBib       = []byte("idx_items_bib")        // bibID ‖ itemID → ∅
	idxHoldingsBib    = []byte("idx_holdings_bib")     // bibID ‖ holdingID → ∅
	idxBibControl     = []byte("idx_bib_control")      // 001 control number → bibID
	idxBibChanged     = []byte("idx_bib_changed")      // unix nanos ‖ bibID → ∅
	idxBibISBN        = []byte("idx_bib_isbn")         // ISBN-13 0x00 bibID → ∅
	idxBibSysNum      = []byte("idx_bib_sysnum")       // normalised 035 $a 0x00 bibID → ∅
	idxPatronIdent    = []byte("idx_patron_ident")     // type 0x00 normalised value → patronID
	idxLoanOpenItem   = []byte("idx_loan_open_item")   // itemID → loanID (unique: one open loan per item)
	idxLoanOpenPatron = []byte("idx_loan_open_patron") // patronID ‖ loanID → ∅
	idxLoanOpenDue    = []byte("idx_loan_open_due")    // due unix ‖ loanID → ∅
	idxLoanHistPatron = []byte("idx_loan_hist_patron") // patronID ‖ loanID → ∅ (returned loans)
	idxReqOpenBib     = []byte("idx_req_open_bib")     // bibID ‖ requestID → ∅ (queue order)
	idxReqOpenPatron  = []byte("idx_req_open_patron")  // patronID ‖ requestID → ∅
	idxReqExternal    = []byte("idx_req_external")     // partner 0x00 external id → requestID
	idxFeesPatron     = []byte("idx_fees_patron")      // patronID ‖ feeID → ∅
	idxFeeTxn         = []byte("idx_fee_txn")          // external transaction id → feeID
)

// allBuckets is created at initialisation and walked by Check and Stats.
var allBuckets = allBucketsArray[:]

var allBucketsArray = [...][]byte{
	bucketMeta, bucketLibraries, bucketLocations, bucketDesks, bucketBibs, bucketMARC, bucketBibStamp, bucketHoldings,
	bucketItems, bucketPatrons, bucketLoans, bucketRequests, bucketFees, bucketJournal,
	bucketIdem, bucketProfiles, bucketStorage, bucketPINFails, bucketGroups, bucketPolicies, bucketStaff, bucketAudit,
	idxItemBarcode, idxItemsBib, idxHoldingsBib, idxBibControl, idxBibChanged, idxBibISBN, idxBibSysNum, idxPatronIdent,
	idxLoanOpenItem, idxLoanOpenPatron, idxLoanOpenDue, idxLoanHistPatron,
	idxReqOpenBib, idxReqOpenPatron, idxReqExternal, idxFeesPatron, idxFeeTxn,
}

var (
	keySchemaVersion = []byte("schema_version")
	keyRules         = []byte("rules")
	keyInstallKey    = []byte("install_key")
	keyLibraryName   = []byte("repository")
	cursorPrefix     = "cursor/"
	settingPrefix    = "setting/"
)

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func pair(a, b uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, a)
	binary.BigEndian.PutUint64(k[8:], b)
	return k
}

func pairSecond(k []byte) uint64 { return binary.BigEndian.Uint64(k[8:16]) }

func decodeU64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// timeKey orders instants; times before 1970 clamp to zero.
func timeKey(t time.Time, id uint64) []byte {
	n := t.UnixNano()
	if n < 0 {
		n = 0
	}
	return pair(uint64(n), id)
}

func stringKey(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}
