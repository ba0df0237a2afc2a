package circ

import (
	"context"
	"errors"
	"fmt"

	"github.com/circa-ils/circa/store"
)

// Patron groups and item policies: the rows and columns of the loan rules.
// Patrons, items, the rules and every import name them by code, and each
// of those is refused when the code names no record; removing one still
// named is refused with what names it, as for the library's structure.

// AddGroup stores a new patron group.
func (s *Service) AddGroup(ctx context.Context, g store.Group, agent Agent) error {
	if err := checkGroupRecord(&g); err != nil {
		return err
	}
	return s.structureUpdate(ctx, "group.add", agent, func(tx store.Tx) error {
		if _, err := tx.Group(g.Code); err == nil {
			return fmt.Errorf("group %s: %w; use edit", g.Code, ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := checkAuth(tx, &g); err != nil {
			return err
		}
		now := s.Now()
		g.Created, g.Updated = now, now
		return tx.PutGroup(&g)
	})
}

// EditGroup changes a patron group with change, then checks the result.
func (s *Service) EditGroup(ctx context.Context, code string, change func(*store.Group), agent Agent) error {
	return s.structureUpdate(ctx, "group.edit", agent, func(tx store.Tx) error {
		g, err := tx.Group(code)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(tx, "group", code)
		}
		if err != nil {
			return err
		}
		created := g.Created
		change(&g)
		g.Code, g.Created, g.Updated = code, created, s.Now()
		if err := checkGroupRecord(&g); err != nil {
			return err
		}
		if err := checkAuth(tx, &g); err != nil {
			return err
		}
		return tx.PutGroup(&g)
	})
}

// RemoveGroup removes a patron group no patron or rule names.
func (s *Service) RemoveGroup(ctx context.Context, code string, agent Agent) error {
	return s.removeNamed(ctx, "group", code, agent, func(tx store.Tx) error { return tx.DeleteGroup(code) })
}

// AddPolicy stores a new item policy.
func (s *Service) AddPolicy(ctx context.Context, p store.Policy, agent Agent) error {
	if err := checkPolicyRecord(&p); err != nil {
		return err
	}
	return s.structureUpdate(ctx, "policy.add", agent, func(tx store.Tx) error {
		if _, err := tx.Policy(p.Code); err == nil {
			return fmt.Errorf("item policy %s: %w; use edit", p.Code, ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := s.Now()
		p.Created, p.Updated = now, now
		return tx.PutPolicy(&p)
	})
}

// EditPolicy changes an item policy with change, then checks the result.
// A new media type is for items added from now on; items keep theirs.
func (s *Service) EditPolicy(ctx context.Context, code string, change func(*store.Policy), agent Agent) error {
	return s.structureUpdate(ctx, "policy.edit", agent, func(tx store.Tx) error {
		p, err := tx.Policy(code)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(tx, "policy", code)
		}
		if err != nil {
			return err
		}
		created := p.Created
		change(&p)
		p.Code, p.Created, p.Updated = code, created, s.Now()
		if err := checkPolicyRecord(&p); err != nil {
			return err
		}
		return tx.PutPolicy(&p)
	})
}

// RemovePolicy removes an item policy no item or rule names.
func (s *Service) RemovePolicy(ctx context.Context, code string, agent Agent) error {
	return s.removeNamed(ctx, "policy", code, agent, func(tx store.Tx) error { return tx.DeletePolicy(code) })
}

// removeNamed removes a group or policy after the same two scans as
// RemoveLibrary: one in a read transaction that keeps kiosks' commits
// flowing, and one again in the write transaction.
func (s *Service) removeNamed(ctx context.Context, kind, code string, agent Agent, del func(store.Tx) error) error {
	if err := s.refuseReferencedView(ctx, kind, code); err != nil {
		return err
	}
	return s.structureUpdate(ctx, kind+".remove", agent, func(tx store.Tx) error {
		if err := s.refuseReferenced(tx, kind, code); err != nil {
			return err
		}
		if err := del(tx); errors.Is(err, store.ErrNotFound) {
			return notFound(tx, kind, code)
		} else if err != nil {
			return err
		}
		return nil
	})
}

// CheckGroup says whether a patron group exists: nil, or a NotFoundError
// naming the nearest group.
func CheckGroup(tx store.Tx, code string) error {
	_, err := tx.Group(code)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(tx, "group", code)
	}
	return err
}

// CheckPolicy says whether an item policy exists: nil, or a NotFoundError
// naming the nearest policy.
func CheckPolicy(tx store.Tx, code string) error {
	_, err := tx.Policy(code)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(tx, "policy", code)
	}
	return err
}

func checkGroupRecord(g *store.Group) error {
	var errs []error
	if err := checkCode("group", g.Code); err != nil {
		errs = append(errs, err)
	}
	if g.Name == "" {
		errs = append(errs, fmt.Errorf("group %s needs a name", g.Code))
	}
	return errors.Join(errs...)
}

func checkPolicyRecord(p *store.Policy) error {
	var errs []error
	if err := checkCode("item policy", p.Code); err != nil {
		errs = append(errs, err)
	}
	if p.Name == "" {
		errs = append(errs, fmt.Errorf("item policy %s needs a name", p.Code))
	}
	if p.MediaType != "" && !validMediaType(p.MediaType) {
		errs = append(errs, fmt.Errorf("item policy %s: media type %q is not a SIP2 media type (000 to 010)", p.Code, p.MediaType))
	}
	return errors.Join(errs...)
}

// validMediaType accepts the SIP2 media type codes, 000 to 010.
func validMediaType(m string) bool {
	return len(m) == 3 && m[0] == '0' && (m[1] == '0' && m[2] >= '0' && m[2] <= '9' || m == "010")
}

// namedByRules adds to r what names a group (patrons, loan rules, group
// limits) or an item policy (items, loan rules, rental fees). Like the
// structure's scan it is linear in patrons or items: removals are rare.
func (s *Service) namedByRules(tx store.Tx, kind, code string, r *Referrers) error {
	if kind == "group" {
		// Patrons are counted, never named: a barcode is personal data.
		n := 0
		if err := tx.ForEachPatron(func(p store.Patron) bool {
			if p.UserGroup == code {
				n++
			}
			return true
		}); err != nil {
			return err
		}
		if n > 0 {
			r.order = append(r.order, "patrons")
			r.Counts["patrons"] = n
		}
	} else {
		if err := tx.ForEachItem(func(it store.Item) bool {
			if it.Policy == code {
				r.add("items", it.Barcode)
			}
			return true
		}); err != nil {
			return err
		}
	}
	rules, err := tx.Rules()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	for i, lr := range rules.Loans {
		if (kind == "group" && lr.UserGroup == code) || (kind == "policy" && lr.ItemPolicy == code) {
			r.add("loan rules", fmt.Sprint(i+1))
		}
	}
	for i, g := range rules.Groups {
		if kind == "group" && g.UserGroup == code {
			r.add("group rules", fmt.Sprint(i+1))
		}
	}
	for i, f := range rules.RentalFees {
		if kind == "policy" && f.ItemPolicy == code {
			r.add("rental fees", fmt.Sprint(i+1))
		}
	}
	return nil
}
