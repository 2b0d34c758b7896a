// Package cookie implements the UDP carrier's stateless address validation
// (docs/DATAGRAM.md section 5): cookies that prove a client receives at the
// address it claims, and a per-prefix rate limiter for what is left.
//
// A server answers a first fragment without a valid cookie with a cookie
// and no state. The cookie is a MAC, under a secret that rotates every
// SlotDuration, over the client's address, port, session id and the time
// slot, so that checking it needs nothing but the two latest secrets.
package cookie

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/qsmp-go/qsmp/crypto/keccak"
)

const (
	// Size is the size of a cookie.
	Size = 32
	// SecretSize is the size of a cookie secret.
	SecretSize = 32
	// SlotDuration is how long one secret makes cookies. A cookie is
	// accepted in the slot it was made in and in the next one: for at
	// least SlotDuration and less than twice that.
	SlotDuration = 30 * time.Second
)

// Customization strings of the KMACs (the version is part of the label).
var (
	customCookie = []byte("qsmp-go cookie v1")
	customRotate = []byte("qsmp-go cookie rotate v1")
)

// ErrRandom reports that the random source failed when a Jar was made.
var ErrRandom = errors.New("cookie: random source failed")

// secret is one slot's key, with its KMAC keyed once.
type secret struct {
	key [SecretSize]byte
	mac keccak.KMAC
}

func newSecret(key [SecretSize]byte) secret {
	m, err := keccak.NewKMAC(keccak.Rate256, key[:], customCookie)
	if err != nil {
		panic(err) // Rate256 is a valid rate
	}
	return secret{key: key, mac: m}
}

func (s *secret) clear() {
	clear(s.key[:])
	s.mac.Clear()
}

// Jar makes and checks cookies. It keeps the current slot's secret and the
// previous one; each new slot gets a new secret, drawn from the random
// source and ratcheted from the previous secret (so a failing source still
// rotates). A Jar is safe for concurrent use.
type Jar struct {
	mu      sync.Mutex
	rand    io.Reader
	started bool
	slot    int64 // the slot of cur
	cur     secret
	prev    secret
	hasPrev bool
	randErr uint64
	cleared bool // Clear ran: no secret is left
}

// NewJar returns a Jar whose secrets come from rand (crypto/rand.Reader in
// production). The first secret is read now; its slot starts with the first
// Make or Check.
func NewJar(rand io.Reader) (*Jar, error) {
	var k [SecretSize]byte
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return nil, errors.Join(ErrRandom, err)
	}
	j := &Jar{rand: rand, cur: newSecret(k)}
	clear(k[:])
	return j, nil
}

// SlotOf returns the slot number of t: its Unix time divided by
// SlotDuration, rounded down.
func SlotOf(t time.Time) int64 {
	s := t.Unix()
	n := int64(SlotDuration / time.Second)
	q := s / n
	if s%n < 0 {
		q--
	}
	return q
}

// advance moves the jar to the slot of now, rotating secrets; a clock that
// went back leaves the jar where it is. j.mu must be held.
func (j *Jar) advance(now time.Time) {
	slot := SlotOf(now)
	if !j.started {
		j.started, j.slot = true, slot
		return
	}
	if slot <= j.slot {
		return
	}
	next := j.rotate(slot)
	j.prev.clear()
	if slot == j.slot+1 {
		j.prev, j.hasPrev = j.cur, true
	} else {
		j.cur.clear()
		j.prev, j.hasPrev = secret{}, false
	}
	j.cur, j.slot = next, slot
}

// rotate derives the secret of slot: KMAC-256 keyed with the current secret
// over 32 fresh random bytes (none if the source fails) and the slot number.
func (j *Jar) rotate(slot int64) secret {
	var fresh [SecretSize]byte
	n, err := io.ReadFull(j.rand, fresh[:])
	if err != nil {
		j.randErr++
		n = 0
	}
	m, err := keccak.NewKMAC(keccak.Rate256, j.cur.key[:], customRotate)
	if err != nil {
		panic(err) // Rate256 is a valid rate
	}
	m.Write(fresh[:n])
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], uint64(slot))
	m.Write(s[:])
	var k [SecretSize]byte
	m.Finalize(k[:])
	m.Clear()
	clear(fresh[:])
	next := newSecret(k)
	clear(k[:])
	return next
}

// RandomFailures returns how many rotations found the random source failing
// (those secrets were ratcheted from the previous one alone).
func (j *Jar) RandomFailures() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.randErr
}

// compute returns KMAC-256(secret, addr16 ‖ LE16 port ‖ LE64 id ‖ LE64 slot)
// with a 32-byte output. m is a copy of the keyed MAC; compute clears it.
func compute(m *keccak.KMAC, addr netip.AddrPort, clientID uint64, slot int64) [Size]byte {
	var in [16 + 2 + 8 + 8]byte
	a := addr.Addr().As16()
	copy(in[:16], a[:])
	binary.LittleEndian.PutUint16(in[16:], addr.Port())
	binary.LittleEndian.PutUint64(in[18:], clientID)
	binary.LittleEndian.PutUint64(in[26:], uint64(slot))
	m.Write(in[:])
	var out [Size]byte
	m.Finalize(out[:])
	m.Clear()
	return out
}

// Make returns the cookie for a client at addr with session id clientID, in
// the slot of now. IPv4 addresses and their IPv4-mapped IPv6 forms give the
// same cookie.
func (j *Jar) Make(addr netip.AddrPort, clientID uint64, now time.Time) [Size]byte {
	j.mu.Lock()
	if j.cleared {
		j.mu.Unlock()
		return [Size]byte{}
	}
	j.advance(now)
	m, slot := j.cur.mac, j.slot
	j.mu.Unlock()
	return compute(&m, addr, clientID, slot)
}

// Check reports whether cookie was made for addr and clientID in the slot of
// now or in the one before. It compares in constant time, and rejects a
// cookie of the wrong length or an invalid address.
func (j *Jar) Check(cookie []byte, addr netip.AddrPort, clientID uint64, now time.Time) bool {
	if len(cookie) != Size || !addr.Addr().IsValid() {
		return false
	}
	j.mu.Lock()
	if j.cleared {
		j.mu.Unlock()
		return false
	}
	j.advance(now)
	cur, prev, hasPrev, slot := j.cur.mac, j.prev.mac, j.hasPrev, j.slot
	j.mu.Unlock()
	want := compute(&cur, addr, clientID, slot)
	ok := subtle.ConstantTimeCompare(want[:], cookie)
	if hasPrev {
		old := compute(&prev, addr, clientID, slot-1)
		ok |= subtle.ConstantTimeCompare(old[:], cookie)
	}
	return ok == 1
}

// Clear zeroes the jar's secrets, for a server that stops taking
// handshakes. Afterwards Check reports false and Make returns an all-zero
// cookie (which no Check accepts).
func (j *Jar) Clear() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cur.clear()
	j.prev.clear()
	j.hasPrev, j.cleared = false, true
}
