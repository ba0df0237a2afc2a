package store

import "time"

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
func (t *Tx) PutStaff(s *StaffAccount) error {
	before, err := auditBefore(t, func() (StaffAccount, error) { return t.Staff(s.Name) })
	if err != nil {
		return err
	}
	if err := t.auditNote("staff", s.Name, before, s, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketStaff), []byte(s.Name), s)
}

// Staff returns a staff account by name; ErrNotFound when there is none.
func (t *Tx) Staff(name string) (StaffAccount, error) {
	var s StaffAccount
	return s, getJSON(t.b(bucketStaff), []byte(name), &s)
}

// StaffAccounts returns every staff account in name order.
func (t *Tx) StaffAccounts() ([]StaffAccount, error) { return allJSON[StaffAccount](t, bucketStaff) }

// DeleteStaff removes a staff account; ErrNotFound when there is none.
func (t *Tx) DeleteStaff(name string) error { return t.deleteAudited("staff", bucketStaff, name) }
