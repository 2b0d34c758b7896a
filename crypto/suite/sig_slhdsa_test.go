package suite

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudflare/circl/sign/slhdsa"
	"github.com/qsmp-go/qsmp/internal/vectors"
)

// slhdsaHeavy is true when the tests are built without the race detector
// (sig_slhdsa_heavy_test.go sets it). SLH-DSA key generation and signing
// hash hundreds of thousands to millions of times; under -race they take tens
// of seconds to minutes each, so the race build checks only verification and
// the tampered inputs of the vectors, and logs the key derivations and
// signing cases it left out. Other tests may use it the same way.
var slhdsaHeavy bool

// slhdsaVectorFile is the layout of sphincsplus*.json.
type slhdsaVectorFile struct {
	Sets []slhdsaVectorSet `json:"sets"`
}

type slhdsaVectorSet struct {
	Name  string `json:"name"`
	Sizes struct {
		PK         int `json:"pk"`
		SK         int `json:"sk"`
		Signature  int `json:"signature"`
		N          int `json:"n"`
		KeygenSeed int `json:"keygen_seed"`
		SignSeed   int `json:"sign_seed"`
	} `json:"sizes"`
	RNGSeedASCII string `json:"rng_seed_ascii"`
	RNGCalls     []struct {
		Op     string      `json:"op"`
		Offset int         `json:"offset"`
		Length int         `json:"length"`
		Bytes  vectors.Hex `json:"bytes"`
	} `json:"rng_calls"`
	PK         vectors.Hex `json:"pk"`
	SK         vectors.Hex `json:"sk"`
	Signatures []struct {
		API               string      `json:"api"`
		Context           vectors.Hex `json:"context"`
		Message           vectors.Hex `json:"message"`
		MessageLen        int         `json:"message_len"`
		OptRand           vectors.Hex `json:"opt_rand"`
		SignedMessageLen  int         `json:"signed_message_len"`
		SignatureLen      int         `json:"signature_len"`
		SignatureSHA3     vectors.Hex `json:"signature_sha3_256"`
		SignedMessageSHA3 vectors.Hex `json:"signed_message_sha3_256"`
		Signature         vectors.Hex `json:"signature"`
		Verify            bool        `json:"verify"`
	} `json:"signatures"`
	Tampered []struct {
		From       string `json:"from"`
		Corruption string `json:"corruption"`
		Verify     bool   `json:"verify"`
	} `json:"tampered"`
}

// recordingReader records the length of every Read call it serves.
type recordingReader struct {
	r     io.Reader
	calls []int
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.calls = append(r.calls, len(p))
	return r.r.Read(p)
}

// slhdsaCounts tallies the vector cases checked, shared by parallel subtests.
type slhdsaCounts struct {
	sets, keys, keysSkipped, verify, sign, signSkipped, tampered atomic.Int64
}

func TestSPHINCSPlusVectors(t *testing.T) {
	files, err := vectors.Files("sphincsplus")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no sphincsplus vector files")
	}
	var c slhdsaCounts
	t.Run("files", func(t *testing.T) {
		for _, f := range files {
			var v slhdsaVectorFile
			if err := vectors.Load(f, &v); err != nil {
				t.Fatal(err)
			}
			if len(v.Sets) == 0 {
				t.Errorf("%s: no parameter sets", f)
			}
			for i := range v.Sets {
				set := &v.Sets[i]
				t.Run(filepath.Base(f)+"/"+set.Name, func(t *testing.T) {
					t.Parallel()
					checkSLHDSASet(t, set, &c)
				})
			}
		}
	})
	if c.sets.Load() == 0 {
		t.Fatal("no parameter sets checked")
	}
	t.Logf("%d files, %d parameter sets: %d keys derived, %d signatures verified, %d signatures reproduced, %d tampered inputs rejected",
		len(files), c.sets.Load(), c.keys.Load(), c.verify.Load(), c.sign.Load(), c.tampered.Load())
	if k, n := c.keysSkipped.Load(), c.signSkipped.Load(); k+n > 0 {
		t.Logf("skipped %d key derivations and %d signing cases (too slow under -race; run without -race to check them)", k, n)
	}
}

func checkSLHDSASet(t *testing.T, set *slhdsaVectorSet, c *slhdsaCounts) {
	sv, ok := signers[set.Name]
	if !ok {
		t.Fatalf("%s: no signer registered", set.Name)
	}
	s, ok := sv.(slhDSA)
	if !ok {
		t.Fatalf("%s: signer is %T, want slhDSA", set.Name, sv)
	}
	z := set.Sizes
	if z.PK != s.PublicKeySize() || z.SK != s.PrivateKeySize() || z.Signature != s.SignatureSize() ||
		z.N != s.n || z.KeygenSeed != 3*s.n || z.SignSeed != s.n {
		t.Fatalf("%s: vector sizes %+v differ from the scheme", set.Name, z)
	}

	// The recorded draws are consecutive reads of SHAKE-256(rng_seed_ascii).
	if len(set.RNGCalls) == 0 || !strings.HasPrefix(set.RNGCalls[0].Op, "keygen") {
		t.Fatalf("%s: first rng call is not the key generation", set.Name)
	}
	stream := drbg(set.RNGSeedASCII)
	off := 0
	for _, call := range set.RNGCalls {
		if call.Offset != off || call.Length != len(call.Bytes) {
			t.Fatalf("%s: rng call %q at %d (%d bytes), expected offset %d", set.Name, call.Op, call.Offset, call.Length, off)
		}
		got := make([]byte, call.Length)
		stream.Read(got)
		if !bytes.Equal(got, call.Bytes) {
			t.Fatalf("%s: rng call %q is not the SHAKE-256 stream of the seed", set.Name, call.Op)
		}
		off += call.Length
	}

	pk, sk := []byte(set.PK), []byte(set.SK)
	if len(pk) != s.PublicKeySize() || len(sk) != s.PrivateKeySize() {
		t.Fatalf("%s: vector key sizes %d/%d", set.Name, len(pk), len(sk))
	}
	if !bytes.Equal(sk[:3*s.n], set.RNGCalls[0].Bytes) || !bytes.Equal(sk[2*s.n:], pk) {
		t.Errorf("%s: vector private key is not SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root", set.Name)
	}
	// Key generation: one draw of 3n bytes.
	if slhdsaHeavy {
		rr := &recordingReader{r: bytes.NewReader(set.RNGCalls[0].Bytes)}
		gpk, gsk, err := s.GenerateKey(rr)
		if err != nil {
			t.Fatal(err)
		}
		if len(rr.calls) != 1 || rr.calls[0] != 3*s.n {
			t.Errorf("%s: key generation read %v, want one read of %d bytes", set.Name, rr.calls, 3*s.n)
		}
		if !bytes.Equal(gpk, pk) || !bytes.Equal(gsk, sk) {
			t.Fatalf("%s: key pair differs from the vector", set.Name)
		}
		c.keys.Add(1)
	} else {
		c.keysSkipped.Add(1)
	}

	pub := slhdsa.PublicKey{ID: s.id}
	if err := pub.UnmarshalBinary(pk); err != nil {
		t.Fatal(err)
	}
	priv := slhdsa.PrivateKey{ID: s.id}
	if err := priv.UnmarshalBinary(sk); err != nil {
		t.Fatal(err)
	}

	signedMsgs := make([][]byte, len(set.Signatures))
	for i, v := range set.Signatures {
		name := fmt.Sprintf("%s signature %d (%s)", set.Name, i, v.API)
		if len(v.Signature) != v.SignatureLen || v.SignatureLen != s.SignatureSize() ||
			len(v.Message) != v.MessageLen || v.SignedMessageLen != v.SignatureLen+v.MessageLen {
			t.Fatalf("%s: inconsistent lengths", name)
		}
		sm := append(append([]byte{}, v.Signature...), v.Message...)
		signedMsgs[i] = sm
		if h := sha3.Sum256(v.Signature); !bytes.Equal(h[:], v.SignatureSHA3) {
			t.Errorf("%s: signature hash differs from signature_sha3_256", name)
		}
		if h := sha3.Sum256(sm); !bytes.Equal(h[:], v.SignedMessageSHA3) {
			t.Errorf("%s: signed message hash differs from signed_message_sha3_256", name)
		}
		if i+1 >= len(set.RNGCalls) || !bytes.Equal(set.RNGCalls[i+1].Bytes, v.OptRand) || len(v.OptRand) != s.n {
			t.Errorf("%s: opt_rand is not rng call %d", name, i+1)
		}

		// Verification.
		if len(v.Context) == 0 {
			got, err := s.Open(pk, sm)
			if (err == nil) != v.Verify {
				t.Errorf("%s: Open error %v, vector says verify=%v", name, err, v.Verify)
			}
			if err == nil && !bytes.Equal(got, v.Message) {
				t.Errorf("%s: Open returned %x, want the message", name, got)
			}
		} else {
			ok := slhdsa.Verify(&pub, slhdsa.NewMessage(v.Message), v.Signature, v.Context)
			if ok != v.Verify {
				t.Errorf("%s: circl Verify with context = %v, vector says %v", name, ok, v.Verify)
			}
		}
		c.verify.Add(1)

		// Signing with the recorded opt_rand.
		if !slhdsaHeavy {
			c.signSkipped.Add(1)
			continue
		}
		rr := &recordingReader{r: bytes.NewReader(v.OptRand)}
		var got []byte
		var err error
		if len(v.Context) == 0 {
			got, err = s.Sign(rr, sk, v.Message)
		} else {
			var sig []byte
			sig, err = slhdsa.SignRandomized(&priv, rr, slhdsa.NewMessage(v.Message), v.Context)
			got = append(sig, v.Message...)
		}
		if err != nil {
			t.Fatalf("%s: signing: %v", name, err)
		}
		if len(rr.calls) != 1 || rr.calls[0] != s.n {
			t.Errorf("%s: signing read %v, want one read of %d bytes", name, rr.calls, s.n)
		}
		if !bytes.Equal(got, sm) {
			t.Errorf("%s: signed message differs from the vector", name)
		}
		c.sign.Add(1)
	}

	for i, tc := range set.Tampered {
		name := fmt.Sprintf("%s tampered %d (%s: %s)", set.Name, i, tc.From, tc.Corruption)
		ok, err := slhdsaVerifyTampered(s, &pub, set, signedMsgs, tc.From, tc.Corruption)
		if err != nil {
			t.Errorf("%s: cannot reproduce: %v", name, err)
			continue
		}
		if ok != tc.Verify {
			t.Errorf("%s: verify = %v, vector says %v", name, ok, tc.Verify)
		}
		c.tampered.Add(1)
	}
	c.sets.Add(1)
}

var (
	slhdsaFromRe     = regexp.MustCompile(`^signed message (\d+)\b`)
	slhdsaSigFlipRe  = regexp.MustCompile(`^(?:byte (\d+) of the signature|signature byte (\d+)) \^= 0x([0-9a-fA-F]{2})\b`)
	slhdsaMsgFlipRe  = regexp.MustCompile(`^last message byte \^= 0x([0-9a-fA-F]{2})\b`)
	slhdsaEmptyCtxRe = regexp.MustCompile(`with the empty context`)
)

// slhdsaVerifyTampered applies a tampered case as the vector describes it in
// prose and reports whether the result verifies. An unknown description is
// an error, so that new cases cannot pass unnoticed.
func slhdsaVerifyTampered(s slhDSA, pub *slhdsa.PublicKey, set *slhdsaVectorSet, signedMsgs [][]byte, from, corruption string) (bool, error) {
	m := slhdsaFromRe.FindStringSubmatch(from)
	if m == nil {
		return false, fmt.Errorf("unknown source %q", from)
	}
	idx, _ := strconv.Atoi(m[1])
	if idx >= len(signedMsgs) {
		return false, fmt.Errorf("source %q out of range", from)
	}
	sm := append([]byte{}, signedMsgs[idx]...)
	ctx := []byte(set.Signatures[idx].Context)
	sigLen := s.SignatureSize()
	switch {
	case slhdsaSigFlipRe.MatchString(corruption):
		f := slhdsaSigFlipRe.FindStringSubmatch(corruption)
		pos, _ := strconv.Atoi(f[1] + f[2])
		mask, _ := strconv.ParseUint(f[3], 16, 8)
		if pos >= sigLen {
			return false, fmt.Errorf("signature byte %d out of range", pos)
		}
		sm[pos] ^= byte(mask)
	case slhdsaMsgFlipRe.MatchString(corruption):
		f := slhdsaMsgFlipRe.FindStringSubmatch(corruption)
		mask, _ := strconv.ParseUint(f[1], 16, 8)
		if len(sm) == sigLen {
			return false, errors.New("empty message has no last byte")
		}
		sm[len(sm)-1] ^= byte(mask)
	case slhdsaEmptyCtxRe.MatchString(corruption):
		ctx = nil
	default:
		return false, fmt.Errorf("unknown corruption %q", corruption)
	}
	if len(ctx) != 0 {
		return slhdsa.Verify(pub, slhdsa.NewMessage(sm[sigLen:]), sm[:sigLen], ctx), nil
	}
	pk, _ := pub.MarshalBinary()
	got, err := s.Open(pk, sm)
	switch {
	case err == nil:
		if !bytes.Equal(got, sm[sigLen:]) {
			return false, errors.New("Open returned the wrong message")
		}
		return true, nil
	case errors.Is(err, ErrVerify):
		return false, nil
	default:
		return false, err
	}
}

func TestSLHDSANamesMatchTable(t *testing.T) {
	want := map[string]bool{}
	for _, s := range All() {
		if strings.HasPrefix(s.Name, "sphincs+") {
			want[s.SignatureName] = true
			v, err := s.Signer()
			if err != nil {
				t.Errorf("%s: %v", s.Name, err)
				continue
			}
			if _, ok := v.(slhDSA); !ok {
				t.Errorf("%s: signer %T is not SLH-DSA", s.Name, v)
			}
		}
	}
	for _, s := range []slhDSA{slhDSA128s, slhDSA192s, slhDSA256s} {
		if !want[s.Name()] {
			t.Errorf("%s is not a signature name of the table", s.Name())
		}
		if s.id.String() != s.Name() {
			t.Errorf("%s: circl names its parameter set %s", s.Name(), s.id)
		}
		sc := s.id.Scheme()
		if sc.PublicKeySize() != s.PublicKeySize() || sc.PrivateKeySize() != s.PrivateKeySize() {
			t.Errorf("%s: sizes %d/%d, circl says %d/%d", s.Name(), s.PublicKeySize(), s.PrivateKeySize(), sc.PublicKeySize(), sc.PrivateKeySize())
		}
		delete(want, s.Name())
	}
	if len(want) != 0 {
		t.Errorf("table names without an SLH-DSA signer: %v", want)
	}
}

// TestSLHDSABadInput checks the cheap failure paths of every set with keys
// of the right size but arbitrary content; key generation and signing are
// covered by the vector test and the generic round trip.
func TestSLHDSABadInput(t *testing.T) {
	for _, s := range []slhDSA{slhDSA128s, slhDSA192s, slhDSA256s} {
		t.Run(s.Name(), func(t *testing.T) {
			if _, _, err := s.GenerateKey(bytes.NewReader(make([]byte, 3*s.n-1))); !errors.Is(err, ErrRandom) {
				t.Errorf("short key draw: %v", err)
			}
			if _, _, err := s.GenerateKey(nil); !errors.Is(err, ErrRandom) {
				t.Errorf("nil random source: %v", err)
			}
			pk := make([]byte, s.PublicKeySize())
			sk := make([]byte, s.PrivateKeySize())
			for _, bad := range [][]byte{nil, sk[:len(sk)-1], append(append([]byte{}, sk...), 0)} {
				if _, err := s.Sign(drbg("unused"), bad, []byte("m")); !errors.Is(err, ErrKeySize) {
					t.Errorf("private key of %d bytes: %v", len(bad), err)
				}
			}
			for _, r := range []io.Reader{nil, bytes.NewReader(make([]byte, s.n-1))} {
				if _, err := s.Sign(r, sk, []byte("m")); !errors.Is(err, ErrRandom) {
					t.Errorf("short opt_rand draw: %v", err)
				}
			}
			sm := make([]byte, s.SignatureSize()+32)
			for _, bad := range [][]byte{nil, pk[:len(pk)-1], append(append([]byte{}, pk...), 0)} {
				if _, err := s.Open(bad, sm); !errors.Is(err, ErrKeySize) {
					t.Errorf("public key of %d bytes: %v", len(bad), err)
				}
			}
			for _, n := range []int{0, 1, s.SignatureSize() - 1} {
				if _, err := s.Open(pk, sm[:n]); !errors.Is(err, ErrVerify) {
					t.Errorf("signed message of %d bytes: %v", n, err)
				}
			}
			for _, n := range []int{s.SignatureSize(), len(sm)} {
				if _, err := s.Open(pk, sm[:n]); !errors.Is(err, ErrVerify) {
					t.Errorf("zero signature over %d message bytes: %v", n-s.SignatureSize(), err)
				}
			}
		})
	}
}

// FuzzSLHDSAOpen checks that verification of arbitrary key and signed-message
// bytes never panics, and fails only with the documented errors.
func FuzzSLHDSAOpen(f *testing.F) {
	sets := []slhDSA{slhDSA128s, slhDSA192s, slhDSA256s}
	for i, s := range sets {
		f.Add(uint8(i), make([]byte, s.PublicKeySize()), make([]byte, s.SignatureSize()+32))
		f.Add(uint8(i), make([]byte, s.PublicKeySize()), make([]byte, s.SignatureSize()-1))
		f.Add(uint8(i), make([]byte, s.PublicKeySize()+1), make([]byte, s.SignatureSize()))
	}
	f.Fuzz(func(t *testing.T, set uint8, pk, sm []byte) {
		s := sets[int(set)%len(sets)]
		got, err := s.Open(pk, sm)
		switch {
		case err == nil:
			if len(pk) != s.PublicKeySize() || len(sm) < s.SignatureSize() || !bytes.Equal(got, sm[s.SignatureSize():]) {
				t.Fatalf("accepted pk of %d bytes, signed message of %d bytes, returned %d bytes", len(pk), len(sm), len(got))
			}
		case errors.Is(err, ErrKeySize):
			if len(pk) == s.PublicKeySize() {
				t.Fatalf("well-sized public key rejected: %v", err)
			}
		case errors.Is(err, ErrVerify):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func BenchmarkSLHDSA(b *testing.B) {
	for _, s := range []slhDSA{slhDSA128s, slhDSA192s, slhDSA256s} {
		rng := drbg("slh-dsa benchmark " + s.Name())
		pk, sk, err := s.GenerateKey(rng)
		if err != nil {
			b.Fatal(err)
		}
		msg := make([]byte, 32) // QSMS signs a 32-byte transcript hash
		b.Run(s.Name()+"/keygen", func(b *testing.B) {
			for b.Loop() {
				if _, _, err := s.GenerateKey(rng); err != nil {
					b.Fatal(err)
				}
			}
		})
		var sm []byte
		b.Run(s.Name()+"/sign", func(b *testing.B) {
			for b.Loop() {
				if sm, err = s.Sign(rng, sk, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		if sm == nil {
			if sm, err = s.Sign(rng, sk, msg); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(s.Name()+"/verify", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Open(pk, sm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
