package boltstore

import "github.com/circa-ils/circa/store"

// PutStaff creates or replaces a staff account.
func (t *Tx) PutStaff(s *store.StaffAccount) error {
	before, err := auditBefore(t, func() (store.StaffAccount, error) { return t.Staff(s.Name) })
	if err != nil {
		return err
	}
	if err := t.auditNote("staff", s.Name, before, s, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketStaff), []byte(s.Name), s)
}

// Staff returns a staff account by name; ErrNotFound when there is none.
func (t *Tx) Staff(name string) (store.StaffAccount, error) {
	var s store.StaffAccount
	return s, getJSON(t.b(bucketStaff), []byte(name), &s)
}

// StaffAccounts returns every staff account in name order.
func (t *Tx) StaffAccounts() ([]store.StaffAccount, error) {
	return allJSON[store.StaffAccount](t, bucketStaff)
}

// DeleteStaff removes a staff account; ErrNotFound when there is none.
func (t *Tx) DeleteStaff(name string) error { return t.deleteAudited("staff", bucketStaff, name) }
