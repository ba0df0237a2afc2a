package statuspage

import (
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// dayTally counts each library's loans and returns on its current day from
// the change journal. The first collection reads the events since the
// earliest midnight among the libraries' zones; each later one reads only
// the events journalled since (or since that midnight, when the last was
// on an earlier day), so a refresh costs what happened in between however
// big the day or the library.
type dayTally struct {
	after uint64                // the last journal event counted
	at    time.Time             // when the tally last read the journal
	days  map[string]libraryDay // library → its counts on Date
}

const dateLayout = "2006-01-02"

// update counts the new events and returns the counts of each library's
// current day. It runs under the handler's collection lock.
func (t *dayTally) update(tx store.Tx, svc *circ.Service, libs []store.Library, now time.Time) (map[string]libraryDay, error) {
	today := make(map[string]string, len(libs))
	zones := make(map[string]*time.Location, len(libs))
	var earliest time.Time
	for _, lib := range libs {
		z := svc.Zone(tx, lib.Code)
		zones[lib.Code] = z
		local := now.In(z)
		today[lib.Code] = local.Format(dateLayout)
		if midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, z); earliest.IsZero() || midnight.Before(earliest) {
			earliest = midnight
		}
	}
	if len(libs) == 0 {
		return nil, nil
	}
	// On the first reading, and on one after a day without any, skip to
	// the day's first event rather than read the days in between.
	if t.days == nil || t.at.Before(earliest) {
		start, err := tx.JournalStart(earliest)
		if err != nil {
			return nil, err
		}
		t.after = max(t.after, start)
		if t.days == nil {
			t.days = map[string]libraryDay{}
		}
	}
	t.at = now
	err := tx.JournalAfter(t.after, func(e store.Event) bool {
		t.after = e.Seq
		if e.Kind != "checkout" && e.Kind != "checkin" {
			return true
		}
		loanID := firstRef(e.Refs, "loan")
		if loanID == 0 {
			return true // a checkin of an item that was not on loan
		}
		l, err := tx.Loan(loanID)
		if err != nil {
			return true // removed since; nothing to count it under
		}
		lib := l.Library
		if e.Kind == "checkin" {
			lib = l.ReturnedAt
		}
		z, ok := zones[lib]
		if !ok {
			return true
		}
		date := e.At.In(z).Format(dateLayout)
		d := t.days[lib]
		if d.Date != date {
			if date < d.Date {
				return true // an event older than the day counted
			}
			d = libraryDay{Date: date}
		}
		if e.Kind == "checkout" {
			d.Loans++
		} else {
			d.Returns++
		}
		t.days[lib] = d
		return true
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]libraryDay, len(libs))
	for lib, date := range today {
		d := t.days[lib]
		if d.Date != date {
			d = libraryDay{Date: date}
		}
		out[lib] = d
	}
	return out, nil
}

func firstRef(refs []store.Ref, kind string) uint64 {
	for _, r := range refs {
		if r.Kind == kind {
			return r.ID
		}
	}
	return 0
}
