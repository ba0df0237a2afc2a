package statuspage

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// Staff accounts sign in to the status page. Passwords are stored as
// argon2id hashes (circ.HashSecret) and never leave the process.
const (
	MinPasswordLen = 10  // characters
	maxPasswordLen = 512 // bytes: more is refused before anything is hashed
	maxNameLen     = 64
)

var (
	// ErrStaffExists refuses to add an account under a name in use.
	ErrStaffExists = errors.New("a staff account of that name exists")
	// ErrNoStaff says no account has the name.
	ErrNoStaff = errors.New("no staff account of that name")
)

// CheckName refuses a name that is empty, long or not made of letters,
// digits and . _ - @ (a name is typed on the sign-in form and shown in
// logs).
func CheckName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("a staff name has 1 to %d characters", maxNameLen)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == '@':
		default:
			return fmt.Errorf("staff name %q: only letters, digits and . _ - @", name)
		}
	}
	return nil
}

// CheckPassword refuses a password too short to resist guessing or too
// long to hash.
func CheckPassword(password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fmt.Errorf("a staff password has at least %d characters", MinPasswordLen)
	}
	if len(password) > maxPasswordLen {
		return fmt.Errorf("a staff password has at most %d bytes", maxPasswordLen)
	}
	return nil
}

// AddStaff creates an account.
func AddStaff(ctx context.Context, db store.DB, name, password string, now time.Time) error {
	hash, err := checkAndHash(name, password)
	if err != nil {
		return err
	}
	return db.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Staff(name); err == nil {
			return fmt.Errorf("%w: %s", ErrStaffExists, name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.PutStaff(&store.StaffAccount{Name: name, PasswordHash: hash, Created: now.UTC(), PasswordSet: now.UTC()})
	})
}

// SetStaffPassword gives an account a new password; whoever is signed in
// to it is signed out.
func SetStaffPassword(ctx context.Context, db store.DB, name, password string, now time.Time) error {
	hash, err := checkAndHash(name, password)
	if err != nil {
		return err
	}
	return db.Update(ctx, func(tx store.Tx) error {
		s, err := tx.Staff(name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNoStaff, name)
		} else if err != nil {
			return err
		}
		s.PasswordHash, s.PasswordSet = hash, now.UTC()
		return tx.PutStaff(&s)
	})
}

// RemoveStaff removes an account; whoever is signed in to it is signed
// out at their next page view.
func RemoveStaff(ctx context.Context, db store.DB, name string) error {
	return db.Update(ctx, func(tx store.Tx) error {
		if err := tx.DeleteStaff(name); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNoStaff, name)
		} else {
			return err
		}
	})
}

// ListStaff returns every account in name order.
func ListStaff(ctx context.Context, db store.DB) ([]store.StaffAccount, error) {
	var out []store.StaffAccount
	err := db.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.StaffAccounts()
		return err
	})
	return out, err
}

func checkAndHash(name, password string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	return circ.HashSecret(password)
}
