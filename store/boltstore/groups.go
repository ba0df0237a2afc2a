package boltstore

import (
	"encoding/json"

	"github.com/circa-ils/circa/store"
)

// PutGroup creates or replaces a patron group.
func (t *Tx) PutGroup(g *store.Group) error {
	before, err := auditBefore(t, func() (store.Group, error) { return t.Group(g.Code) })
	if err != nil {
		return err
	}
	if err := t.auditNote("group", g.Code, before, g, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketGroups), []byte(g.Code), g)
}

// Group returns a patron group by code.
func (t *Tx) Group(code string) (store.Group, error) {
	var g store.Group
	return g, getJSON(t.b(bucketGroups), []byte(code), &g)
}

// Groups returns every patron group in code order.
func (t *Tx) Groups() ([]store.Group, error) { return allJSON[store.Group](t, bucketGroups) }

// DeleteGroup removes a patron group; ErrNotFound when there is none.
// Callers check first that nothing names it (circ.RemoveGroup).
func (t *Tx) DeleteGroup(code string) error { return t.deleteAudited("group", bucketGroups, code) }

// PutPolicy creates or replaces an item policy.
func (t *Tx) PutPolicy(p *store.Policy) error {
	before, err := auditBefore(t, func() (store.Policy, error) { return t.Policy(p.Code) })
	if err != nil {
		return err
	}
	if err := t.auditNote("policy", p.Code, before, p, 0, ""); err != nil {
		return err
	}
	return putJSON(t.b(bucketPolicies), []byte(p.Code), p)
}

// Policy returns an item policy by code.
func (t *Tx) Policy(code string) (store.Policy, error) {
	var p store.Policy
	return p, getJSON(t.b(bucketPolicies), []byte(code), &p)
}

// Policies returns every item policy in code order.
func (t *Tx) Policies() ([]store.Policy, error) { return allJSON[store.Policy](t, bucketPolicies) }

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
