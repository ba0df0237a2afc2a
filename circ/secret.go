package circ

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"
)

// Patron PINs and account passwords are stored as argon2id hashes in the
// PHC string form ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so the parameters
// travel with each hash and can be raised later without a migration.
//
// The cost is modest on purpose: a kiosk sends the PIN with most messages and
// the server must answer in milliseconds; Service also caches successful
// verifications in memory keyed by a MAC, so repeats do not rehash.
const (
	argonTime    = 1
	argonMemory  = 8 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// Every argon2 computation in the process holds its memory parameter (in
// KiB) of this budget while it runs, so hashing never takes more than
// hashBudget in total however many logins and PIN checks arrive at once:
// 1,000 concurrent wrong logins once took 7.8 GB. Four 8 MiB hashes at a
// time keep two cores busy; a bigger budget only raised the storm's peak RSS
// (190 MiB at 64 MiB, 140–165 MiB at 32 MiB in TestLoginStormMemory). A check
// that cannot start within hashWait is refused with ErrBusy instead of
// queueing without bound; the kiosk retries.
const (
	hashBudget = 32 * 1024 // KiB
	hashWait   = 500 * time.Millisecond
)

var hashing = semaphore.NewWeighted(hashBudget)

// ErrBusy says a PIN or password check was not run because the hashing
// budget stayed full for hashWait. Nothing was decided: try again later.
var ErrBusy = errors.New("circ: too many PIN and password checks at once")

// argon2id runs argon2.IDKey within the hashing budget. A bounded call
// (a check a stranger can cause) waits at most hashWait for its share;
// otherwise (administrative hashing, imports) it waits as long as needed.
func argon2id(secret string, salt []byte, t, mem uint32, p uint8, keyLen uint32, bounded bool) ([]byte, error) {
	if mem > hashBudget {
		return nil, errBadHash
	}
	if bounded {
		ctx, cancel := context.WithTimeout(context.Background(), hashWait)
		defer cancel()
		if err := hashing.Acquire(ctx, int64(mem)); err != nil {
			return nil, ErrBusy
		}
	} else if err := hashing.Acquire(context.Background(), int64(mem)); err != nil {
		return nil, err
	}
	hashMem.begin()
	sum := argon2.IDKey([]byte(secret), salt, t, mem, p, keyLen)
	hashing.Release(int64(mem))
	if hashMem.end(mem, bounded) {
		debug.FreeOSMemory()
	}
	return sum, nil
}

// hashMem decides when to give hashing memory back to the system. Each
// hash leaves its memory as garbage, and after a burst nothing allocates,
// so no collection runs and the process kept 160 MiB of it for minutes
// (TestLoginStormMemory measured it). The last hash of a burst that left
// at least returnAfter of garbage collects and returns it, so at most that
// much stays; a trickle of single hashes pays one collection per two.
// Administrative hashing (an import of thousands of PINs) is left to the
// collector's own pace.
var hashMem memReturn

const returnAfter = 2 * argonMemory // KiB

type memReturn struct {
	mu       sync.Mutex
	inFlight int
	garbage  int64 // KiB hashed since memory was last given back
}

func (m *memReturn) begin() {
	m.mu.Lock()
	m.inFlight++
	m.mu.Unlock()
}

// end reports whether the caller should give the memory back now.
func (m *memReturn) end(mem uint32, bounded bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight--
	if bounded {
		m.garbage += int64(mem)
	}
	if m.inFlight > 0 || m.garbage < returnAfter {
		return false
	}
	m.garbage = 0
	return true
}

// HashSecret returns the argon2id hash of a PIN or password.
func HashSecret(secret string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum, err := argon2id(secret, salt, argonTime, argonMemory, argonThreads, argonKeyLen, false)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

var errBadHash = errors.New("circ: malformed secret hash")

// verified remembers successful verifications for the life of the
// process, keyed by a MAC under a random per-process key, so neither
// secrets nor anything that could be checked against them offline are kept.
// Every kiosk login (93) verifies its account password: without this, a
// reconnect storm of a thousand kiosks runs a thousand argon2 hashes of
// 8 MiB each. Failures are never remembered, so guessing still pays the
// full cost; concurrent checks of the same pair share one hash.
var verified struct {
	once  sync.Once
	macs  sync.Pool // *keyedMAC under the process key, reused
	mu    sync.Mutex
	ok    map[string]struct{}
	group singleflight.Group
}

const maxVerified = 100_000

func verifiedTag(encoded, secret string) string {
	verified.once.Do(func() {
		key := make([]byte, 32)
		rand.Read(key)
		verified.macs.New = func() any { return newKeyedMAC(key) }
		verified.ok = map[string]struct{}{}
	})
	m := verified.macs.Get().(*keyedMAC)
	defer verified.macs.Put(m)
	return string(m.sum(encoded, "\x00", secret))
}

// keyedMAC is a reusable HMAC-SHA256 with a scratch buffer for its input,
// so a MAC over strings allocates nothing.
type keyedMAC struct {
	mac     hash.Hash
	scratch []byte
	out     [sha256.Size]byte
}

func newKeyedMAC(key []byte) *keyedMAC { return &keyedMAC{mac: hmac.New(sha256.New, key)} }

// sum returns the MAC of the concatenated parts; the result is valid until
// the next call.
func (k *keyedMAC) sum(parts ...string) []byte {
	k.scratch = k.scratch[:0]
	for _, p := range parts {
		k.scratch = append(k.scratch, p...)
	}
	k.mac.Reset()
	k.mac.Write(k.scratch)
	return k.mac.Sum(k.out[:0])
}

// VerifySecret reports whether secret matches a hash made by HashSecret.
// The comparison runs in constant time; a pair verified before is
// answered from memory. It returns ErrBusy when the hashing budget stays
// full. Callers that take guesses from strangers consult their throttle
// (Service's PIN throttle, LoginGuard) before calling it, so a locked
// account or PIN is not answered even from memory.
func VerifySecret(hash, secret string) (bool, error) { return verifyRemembered(hash, secret, true) }

// VerifySecretWaiting is VerifySecret for administrative work (an import
// comparing PINs it was sent with those stored): it waits for its share of
// the hashing budget however long a storm holds it, and never answers
// ErrBusy, which such a caller would take for a mismatch.
func VerifySecretWaiting(hash, secret string) (bool, error) {
	return verifyRemembered(hash, secret, false)
}

func verifyRemembered(hash, secret string, bounded bool) (bool, error) {
	tag := verifiedTag(hash, secret)
	verified.mu.Lock()
	_, known := verified.ok[tag]
	verified.mu.Unlock()
	if known {
		return true, nil
	}
	group := tag
	if !bounded {
		group += "\x00wait" // never share a bounded check's ErrBusy
	}
	v, err, _ := verified.group.Do(group, func() (any, error) {
		good, err := verifySecret(hash, secret, bounded)
		if good && err == nil {
			verified.mu.Lock()
			if len(verified.ok) >= maxVerified {
				clear(verified.ok)
			}
			verified.ok[tag] = struct{}{}
			verified.mu.Unlock()
		}
		return good, err
	})
	return v.(bool), err
}

func verifySecret(hash, secret string, bounded bool) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || mem == 0 || t == 0 || p == 0 || mem > hashBudget || t > 16 {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got, err := argon2id(secret, salt, t, mem, p, uint32(len(want)), bounded)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
