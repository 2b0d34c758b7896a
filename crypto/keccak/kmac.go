package keccak

// KMAC is QSC's KMAC (digest 4.3) at rate 136 (KMAC-256) or 72 (QSC's
// KMAC-512), with N = "KMAC".
//
// It differs from SP 800-185 KMAC in two ways that the RCS cipher depends on:
//   - Finalize does not reset the sponge: only the pending input is cleared,
//     and the next Write absorbs into the state left after the tag was
//     squeezed, so each tag covers the whole history.
//   - When the pending input plus right_encode(L) fills the block, QSC first
//     absorbs the pending bytes and permutes, then builds the final block in
//     a buffer that still holds the stale pending bytes (digest 7.5).
//
// A KMAC is a plain value: assigning it clones the keyed state cheaply.
type KMAC struct {
	s Sponge
}

// NewKMAC returns a KMAC keyed with key and customization custom at the
// given rate (Rate256 or Rate512).
func NewKMAC(rate int, key, custom []byte) (KMAC, error) {
	if rate < 8 || rate > maxRate || rate%8 != 0 {
		return KMAC{}, ErrRate
	}
	k := KMAC{s: newSponge(rate, dsCSHAKE)}
	k.s.absorbBytepad([]byte("KMAC"), custom)
	// bytepad(encode_string(key), rate)
	var hdr [16]byte
	p := leftEncode(hdr[:0], uint64(k.s.rate))
	p = leftEncode(p, uint64(len(key))*8)
	k.s.absorb(p)
	k.s.absorb(key)
	if r := (len(p) + len(key)) % k.s.rate; r != 0 {
		var zeros [maxRate]byte
		k.s.absorb(zeros[:k.s.rate-r])
	}
	return k, nil
}

// Write absorbs p into the MAC. It never fails.
func (k *KMAC) Write(p []byte) (int, error) {
	k.s.absorb(p)
	return len(p), nil
}

// Finalize writes a tag of len(out) bytes, as qsc_kmac_finalize does, and
// leaves the sponge running for the next message.
func (k *KMAC) Finalize(out []byte) {
	s := &k.s
	if s.squeezing { // a Finalize right after a Finalize: nothing pending
		s.squeezing = false
		s.n = 0
	}
	var re [9]byte
	enc := rightEncode(re[:0], uint64(len(out))*8)
	p := s.n
	if p+len(enc) >= s.rate {
		// Edge case: absorb the pending bytes without padding, permute, then
		// build the final block over the stale buffer contents.
		clear(s.buf[p:s.rate])
		s.xorBlock(s.buf[:s.rate])
		permute(&s.a)
		copy(s.buf[:], enc)
		s.buf[len(enc)] = dsCSHAKE
		// buf[len(enc)+1 : p] keeps the stale pending bytes; the rest is zero.
	} else {
		copy(s.buf[p:], enc)
		s.buf[p+len(enc)] = dsCSHAKE
		clear(s.buf[p+len(enc)+1 : s.rate])
	}
	s.buf[s.rate-1] |= 0x80
	s.xorBlock(s.buf[:s.rate])
	permute(&s.a)
	for len(out) > 0 {
		s.fillOutput()
		n := copy(out, s.buf[:s.rate])
		out = out[n:]
		if len(out) > 0 {
			permute(&s.a)
		}
	}
	clear(s.buf[:])
	s.n = 0
}

// Clear zeroes the MAC state, key material included.
func (k *KMAC) Clear() { k.s.Clear() }
