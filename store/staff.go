package store

import (
	"bytes"
	"time"
)

// StaffAccount is a member of staff who may sign in to the status page.
// The password is kept only as a hash (circ.HashSecret).
type StaffAccount struct {
	Name         string    `json:"name"`
	PasswordHash string    `json:"password_hash"`
	Created      time.Time `json:"created"`
	// PasswordSet is when the password was last set; a sign-in from
	// before it is no longer valid.
	PasswordSet time.Time `json:"password_set"`
}

// PutStaff creates or replaces a staff account.
func (t *Tx) PutStaff(s *StaffAccount) error { return putJSON(t.b(bucketStaff), []byte(s.Name), s) }

// Staff returns a staff account by name; ErrNotFound when there is none.
func (t *Tx) Staff(name string) (StaffAccount, error) {
	var s StaffAccount
	return s, getJSON(t.b(bucketStaff), []byte(name), &s)
}

// StaffAccounts returns every staff account in name order.
func (t *Tx) StaffAccounts() ([]StaffAccount, error) { return allJSON[StaffAccount](t, bucketStaff) }

// DeleteStaff removes a staff account; ErrNotFound when there is none.
func (t *Tx) DeleteStaff(name string) error { return deleteKey(t.b(bucketStaff), []byte(name)) }

// CountOpenLoansDueBefore counts the open loans due before t0 from the due
// index alone, without reading a loan.
func (t *Tx) CountOpenLoansDueBefore(t0 time.Time) int {
	c := t.b(idxLoanOpenDue).Cursor()
	end := timeKey(t0, 0)
	n := 0
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		n++
	}
	return n
}
