package suite

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

// errBoom is the failure of failingReader; it must reach the caller.
var errBoom = errors.New("boom: entropy source broken")

// failingReader serves n bytes of zeros, then fails with errBoom.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errBoom
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

// TestNilAndZeroSuite checks that a nil *Suite (a failed Lookup whose error
// was ignored) and a zero or partial Suite give errors, not panics.
func TestNilAndZeroSuite(t *testing.T) {
	var nilSuite *Suite
	if w := nilSuite.Wire(); w != [ConfigSize]byte{} {
		t.Errorf("nil Suite wire form %x, want zeros", w)
	}
	w := nilSuite.Wire()
	if _, err := FromWire(w[:]); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("FromWire(nil Suite's wire form): %v", err)
	}
	if nilSuite.String() != "<nil>" {
		t.Errorf("nil Suite String() = %q", nilSuite.String())
	}
	if nilSuite.Implemented() {
		t.Error("nil Suite claims to be implemented")
	}

	cases := []struct {
		name    string
		s       *Suite
		kemErr  error // nil: KEM must succeed
		sigErr  error
		implOK  bool
		wantStr string
	}{
		{"nil", nil, ErrUnknownConfig, ErrUnknownConfig, false, "<nil>"},
		{"zero", &Suite{}, ErrNotImplemented, ErrNotImplemented, false, ""},
		{"KEM only", &Suite{Name: "x", KEMName: "ML-KEM-768"}, nil, ErrNotImplemented, false, "x"},
		{"signer only", &Suite{Name: "y", SignatureName: "ML-DSA-65"}, ErrNotImplemented, nil, false, "y"},
		{"unknown names", &Suite{Name: "z", KEMName: "RSA", SignatureName: "DSA"}, ErrNotImplemented, ErrNotImplemented, false, "z"},
		{"both", &Suite{Name: "w", KEMName: "ML-KEM-768", SignatureName: "ML-DSA-65"}, nil, nil, true, "w"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := c.s.KEM()
			if c.kemErr == nil {
				if err != nil || k == nil {
					t.Errorf("KEM() = %v, %v", k, err)
				}
			} else if !errors.Is(err, c.kemErr) || k != nil {
				t.Errorf("KEM() = %v, %v; want error %v", k, err, c.kemErr)
			}
			v, err := c.s.Signer()
			if c.sigErr == nil {
				if err != nil || v == nil {
					t.Errorf("Signer() = %v, %v", v, err)
				}
			} else if !errors.Is(err, c.sigErr) || v != nil {
				t.Errorf("Signer() = %v, %v; want error %v", v, err, c.sigErr)
			}
			if got := c.s.Implemented(); got != c.implOK {
				t.Errorf("Implemented() = %v", got)
			}
			if got := c.s.String(); got != c.wantStr {
				t.Errorf("String() = %q, want %q", got, c.wantStr)
			}
		})
	}

	// An over-long custom name keeps its NUL terminator on the wire.
	long := &Suite{Name: strings.Repeat("a", 40)}
	if w := long.Wire(); w[ConfigSize-1] != 0 || string(w[:ConfigSize-1]) != strings.Repeat("a", 33) {
		t.Errorf("over-long name wire form %q", w)
	}
}

// TestLookupMisuse covers malformed names and wire forms.
func TestLookupMisuse(t *testing.T) {
	good := All()[0].Wire()
	for _, c := range []struct {
		name string
		wire []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"truncated", good[:ConfigSize-1]},
		{"oversized", append(good[:], 0)},
		{"no NUL", append(good[:ConfigSize-1:ConfigSize-1], 'x')},
		{"all NUL", make([]byte, ConfigSize)},
		{"NUL inside", func() []byte { b := good; b[5] = 0; return b[:] }()},
	} {
		if s, err := FromWire(c.wire); !errors.Is(err, ErrUnknownConfig) || s != nil {
			t.Errorf("FromWire(%s) = %v, %v", c.name, s, err)
		}
	}
	for _, name := range []string{"", "\x00", strings.Repeat("\x00", ConfigSize), Default + "\x00\x00", "DILITHIUM-S3_KYBER-S3_SHA3_RCS256"} {
		if s, err := Lookup(name); !errors.Is(err, ErrUnknownConfig) || s != nil {
			t.Errorf("Lookup(%q) = %v, %v", name, s, err)
		}
	}
	// All returns a copy: changing it does not change the table.
	a := All()
	a[0] = nil
	if All()[0] == nil {
		t.Error("All exposes the table")
	}
}

// specWire is the hex column of digest table 3.2.
var specWire = map[string]string{
	"dilithium-s1_kyber-s1_sha3_rcs256": "64696c69746869756d2d73315f6b796265722d73315f736861335f72637332353600",
	"dilithium-s3_kyber-s3_sha3_rcs256": "64696c69746869756d2d73335f6b796265722d73335f736861335f72637332353600",
	"dilithium-s5_kyber-s5_sha3_rcs256": "64696c69746869756d2d73355f6b796265722d73355f736861335f72637332353600",
	"dilithium-s5_kyber-s6_sha3_rcs256": "64696c69746869756d2d73355f6b796265722d73365f736861335f72637332353600",
	"dilithium-s1_mceliece-s1_sha3_rcs": "64696c69746869756d2d73315f6d63656c696563652d73315f736861335f72637300",
	"dilithium-s3_mceliece-s3_sha3_rcs": "64696c69746869756d2d73335f6d63656c696563652d73335f736861335f72637300",
	"dilithium-s5_mceliece-s5_sha3_rcs": "64696c69746869756d2d73355f6d63656c696563652d73355f736861335f72637300",
	"dilithium-s5_mceliece-s6_sha3_rcs": "64696c69746869756d2d73355f6d63656c696563652d73365f736861335f72637300",
	"dilithium-s5_mceliece-s7_sha3_rcs": "64696c69746869756d2d73355f6d63656c696563652d73375f736861335f72637300",
	"sphincs+-s1s_mceliece-s1_sha3_rcs": "737068696e63732b2d7331735f6d63656c696563652d73315f736861335f72637300",
	"sphincs+-s3s_mceliece-s3_sha3_rcs": "737068696e63732b2d7333735f6d63656c696563652d73335f736861335f72637300",
	"sphincs+-s5s_mceliece-s5_sha3_rcs": "737068696e63732b2d7335735f6d63656c696563652d73355f736861335f72637300",
	"sphincs+-s5s_mceliece-s6_sha3_rcs": "737068696e63732b2d7335735f6d63656c696563652d73365f736861335f72637300",
	"sphincs+-s5s_mceliece-s7_sha3_rcs": "737068696e63732b2d7335735f6d63656c696563652d73375f736861335f72637300",
}

// specSig and specKEM are digest table 3.3, by primitive.
var (
	specSig = map[string][3]int{ // public key, secret key, signature
		"ML-DSA-44":          {1312, 2560, 2420},
		"ML-DSA-65":          {1952, 4032, 3309},
		"ML-DSA-87":          {2592, 4896, 4627},
		"SLH-DSA-SHAKE-128s": {32, 64, 7856},
		"SLH-DSA-SHAKE-192s": {48, 96, 16224},
		"SLH-DSA-SHAKE-256s": {64, 128, 29792},
	}
	specKEM = map[string][3]int{ // encapsulation key, decapsulation key, ciphertext
		"ML-KEM-512":       {800, 1632, 768},
		"ML-KEM-768":       {1184, 2400, 1088},
		"ML-KEM-1024":      {1568, 3168, 1568},
		"Kyber-K5":         {1952, 3936, 1920},
		"McEliece-348864":  {261120, 6492, 128},
		"McEliece-460896":  {524160, 13608, 188},
		"McEliece-6688128": {1044992, 13932, 240},
		"McEliece-6960119": {1047319, 13948, 226},
		"McEliece-8192128": {1357824, 14120, 240},
	}
)

// specQSMS and specQSMD are digest table 3.5 (message lengths) by the
// configuration's prefix: QSMS connect response and exchange request; QSMD
// connect request, connect response, exchange request, exchange response,
// asymmetric-ratchet request and response (sealed, tag included).
var (
	specQSMS = map[string][2]int{
		"dilithium-s1_kyber-s1":    {3252, 768},
		"dilithium-s3_kyber-s3":    {4525, 1088},
		"dilithium-s5_kyber-s5":    {6227, 1568},
		"dilithium-s5_kyber-s6":    {6611, 1920},
		"dilithium-s1_mceliece-s1": {263572, 128},
		"dilithium-s3_mceliece-s3": {527501, 188},
		"dilithium-s5_mceliece-s5": {1049651, 240},
		"dilithium-s5_mceliece-s6": {1051978, 226},
		"dilithium-s5_mceliece-s7": {1362483, 240},
		"sphincs+-s1s_mceliece-s1": {269008, 128},
		"sphincs+-s3s_mceliece-s3": {540416, 188},
		"sphincs+-s5s_mceliece-s5": {1074816, 240},
		"sphincs+-s5s_mceliece-s6": {1077143, 226},
		"sphincs+-s5s_mceliece-s7": {1387648, 240},
	}
	specQSMD = map[string][6]int{
		"dilithium-s1_kyber-s1":    {2534, 3284, 4052, 3252, 3348, 3316},
		"dilithium-s3_kyber-s3":    {3423, 4557, 5645, 4461, 4621, 4525},
		"dilithium-s5_kyber-s5":    {4741, 6259, 7827, 6259, 6323, 6323},
		"dilithium-s5_kyber-s6":    {4741, 6643, 8563, 6611, 6707, 6675},
		"dilithium-s1_mceliece-s1": {2534, 263604, 263732, 2612, 263668, 2676},
		"dilithium-s3_mceliece-s3": {3423, 527533, 527721, 3561, 527597, 3625},
		"dilithium-s5_mceliece-s5": {4741, 1049683, 1049923, 4931, 1049747, 4995},
		"dilithium-s5_mceliece-s6": {4741, 1052010, 1052236, 4917, 1052074, 4981},
		"dilithium-s5_mceliece-s7": {4741, 1362515, 1362755, 4931, 1362579, 4995},
		"sphincs+-s1s_mceliece-s1": {7970, 269040, 269168, 8048, 269104, 8112},
		"sphincs+-s3s_mceliece-s3": {16338, 540448, 540636, 16476, 540512, 16540},
		"sphincs+-s5s_mceliece-s5": {29906, 1074848, 1075088, 30096, 1074912, 30160},
		"sphincs+-s5s_mceliece-s6": {29906, 1077175, 1077401, 30082, 1077239, 30146},
		"sphincs+-s5s_mceliece-s7": {29906, 1387680, 1387920, 30096, 1387744, 30160},
	}
)

// TestEveryConfigurationMatchesSpecTables checks every configuration of the
// table, and the scheme it resolves to, against digest tables 3.2, 3.3 and
// 3.5 (the message sizes are recomputed from the primitive sizes with the
// formulas of sections 5, 6 and 8.3, so a wrong size in the table shows up
// twice).
func TestEveryConfigurationMatchesSpecTables(t *testing.T) {
	if len(All()) != len(specWire) {
		t.Fatalf("%d configurations, the digest lists %d", len(All()), len(specWire))
	}
	for _, s := range All() {
		t.Run(s.Name, func(t *testing.T) {
			want, ok := specWire[s.Name]
			if !ok {
				t.Fatal("not in digest table 3.2")
			}
			w := s.Wire()
			if hex.EncodeToString(w[:]) != want {
				t.Errorf("wire form %x, digest says %s", w, want)
			}
			sig, ok := specSig[s.SignatureName]
			if !ok {
				t.Fatalf("signature %q not in digest table 3.3", s.SignatureName)
			}
			if got := [3]int{s.SigPublicKeySize, s.SigPrivateKeySize, s.SignatureSize}; got != sig {
				t.Errorf("signature sizes %v, digest says %v", got, sig)
			}
			kem, ok := specKEM[s.KEMName]
			if !ok {
				t.Fatalf("KEM %q not in digest table 3.3", s.KEMName)
			}
			if got := [3]int{s.KEMPublicKeySize, s.KEMPrivateKeySize, s.CiphertextSize}; got != kem {
				t.Errorf("KEM sizes %v, digest says %v", got, kem)
			}
			prefix := s.Name[:strings.Index(s.Name, "_sha3")]
			SIG, EK, CT := s.SignatureSize, s.KEMPublicKeySize, s.CiphertextSize
			if got := [2]int{SIG + 32 + EK, CT}; got != specQSMS[prefix] {
				t.Errorf("QSMS sizes %v, digest table 3.5 says %v", got, specQSMS[prefix])
			}
			qsmd := [6]int{16 + ConfigSize + SIG + 64, SIG + 64 + EK, CT + EK + SIG + 64, CT + SIG + 64, EK + SIG + 64 + 64, CT + SIG + 64 + 64}
			if qsmd != specQSMD[prefix] {
				t.Errorf("QSMD sizes %v, digest table 3.5 says %v", qsmd, specQSMD[prefix])
			}
			// The schemes report the same sizes.
			k, err := s.KEM()
			if err != nil {
				t.Fatal(err)
			}
			if got := [3]int{k.PublicKeySize(), k.PrivateKeySize(), k.CiphertextSize()}; got != kem || k.Name() != s.KEMName {
				t.Errorf("KEM %s reports %v", k.Name(), got)
			}
			v, err := s.Signer()
			if err != nil {
				t.Fatal(err)
			}
			if got := [3]int{v.PublicKeySize(), v.PrivateKeySize(), v.SignatureSize()}; got != sig || v.Name() != s.SignatureName {
				t.Errorf("signer %s reports %v", v.Name(), got)
			}
			if !s.Implemented() {
				t.Error("not implemented")
			}
		})
	}
}

// lengths returns byte slices of every malformed length around size: nil,
// empty, one byte, one short, one long and twice the size.
func lengths(size int) map[string][]byte {
	return map[string][]byte{
		"nil":       nil,
		"empty":     {},
		"one byte":  {0},
		"truncated": make([]byte, size-1),
		"oversized": make([]byte, size+1),
		"double":    make([]byte, 2*size),
	}
}

// TestKEMMisuse feeds every registered KEM malformed keys, ciphertexts and
// random sources. Nothing here generates a McEliece key, so it is quick.
func TestKEMMisuse(t *testing.T) {
	for name, k := range kems {
		t.Run(name, func(t *testing.T) {
			pk := make([]byte, k.PublicKeySize())
			sk := make([]byte, k.PrivateKeySize())
			ct := make([]byte, k.CiphertextSize())
			for what, bad := range lengths(len(pk)) {
				if c, s, err := k.Encapsulate(drbg("x"), bad); !errors.Is(err, ErrKeySize) || c != nil || s != nil {
					t.Errorf("Encapsulate with %s public key: %v", what, err)
				}
			}
			for what, bad := range lengths(len(sk)) {
				if s, err := k.Decapsulate(bad, ct); !errors.Is(err, ErrKeySize) || s != nil {
					t.Errorf("Decapsulate with %s private key: %v", what, err)
				}
			}
			// ML-KEM checks the private key before the ciphertext; the others
			// the ciphertext first. Either way a bad ciphertext length is an
			// error; with a well-formed key it is ErrCiphertextSize.
			goodSK := sk
			if strings.HasPrefix(name, "ML-KEM") || name == "Kyber-K5" {
				_, goodSK, _ = k.GenerateKey(drbg("misuse " + name))
			}
			for what, bad := range lengths(len(ct)) {
				if s, err := k.Decapsulate(goodSK, bad); !errors.Is(err, ErrCiphertextSize) || s != nil {
					t.Errorf("Decapsulate with %s ciphertext: %v", what, err)
				}
			}
			// Failing randomness: the cause is kept in the chain.
			for what, r := range map[string]io.Reader{"nil": nil, "failing": &failingReader{}, "short": &failingReader{n: 1}} {
				if p, s, err := k.GenerateKey(r); !errors.Is(err, ErrRandom) || p != nil || s != nil {
					t.Errorf("GenerateKey with %s source: %v", what, err)
				} else if what != "nil" && !errors.Is(err, errBoom) {
					t.Errorf("GenerateKey with %s source lost the cause: %v", what, err)
				}
			}
		})
	}
}

// TestKEMEncapsulateRandomFailure checks that a failing random source during
// encapsulation to a valid key is reported with its cause, for the KEMs whose
// keys are cheap to make (McEliece's are covered in TestMcElieceErrorMapping).
func TestKEMEncapsulateRandomFailure(t *testing.T) {
	for _, name := range []string{"ML-KEM-512", "ML-KEM-768", "ML-KEM-1024", "Kyber-K5"} {
		k := kems[name]
		pk, _, err := k.GenerateKey(drbg("encaps rand " + name))
		if err != nil {
			t.Fatal(err)
		}
		for what, r := range map[string]io.Reader{"nil": nil, "failing": &failingReader{}, "short": &failingReader{n: 31}} {
			ct, ss, err := k.Encapsulate(r, pk)
			if !errors.Is(err, ErrRandom) || ct != nil || ss != nil {
				t.Errorf("%s: Encapsulate with %s source: %v", name, what, err)
			}
			if what != "nil" && !errors.Is(err, errBoom) {
				t.Errorf("%s: Encapsulate with %s source lost the cause: %v", name, what, err)
			}
		}
	}
}

// TestMLKEMMalformedEncoding checks keys of the right length whose contents
// circl rejects: an encapsulation key with coefficients not below q, and a
// decapsulation key with such coefficients or a wrong H(ek).
func TestMLKEMMalformedEncoding(t *testing.T) {
	for _, name := range []string{"ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"} {
		k := kems[name]
		ff := bytes.Repeat([]byte{0xff}, k.PublicKeySize())
		r := &kyber5DrawLog{data: make([]byte, 32)}
		if _, _, err := k.Encapsulate(r, ff); !errors.Is(err, ErrKeySize) {
			t.Errorf("%s: encapsulation key of 0xff bytes: %v", name, err)
		}
		if len(r.reads) != 0 {
			t.Errorf("%s: a malformed key drew randomness: %v", name, r.reads)
		}
		ct := make([]byte, k.CiphertextSize())
		if _, err := k.Decapsulate(bytes.Repeat([]byte{0xff}, k.PrivateKeySize()), ct); !errors.Is(err, ErrKeySize) {
			t.Errorf("%s: decapsulation key of 0xff bytes: %v", name, err)
		}
		_, sk, err := k.GenerateKey(drbg("hash " + name))
		if err != nil {
			t.Fatal(err)
		}
		sk[len(sk)-64] ^= 1 // inside H(ek)
		if _, err := k.Decapsulate(sk, ct); !errors.Is(err, ErrKeySize) {
			t.Errorf("%s: decapsulation key with a wrong H(ek): %v", name, err)
		}
	}
}

// TestSignerMisuse feeds every registered signer malformed keys, signed
// messages and random sources. Signing with SLH-DSA is slow, so only its
// failure paths (which return before signing) are exercised.
func TestSignerMisuse(t *testing.T) {
	for name, v := range signers {
		t.Run(name, func(t *testing.T) {
			pk := make([]byte, v.PublicKeySize())
			sk := make([]byte, v.PrivateKeySize())
			sm := make([]byte, v.SignatureSize()+8)
			for what, bad := range lengths(len(pk)) {
				if m, err := v.Open(bad, sm); !errors.Is(err, ErrKeySize) || m != nil {
					t.Errorf("Open with %s public key: %v", what, err)
				}
			}
			for what, bad := range lengths(len(sk)) {
				if m, err := v.Sign(drbg("x"), bad, []byte("m")); !errors.Is(err, ErrKeySize) || m != nil {
					t.Errorf("Sign with %s private key: %v", what, err)
				}
			}
			for what, bad := range map[string][]byte{"nil": nil, "empty": {}, "one byte": {0}, "truncated signature": sm[:v.SignatureSize()-1]} {
				if m, err := v.Open(pk, bad); !errors.Is(err, ErrVerify) || m != nil {
					t.Errorf("Open of %s signed message: %v", what, err)
				}
			}
			for what, r := range map[string]io.Reader{"nil": nil, "failing": &failingReader{}, "short": &failingReader{n: 1}} {
				if p, s, err := v.GenerateKey(r); !errors.Is(err, ErrRandom) || p != nil || s != nil {
					t.Errorf("GenerateKey with %s source: %v", what, err)
				} else if what != "nil" && !errors.Is(err, errBoom) {
					t.Errorf("GenerateKey with %s source lost the cause: %v", what, err)
				}
			}
		})
	}
}

// TestMLDSASignIgnoresRandom checks that ML-DSA signing is deterministic and
// reads nothing, so a nil or failing source is no error (as documented).
func TestMLDSASignIgnoresRandom(t *testing.T) {
	v := signers["ML-DSA-44"]
	pk, sk, err := v.GenerateKey(drbg("deterministic"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := v.Sign(nil, sk, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Sign(&failingReader{}, sk, []byte("m"))
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("signing with a failing source: %v (equal %v)", err, bytes.Equal(a, b))
	}
	if m, err := v.Open(pk, a); err != nil || string(m) != "m" {
		t.Fatalf("Open = %q, %v", m, err)
	}
	// An empty message signs and opens to an empty message.
	e, err := v.Sign(nil, sk, nil)
	if err != nil || len(e) != v.SignatureSize() {
		t.Fatalf("empty message: %d bytes, %v", len(e), err)
	}
	if m, err := v.Open(pk, e); err != nil || len(m) != 0 {
		t.Fatalf("Open of an empty message = %q, %v", m, err)
	}
}

// failingMarshaler fails MarshalBinary when fail is set.
type failingMarshaler struct{ fail bool }

func (f failingMarshaler) MarshalBinary() ([]byte, error) {
	if f.fail {
		return nil, errBoom
	}
	return []byte{1, 2, 3}, nil
}

// TestMarshalPair checks the key-encoding helper's error paths, which
// circl's key types never take.
func TestMarshalPair(t *testing.T) {
	for _, c := range []struct {
		name      string
		pub, priv bool // fail
		want      string
	}{
		{"public", true, false, "encoding public key"},
		{"private", false, true, "encoding private key"},
	} {
		pk, sk, err := marshalPair("X", failingMarshaler{c.pub}, failingMarshaler{c.priv})
		if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), c.want) || pk != nil || sk != nil {
			t.Errorf("%s: %v, %v, %v", c.name, pk, sk, err)
		}
	}
	pk, sk, err := marshalPair("X", failingMarshaler{}, failingMarshaler{})
	if err != nil || len(pk) != 3 || len(sk) != 3 {
		t.Errorf("success: %v, %v, %v", pk, sk, err)
	}
}

// TestMcElieceErrorFallback checks that an error the mapping does not know
// keeps its cause and names the scheme.
func TestMcElieceErrorFallback(t *testing.T) {
	err := mcelieceError("McEliece-X", errBoom)
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "McEliece-X") {
		t.Errorf("fallback: %v", err)
	}
	for _, s := range []error{ErrKeySize, ErrCiphertextSize, ErrRandom} {
		if errors.Is(err, s) {
			t.Errorf("fallback wraps %v", s)
		}
	}
	if mcelieceError("x", nil) != nil {
		t.Error("nil error mapped to an error")
	}
}
