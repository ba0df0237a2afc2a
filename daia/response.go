package daia

import (
	"net/url"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// The DAIA 1.0 response, as VuFind's DAIA driver reads it: a document per
// title found, named by the request identifier (the driver matches
// document.id to the id it sent); an item per copy with its call number
// (label), library (department) and shelving location (storage); and for
// each item the services presentation and loan, available or unavailable.
// An unavailable service carries the date it is expected back (the due
// date, in the library's zone, as YYYY-MM-DD, the form the driver parses)
// and the number of holds waiting (queue).

type response struct {
	Timestamp string     `json:"timestamp"`
	Document  []document `json:"document"`
}

type document struct {
	ID        string `json:"id"`
	Requested string `json:"requested"`
	About     string `json:"about,omitempty"`
	Item      []item `json:"item,omitempty"`
}

type item struct {
	ID          string    `json:"id"`
	Label       string    `json:"label,omitempty"`
	Department  *entity   `json:"department,omitempty"`
	Storage     *entity   `json:"storage,omitempty"`
	Available   []service `json:"available,omitempty"`
	Unavailable []service `json:"unavailable,omitempty"`
}

type entity struct {
	ID      string `json:"id,omitempty"`
	Content string `json:"content,omitempty"`
}

type service struct {
	Service    string   `json:"service"`
	Delay      string   `json:"delay,omitempty"`
	Expected   string   `json:"expected,omitempty"`
	Queue      *int     `json:"queue,omitempty"`
	Limitation []entity `json:"limitation,omitempty"`
}

// DAIA service and limitation names.
const (
	servicePresentation = "presentation"
	serviceLoan         = "loan"
	limitShortLoan      = "http://purl.org/ontology/dso#ShortLoan"
	expectedUnknown     = "unknown"
)

// documentOf answers one request identifier with the title found for it.
func documentOf(r requestID, t *circ.TitleAvailability) document {
	d := document{ID: r.doc, Requested: r.requested, About: t.Bib.Title}
	for i := range t.Items {
		d.Item = append(d.Item, itemOf(&t.Items[i]))
	}
	return d
}

func itemOf(a *circ.ItemAvailability) item {
	it := &a.Item
	out := item{ID: DocPrefix + "item:" + url.PathEscape(it.Barcode), Label: a.CallNumber}
	if it.Library != "" {
		out.Department = &entity{ID: DocPrefix + "library:" + url.PathEscape(it.Library), Content: a.LibraryName}
	}
	if it.Location != "" {
		out.Storage = &entity{ID: DocPrefix + "location:" + url.PathEscape(it.Location), Content: a.LocationName}
	}
	// An item that is not lent is never available for loan, and says why.
	notLent := service{Service: serviceLoan, Limitation: []entity{{Content: "not lent: for use in the library"}}}
	if !a.Reserved && (it.Status == store.ItemAvailable || it.Status == store.ItemReshelving) {
		delay := ""
		if a.RemoteStorage {
			delay = expectedUnknown // fetched from the facility on request
		}
		out.Available = append(out.Available, service{Service: servicePresentation, Delay: delay})
		switch {
		case !a.Lendable:
			out.Unavailable = append(out.Unavailable, notLent)
		case a.ShortLoan:
			out.Available = append(out.Available, service{Service: serviceLoan, Delay: delay,
				Limitation: []entity{{ID: limitShortLoan, Content: "lent by the hour"}}})
		default:
			out.Available = append(out.Available, service{Service: serviceLoan, Delay: delay})
		}
		return out
	}
	expected, queue := expectedOf(a), a.HoldQueue
	out.Unavailable = append(out.Unavailable, service{Service: servicePresentation, Expected: expected, Queue: &queue})
	if a.Lendable {
		out.Unavailable = append(out.Unavailable, service{Service: serviceLoan, Expected: expected, Queue: &queue})
	} else {
		out.Unavailable = append(out.Unavailable, notLent)
	}
	return out
}

// expectedOf is when an item that cannot be used now is expected back: a
// loan's due date; "unknown" for one on its way back to the shelf (on the
// hold shelf, in transit, in process, on order, reserved); nothing for one
// that may never come back (lost, missing, claimed returned).
func expectedOf(a *circ.ItemAvailability) string {
	switch a.Item.Status {
	case store.ItemOnLoan:
		if !a.Due.IsZero() {
			return a.Due.In(a.Zone).Format(time.DateOnly)
		}
		return expectedUnknown
	case store.ItemLost, store.ItemMissing, store.ItemClaimedReturned:
		return ""
	}
	return expectedUnknown
}
