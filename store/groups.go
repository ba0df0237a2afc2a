package store

import (
	"encoding/json"
	"time"
)

// Group is a patron group (user group): the row of the loan rules a
// patron borrows under, and the key of the group loan limits.
type Group struct {
	Code    string    `json:"code"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Auth is where the group's patrons prove who they are: empty or
	// "local" for their PIN, "ldap:CODE" for the directory of LDAP
	// profile CODE.
	Auth string `json:"auth,omitempty"`
}

// Policy is an item policy: the column of the loan rules an item lends
// under, and the key of the rental fees.
type Policy struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// MediaType is the SIP2 media type (000–010) an item of the policy
	// gets when it is added without one; empty leaves the default, 001.
	MediaType string    `json:"media_type,omitempty"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// PutGroup creates or replaces a patron group.
func (t *Tx) PutGroup(g *Group) error {
	before, err := auditBefore(t, func() (Group, error) { return t.Group(g.Code) })
	if err != nil {
		return err
	}
	if err := t.auditNote("group", g.Code, before, g, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketGroups), []byte(g.Code), g)
}

// Group returns a patron group by code.
func (t *Tx) Group(code string) (Group, error) {
	var g Group
	return g, getJSON(t.b(bucketGroups), []byte(code), &g)
}

// Groups returns every patron group in code order.
func (t *Tx) Groups() ([]Group, error) { return allJSON[Group](t, bucketGroups) }

// DeleteGroup removes a patron group; ErrNotFound when there is none.
// Callers check first that nothing names it (circ.RemoveGroup).
func (t *Tx) DeleteGroup(code string) error { return t.deleteAudited("group", bucketGroups, code) }

// PutPolicy creates or replaces an item policy.
func (t *Tx) PutPolicy(p *Policy) error {
	before, err := auditBefore(t, func() (Policy, error) { return t.Policy(p.Code) })
	if err != nil {
		return err
	}
	if err := t.auditNote("policy", p.Code, before, p, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketPolicies), []byte(p.Code), p)
}

// Policy returns an item policy by code.
func (t *Tx) Policy(code string) (Policy, error) {
	var p Policy
	return p, getJSON(t.b(bucketPolicies), []byte(code), &p)
}

// Policies returns every item policy in code order.
func (t *Tx) Policies() ([]Policy, error) { return allJSON[Policy](t, bucketPolicies) }

// DeletePolicy removes an item policy; ErrNotFound when there is none.
// Callers check first that nothing names it (circ.RemovePolicy).
func (t *Tx) DeletePolicy(code string) error { return t.deleteAudited("policy", bucketPolicies, code) }

// allJSON decodes every record of a bucket of JSON records, in key order.
func allJSON[T any](t *Tx, bucket []byte) ([]T, error) {
	var out []T
	err := t.b(bucket).ForEach(func(k, v []byte) error {
		var r T
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
