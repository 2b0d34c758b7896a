// Package keccak implements the Keccak functions QSMP needs, with the
// conventions of the QSC library the original implementation is built on
// (digest section 4): SHA3-256, SHA3-512, SHAKE-256, cSHAKE and KMAC at the
// standard rate 136 and at rate 72 (QSC's non-standard "cSHAKE-512" and
// "KMAC-512"), and QSC's KMAC finalization, which keeps the sponge running
// across messages and has an edge case of its own.
//
// A Sponge is a plain value: copying it clones the whole state, which is how
// the record layer keys a KMAC once and clones it for every record.
package keccak

import (
	"encoding/binary"
	"errors"
)

// Rates used by QSMP, in bytes.
const (
	// Rate256 is the rate of SHA3-256, SHAKE-256, cSHAKE-256 and KMAC-256.
	Rate256 = 136
	// Rate512 is the rate of SHA3-512 and of QSC's cSHAKE-512 and KMAC-512.
	Rate512 = 72
	// maxRate is the largest rate a Sponge supports (SHAKE-128's).
	maxRate = 168
)

// Domain-separation bytes (the suffix bits and the first padding bit).
const (
	dsSHA3   = 0x06
	dsSHAKE  = 0x1F
	dsCSHAKE = 0x04
)

// ErrRate reports a sponge rate that is not a multiple of 8 between 8 and 168.
var ErrRate = errors.New("keccak: rate must be a multiple of 8 from 8 to 168 bytes")

// Sponge is a byte-granular Keccak-f[1600] sponge with a fixed rate and
// domain byte. Write absorbs; the first Read pads and switches to squeezing,
// and the output is one contiguous stream. The zero value is not usable;
// make one with NewSponge or a constructor below.
type Sponge struct {
	a         [25]uint64
	buf       [maxRate]byte // absorbing: pending input; squeezing: the current output block
	rate      int
	n         int // absorbing: bytes pending in buf; squeezing: bytes of buf already read
	ds        byte
	squeezing bool
}

// NewSponge returns a sponge with the given rate in bytes and domain byte.
func NewSponge(rate int, ds byte) (Sponge, error) {
	if rate < 8 || rate > maxRate || rate%8 != 0 {
		return Sponge{}, ErrRate
	}
	return Sponge{rate: rate, ds: ds}, nil
}

func newSponge(rate int, ds byte) Sponge { return Sponge{rate: rate, ds: ds} }

// Rate returns the sponge's rate in bytes.
func (s *Sponge) Rate() int { return s.rate }

// xorBlock XORs one full rate-sized block into the state. The two rates QSMP
// uses get loops over fixed-size arrays, which compile without bounds checks.
func (s *Sponge) xorBlock(p []byte) {
	switch s.rate {
	case Rate256:
		b := (*[Rate256]byte)(p)
		for i := 0; i < Rate256/8; i++ {
			s.a[i] ^= binary.LittleEndian.Uint64(b[8*i:])
		}
	case Rate512:
		b := (*[Rate512]byte)(p)
		for i := 0; i < Rate512/8; i++ {
			s.a[i] ^= binary.LittleEndian.Uint64(b[8*i:])
		}
	default:
		_ = p[s.rate-1]
		for i := 0; i < s.rate/8; i++ {
			s.a[i] ^= binary.LittleEndian.Uint64(p[8*i:])
		}
	}
}

// Write absorbs p. It never fails. Writing after reading starts a new
// absorption on the permuted state (QSC's KMAC relies on that; see KMAC).
func (s *Sponge) Write(p []byte) (int, error) {
	s.absorb(p)
	return len(p), nil
}

func (s *Sponge) absorb(p []byte) {
	if s.squeezing {
		s.squeezing = false
		s.n = 0
	}
	n := len(p)
	if s.n > 0 {
		k := copy(s.buf[s.n:s.rate], p)
		s.n += k
		p = p[k:]
		if s.n < s.rate {
			return
		}
		s.xorBlock(s.buf[:s.rate])
		permute(&s.a)
		s.n = 0
	}
	for len(p) >= s.rate {
		s.xorBlock(p[:s.rate])
		permute(&s.a)
		p = p[s.rate:]
	}
	s.n = copy(s.buf[:], p)
	_ = n
}

// pad applies the domain byte and pad10*1 to the pending input and permutes.
func (s *Sponge) pad() {
	clear(s.buf[s.n:s.rate])
	s.buf[s.n] ^= s.ds
	s.buf[s.rate-1] ^= 0x80
	s.xorBlock(s.buf[:s.rate])
	permute(&s.a)
	s.fillOutput()
	s.squeezing = true
}

// fillOutput copies the rate part of the state into buf and marks it unread.
func (s *Sponge) fillOutput() {
	rate := min(s.rate, maxRate)
	for i := 0; i < rate/8; i++ {
		binary.LittleEndian.PutUint64(s.buf[8*i:], s.a[i])
	}
	s.n = 0
}

// Read squeezes len(p) bytes of output. It never fails.
func (s *Sponge) Read(p []byte) (int, error) {
	s.squeeze(p)
	return len(p), nil
}

func (s *Sponge) squeeze(p []byte) {
	if !s.squeezing {
		s.pad()
	}
	for len(p) > 0 {
		if s.n == s.rate {
			permute(&s.a)
			s.fillOutput()
		}
		k := copy(p, s.buf[s.n:s.rate])
		s.n += k
		p = p[k:]
	}
}

// Reset clears the state, keeping the rate and domain byte.
func (s *Sponge) Reset() {
	*s = Sponge{rate: s.rate, ds: s.ds}
}

// Clear zeroes the whole sponge, secrets included.
func (s *Sponge) Clear() { *s = Sponge{} }

// Sum256 returns the SHA3-256 digest of data.
func Sum256(data []byte) (out [32]byte) {
	s := newSponge(Rate256, dsSHA3)
	s.absorb(data)
	s.squeeze(out[:])
	return out
}

// Sum512 returns the SHA3-512 digest of data.
func Sum512(data []byte) (out [64]byte) {
	s := newSponge(Rate512, dsSHA3)
	s.absorb(data)
	s.squeeze(out[:])
	return out
}

// NewSHA3256 returns a SHA3-256 sponge: Write the message, then Read 32 bytes.
func NewSHA3256() Sponge { return newSponge(Rate256, dsSHA3) }

// NewSHA3512 returns a SHA3-512 sponge: Write the message, then Read 64 bytes.
func NewSHA3512() Sponge { return newSponge(Rate512, dsSHA3) }

// NewSHAKE256 returns a SHAKE-256 sponge.
func NewSHAKE256() Sponge { return newSponge(Rate256, dsSHAKE) }

// ShakeSum256 fills out with SHAKE-256 of data.
func ShakeSum256(out, data []byte) {
	s := newSponge(Rate256, dsSHAKE)
	s.absorb(data)
	s.squeeze(out)
}
