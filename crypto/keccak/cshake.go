package keccak

import "encoding/binary"

// leftEncode appends NIST SP 800-185 left_encode(x) to b.
func leftEncode(b []byte, x uint64) []byte {
	var tmp [9]byte
	binary.BigEndian.PutUint64(tmp[1:], x)
	i := 1
	for i < 8 && tmp[i] == 0 {
		i++
	}
	tmp[i-1] = byte(9 - i)
	return append(b, tmp[i-1:]...)
}

// rightEncode appends NIST SP 800-185 right_encode(x) to b.
func rightEncode(b []byte, x uint64) []byte {
	var tmp [9]byte
	binary.BigEndian.PutUint64(tmp[:8], x)
	i := 0
	for i < 7 && tmp[i] == 0 {
		i++
	}
	tmp[8] = byte(8 - i)
	return append(b, tmp[i:]...)
}

// absorbBytepad absorbs bytepad(encode_string(a) ‖ encode_string(b), rate).
func (s *Sponge) absorbBytepad(a, b []byte) {
	var hdr [32]byte
	p := leftEncode(hdr[:0], uint64(s.rate))
	p = leftEncode(p, uint64(len(a))*8)
	s.absorb(p)
	s.absorb(a)
	total := len(p) + len(a)
	p = leftEncode(hdr[:0], uint64(len(b))*8)
	s.absorb(p)
	s.absorb(b)
	total += len(p) + len(b)
	if r := total % s.rate; r != 0 {
		var zeros [maxRate]byte
		s.absorb(zeros[:s.rate-r])
	}
}

// NewCSHAKE returns a cSHAKE sponge at the given rate (Rate256 for standard
// cSHAKE-256, Rate512 for QSC's cSHAKE-512) with function name n and
// customization s, ready to absorb the input X; then Read the output.
//
// This is QSC's incremental qsc_cshake_initialize: it absorbs the cSHAKE
// prefix even when n and s are both empty, where standard cSHAKE would fall
// back to SHAKE (QSMP never does that). Use CSHAKE for the standard one-shot.
// In QSC's argument names, X is the "key", n the "name" and s the "custom".
func NewCSHAKE(rate int, n, s []byte) (Sponge, error) {
	if rate < 8 || rate > maxRate || rate%8 != 0 {
		return Sponge{}, ErrRate
	}
	sp := newSponge(rate, dsCSHAKE)
	sp.absorbBytepad(n, s)
	return sp, nil
}

// CSHAKE fills out with cSHAKE(X = x, N = n, S = s) at the given rate, falling
// back to SHAKE at that rate when n and s are both empty, as SP 800-185 and
// QSC's one-shot qsc_cshake256_compute and qsc_cshake512_compute do.
func CSHAKE(rate int, out, x, n, s []byte) error {
	if rate < 8 || rate > maxRate || rate%8 != 0 {
		return ErrRate
	}
	var sp Sponge
	if len(n) == 0 && len(s) == 0 {
		sp = newSponge(rate, dsSHAKE)
	} else {
		sp = newSponge(rate, dsCSHAKE)
		sp.absorbBytepad(n, s)
	}
	sp.absorb(x)
	sp.squeeze(out)
	sp.Clear()
	return nil
}
