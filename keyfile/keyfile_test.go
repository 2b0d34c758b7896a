package keyfile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// fakeKey returns a key of configuration s with deterministic random bytes
// of the right sizes. Parsing and serializing need only the sizes, so this
// covers configurations whose signature scheme is slow or not built.
func fakeKey(s *suite.Suite, v Variant, seed uint64) *PrivateKey {
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	k := &PrivateKey{PublicKey: PublicKey{
		Variant:    v,
		Suite:      s,
		Expiration: 1798761600 + seed,
		VerifyKey:  make([]byte, s.SigPublicKeySize),
	}, SigningKey: make([]byte, s.SigPrivateKeySize)}
	r.Read(k.KeyID[:])
	r.Read(k.VerifyKey)
	r.Read(k.SigningKey)
	return k
}

func mustLookup(t testing.TB, name string) *suite.Suite {
	t.Helper()
	s, err := suite.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustText(t testing.TB, k *PublicKey) []byte {
	t.Helper()
	b, err := k.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSizes checks the file sizes against digest 9.2 (221 + B + ⌊B/64⌋ text
// bytes and a NUL) and 9.3 (the .qskey totals), per signature scheme.
func TestSizes(t *testing.T) {
	want := map[string]struct{ text, priv int }{
		"ML-DSA-44":          {2001, 3930},
		"ML-DSA-65":          {2866, 6042},
		"ML-DSA-87":          {3732, 7546},
		"SLH-DSA-SHAKE-128s": {266, 154},
		"SLH-DSA-SHAKE-192s": {287, 202},
		"SLH-DSA-SHAKE-256s": {311, 250},
	}
	for _, s := range suite.All() {
		w, ok := want[s.SignatureName]
		if !ok {
			t.Errorf("%s: unexpected signature scheme %s", s.Name, s.SignatureName)
			continue
		}
		if got := PublicTextSize(s); got != w.text {
			t.Errorf("%s: PublicTextSize %d, want %d", s.Name, got, w.text)
		}
		if got := PrivateSize(s); got != w.priv {
			t.Errorf("%s: PrivateSize %d, want %d", s.Name, got, w.priv)
		}
		k := fakeKey(s, QSMS, 1)
		if got := len(mustText(t, &k.PublicKey)); got != w.text {
			t.Errorf("%s: .qpkey of %d bytes, want %d", s.Name, got, w.text)
		}
		if got := len(k.MarshalBinary()); got != w.priv {
			t.Errorf("%s: .qskey of %d bytes, want %d", s.Name, got, w.priv)
		}
	}
}

// TestRoundTripAllConfigs writes and reads keys of all 14 configurations in
// both variants.
func TestRoundTripAllConfigs(t *testing.T) {
	n := 0
	for i, s := range suite.All() {
		for _, v := range []Variant{QSMS, QSMD} {
			k := fakeKey(s, v, uint64(i))
			text := mustText(t, &k.PublicKey)
			if text[len(text)-1] != 0 || bytes.IndexByte(text[:len(text)-1], 0) >= 0 {
				t.Errorf("%s %v: the text must end in exactly one NUL", s.Name, v)
			}
			if !bytes.HasPrefix(text, []byte("------BEGIN "+v.String()+" PUBLIC KEY BLOCK------\nVersion: "+v.String()+" v1.2\nConfiguration: "+s.Name+"\nHost ID: "+hex.EncodeToString(k.KeyID[:])+"\nExpiration: ")) {
				t.Errorf("%s %v: unexpected header:\n%s", s.Name, v, text[:200])
			}
			if !bytes.HasSuffix(text, []byte("\n------END "+v.String()+" PUBLIC KEY BLOCK------\n\x00")) {
				t.Errorf("%s %v: unexpected footer", s.Name, v)
			}
			// B a multiple of 64 gives an empty line before the footer.
			emptyLine := bytes.Contains(text, []byte("\n\n------END"))
			if b := base64Len(s.SigPublicKeySize); emptyLine != (b%64 == 0) {
				t.Errorf("%s: B = %d, empty line before the footer: %v", s.Name, b, emptyLine)
			}
			for _, in := range [][]byte{text, text[:len(text)-1]} {
				p, err := ParsePublic(in)
				if err != nil {
					t.Fatalf("%s %v: %v", s.Name, v, err)
				}
				if !publicEqual(p, &k.PublicKey) {
					t.Errorf("%s %v: parsed key differs", s.Name, v)
				}
			}
			bin := k.MarshalBinary()
			p, err := ParsePrivate(bin)
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			if p.Variant != 0 {
				t.Errorf("%s: a .qskey has no variant, got %v", s.Name, p.Variant)
			}
			p.Variant = v
			if !publicEqual(&p.PublicKey, &k.PublicKey) || !bytes.Equal(p.SigningKey, k.SigningKey) {
				t.Errorf("%s: parsed private key differs", s.Name)
			}
			if err := p.Matches(&k.PublicKey); err != nil {
				t.Errorf("%s: %v", s.Name, err)
			}
			// The parsed key must not alias the input.
			clear(bin)
			if !bytes.Equal(p.SigningKey, k.SigningKey) {
				t.Errorf("%s: ParsePrivate kept a reference to its input", s.Name)
			}
			n++
		}
	}
	t.Logf("round-tripped %d keys", n)
}

// TestPrivateLayout checks the .qskey field order of digest 9.3.
func TestPrivateLayout(t *testing.T) {
	s := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	k := fakeKey(s, QSMS, 7)
	k.Expiration = 0x0102030405060708
	b := k.MarshalBinary()
	wire := s.Wire()
	want := append(append(append(append(wire[:],
		8, 7, 6, 5, 4, 3, 2, 1), k.KeyID[:]...), k.SigningKey...), k.VerifyKey...)
	if !bytes.Equal(b, want) {
		t.Fatal("layout is not cfg ‖ LE64(expiration) ‖ keyid ‖ sk ‖ vk")
	}
}

// TestExpirationText checks the date line: UTC, hyphens in the time.
func TestExpirationText(t *testing.T) {
	s := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	k := fakeKey(s, QSMD, 0)
	for _, c := range []struct {
		exp  uint64
		date string
	}{
		{0, "1970-01-01 00-00-00"},
		{1798761600, "2027-01-01 00-00-00"},
		{1827235490, "2027-11-26 13-24-50"},
		{951782400 + 86399, "2000-02-29 23-59-59"},
		{MaxExpiration, "9999-12-31 23-59-59"},
	} {
		k.Expiration = c.exp
		text := mustText(t, &k.PublicKey)
		if !bytes.Contains(text, []byte("\nExpiration: "+c.date+"\n")) {
			t.Errorf("expiration %d: want date %s", c.exp, c.date)
		}
		p, err := ParsePublic(text)
		if err != nil || p.Expiration != c.exp {
			t.Errorf("expiration %d: parsed %v, %v", c.exp, p, err)
		}
	}
}

// TestGenerate generates ML-DSA keys and checks them. (SLH-DSA key
// generation is too slow under the race detector; see slow_test.go.)
func TestGenerate(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 30, 45, 999, time.UTC)
	for _, name := range []string{
		"dilithium-s1_kyber-s1_sha3_rcs256",
		"dilithium-s3_mceliece-s3_sha3_rcs",
		"dilithium-s5_kyber-s5_sha3_rcs256",
	} {
		s := mustLookup(t, name)
		k, err := Generate(s, QSMD, nil, now)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if k.Suite != s || k.Variant != QSMD {
			t.Errorf("%s: suite %v variant %v", name, k.Suite, k.Variant)
		}
		if want := uint64(now.Unix()) + 365*86400; k.Expiration != want {
			t.Errorf("%s: expiration %d, want %d", name, k.Expiration, want)
		}
		if len(k.VerifyKey) != s.SigPublicKeySize || len(k.SigningKey) != s.SigPrivateKeySize {
			t.Errorf("%s: key sizes %d, %d", name, len(k.VerifyKey), len(k.SigningKey))
		}
		if k.KeyID == ([KeyIDSize]byte{}) {
			t.Errorf("%s: zero key id", name)
		}
		if err := k.CheckPair(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := k.Matches(k.Public()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := k.CheckFor(s, now); err != nil {
			t.Errorf("%s: fresh key: %v", name, err)
		}
		k2, err := Generate(s, QSMD, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if k2.KeyID == k.KeyID || bytes.Equal(k2.VerifyKey, k.VerifyKey) {
			t.Errorf("%s: two generated keys are equal", name)
		}
	}
}

// TestGenerateDrawOrder checks the C order: key id first, then the key pair.
func TestGenerateDrawOrder(t *testing.T) {
	s := mustLookup(t, "dilithium-s3_kyber-s3_sha3_rcs256")
	stream := make([]byte, 16+32+8)
	for i := range stream {
		stream[i] = byte(i*7 + 1)
	}
	rng := bytes.NewReader(stream)
	k, err := Generate(s, QSMS, rng, time.Unix(1767225600, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.KeyID[:], stream[:16]) {
		t.Errorf("key id %x, want the first 16 bytes %x", k.KeyID, stream[:16])
	}
	signer, err := s.Signer()
	if err != nil {
		t.Fatal(err)
	}
	pk, sk, err := signer.GenerateKey(bytes.NewReader(stream[16:]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.VerifyKey, pk) || !bytes.Equal(k.SigningKey, sk) {
		t.Error("the key pair is not drawn from the bytes after the key id")
	}
	if rng.Len() != 8 {
		t.Errorf("Generate drew %d bytes, want 48", len(stream)-rng.Len())
	}
}

type failReader struct{ n int }

func (f *failReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("entropy gone")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestGenerateErrors(t *testing.T) {
	s := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	now := time.Unix(1767225600, 0)
	for _, c := range []struct {
		name     string
		s        *suite.Suite
		v        Variant
		rand     io.Reader
		now      time.Time
		lifetime time.Duration
		want     error
	}{
		{"nil suite", nil, QSMS, nil, now, DefaultLifetime, ErrInvalidKey},
		{"no variant", s, 0, nil, now, DefaultLifetime, ErrInvalidKey},
		{"bad variant", s, 3, nil, now, DefaultLifetime, ErrInvalidKey},
		{"before 1970", s, QSMS, nil, time.Unix(-1, 0), DefaultLifetime, ErrInvalidKey},
		{"negative lifetime", s, QSMS, nil, now, -time.Second, ErrInvalidKey},
		{"fractional lifetime", s, QSMS, nil, now, time.Second + 1, ErrInvalidKey},
		{"after 9999", s, QSMS, nil, time.Unix(int64(MaxExpiration), 0), time.Second, ErrInvalidKey},
		{"short key id", s, QSMS, &failReader{n: 5}, now, DefaultLifetime, suite.ErrRandom},
		{"short key pair", s, QSMS, &failReader{n: 20}, now, DefaultLifetime, suite.ErrRandom},
	} {
		k, err := GenerateWithLifetime(c.s, c.v, c.rand, c.now, c.lifetime)
		if !errors.Is(err, c.want) || k != nil {
			t.Errorf("%s: got %v, %v; want %v", c.name, k, err, c.want)
		}
	}
	// The last representable second works.
	k, err := GenerateWithLifetime(s, QSMS, nil, time.Unix(int64(MaxExpiration)-10, 0), 10*time.Second)
	if err != nil || k.Expiration != MaxExpiration {
		t.Errorf("expiring at MaxExpiration: %v", err)
	}
	if _, err := k.MarshalText(); err != nil {
		t.Error(err)
	}
}

func TestExpiredAndCheckFor(t *testing.T) {
	s := mustLookup(t, "dilithium-s5_kyber-s5_sha3_rcs256")
	other := mustLookup(t, "dilithium-s5_kyber-s6_sha3_rcs256")
	k := fakeKey(s, QSMS, 0)
	k.Expiration = 1798761600
	exp := time.Unix(1798761600, 0)
	for _, c := range []struct {
		now     time.Time
		expired bool
	}{
		{time.Unix(0, 0), false},
		{time.Unix(-100, 0), false},
		{exp.Add(-time.Second), false},
		{exp, false},
		{exp.Add(999 * time.Millisecond), false}, // still the same second
		{exp.Add(time.Second), true},
		{exp.Add(1000 * time.Hour), true},
	} {
		if got := k.Expired(c.now); got != c.expired {
			t.Errorf("Expired(%v) = %v, want %v", c.now.UTC(), got, c.expired)
		}
		err := k.CheckFor(s, c.now)
		if c.expired != errors.Is(err, ErrExpired) || (!c.expired && err != nil) {
			t.Errorf("CheckFor at %v: %v", c.now.UTC(), err)
		}
	}
	err := k.CheckFor(s, exp.Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "2027-01-01 00:00:00") {
		t.Errorf("the expiry error should name the expiration date: %v", err)
	}
	if err := k.CheckFor(other, exp); !errors.Is(err, ErrConfigMismatch) ||
		!strings.Contains(err.Error(), s.Name) || !strings.Contains(err.Error(), other.Name) {
		t.Errorf("other configuration: %v", err)
	}
	if err := k.CheckFor(nil, exp); !errors.Is(err, ErrConfigMismatch) {
		t.Errorf("nil configuration: %v", err)
	}
	k.Expiration = 1 << 63
	if k.Expired(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("an expiration beyond int64 never passes")
	}
	if got := k.ExpirationTime(); got.Unix() <= 0 {
		t.Errorf("ExpirationTime of a huge expiration: %v", got)
	}
}

// TestMarshalTextErrors checks that unwritable keys are refused.
func TestMarshalTextErrors(t *testing.T) {
	s := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	for _, c := range []struct {
		name string
		mod  func(k *PublicKey)
	}{
		{"no variant", func(k *PublicKey) { k.Variant = 0 }},
		{"no suite", func(k *PublicKey) { k.Suite = nil }},
		{"short key", func(k *PublicKey) { k.VerifyKey = k.VerifyKey[1:] }},
		{"long key", func(k *PublicKey) { k.VerifyKey = append(k.VerifyKey, 0) }},
		{"expiration after 9999", func(k *PublicKey) { k.Expiration = MaxExpiration + 1 }},
	} {
		k := fakeKey(s, QSMS, 0)
		c.mod(&k.PublicKey)
		if b, err := k.MarshalText(); !errors.Is(err, ErrInvalidKey) || b != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// replace returns b with the first old replaced by new, failing if absent.
func replace(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%q not in the text", old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// TestParsePublicErrors mutates valid files in every way the C encoder
// would not write them.
func TestParsePublicErrors(t *testing.T) {
	s44 := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")  // B = 1752, "==" padding
	s65 := mustLookup(t, "dilithium-s3_kyber-s3_sha3_rcs256")  // B = 2604, "=" padding
	s87 := mustLookup(t, "dilithium-s5_kyber-s5_sha3_rcs256")  // B = 3456 = 54·64
	s192 := mustLookup(t, "sphincs+-s3s_mceliece-s3_sha3_rcs") // B = 64
	k44 := fakeKey(s44, QSMS, 1)
	t44 := mustText(t, &k44.PublicKey)
	t65 := mustText(t, &fakeKey(s65, QSMD, 2).PublicKey)
	t87 := mustText(t, &fakeKey(s87, QSMS, 3).PublicKey)
	t192 := mustText(t, &fakeKey(s192, QSMD, 4).PublicKey)
	lines44 := strings.SplitAfter(string(t44), "\n")
	date := "Expiration: " + k44.ExpirationTime().Format(dateLayout)
	id := "Host ID: " + hex.EncodeToString(k44.KeyID[:])
	b64end := lines44[len(lines44)-3] // the last base64 line, with its '\n'

	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"only NUL", []byte{0}, ErrMalformed},
		{"CRLF", bytes.ReplaceAll(t44, []byte("\n"), []byte("\r\n")), ErrMalformed},
		{"CR at end of footer", replace(t, t44, "BLOCK------\n\x00", "BLOCK------\r\n\x00"), ErrMalformed},
		{"two NULs", append(bytes.Clone(t44), 0), ErrMalformed},
		{"NUL inside", replace(t, t44, "Version", "\x00ersion"), ErrMalformed},
		{"lowercase header", replace(t, t44, "BEGIN QSMS", "begin QSMS"), ErrMalformed},
		{"unknown variant", replace(t, t44, "BEGIN QSMS", "BEGIN QSMX"), ErrMalformed},
		{"header and version disagree", replace(t, t44, "Version: QSMS", "Version: QSMD"), ErrMalformed},
		{"header and footer disagree", replace(t, t44, "END QSMS", "END QSMD"), ErrMalformed},
		{"version 1.3", replace(t, t44, "v1.2", "v1.3"), ErrMalformed},
		{"leading space", append([]byte(" "), t44...), ErrMalformed},
		{"blank first line", append([]byte("\n"), t44...), ErrMalformed},
		{"config prefix", replace(t, t44, "Configuration: ", "Configuration:  "), ErrMalformed},
		{"config with NUL", replace(t, t44, s44.Name+"\n", s44.Name+"\x00\n"), ErrMalformed},
		{"config truncated", replace(t, t44, s44.Name, s44.Name[:32]), ErrMalformed},
		{"unknown config", replace(t, t44, s44.Name, "dilithium-s2_kyber-s2_sha3_rcs256"), ErrUnknownConfig},
		{"config of another key size", replace(t, t44, s44.Name, s87.Name), ErrMalformed},
		{"config of the same key size", replace(t, t87, s87.Name, "dilithium-s5_kyber-s6_sha3_rcs256"), nil},
		{"uppercase hex", replace(t, t44, id, id[:9]+strings.ToUpper(id[9:])), ErrMalformed},
		{"non-hex", replace(t, t44, id, id[:len(id)-1]+"g"), ErrMalformed},
		{"short id", replace(t, t44, id, id[:len(id)-2]), ErrMalformed},
		{"long id", replace(t, t44, id, id+"00"), ErrMalformed},
		{"id prefix", replace(t, t44, "Host ID: ", "Host-ID: "), ErrMalformed},
		{"date with colons", replace(t, t44, date, date[:23]+strings.ReplaceAll(date[23:], "-", ":")), ErrMalformed},
		{"month 13", replace(t, t44, date, "Expiration: 2027-13-01 00-00-00"), ErrMalformed},
		{"30 February", replace(t, t44, date, "Expiration: 2027-02-30 00-00-00"), ErrMalformed},
		{"hour 24", replace(t, t44, date, "Expiration: 2027-01-01 24-00-00"), ErrMalformed},
		{"second 60", replace(t, t44, date, "Expiration: 2027-01-01 23-59-60"), ErrMalformed},
		{"one-digit hour", replace(t, t44, date, "Expiration: 2027-01-01 1-00-000"), ErrMalformed},
		{"before 1970", replace(t, t44, date, "Expiration: 1969-12-31 23-59-59"), ErrMalformed},
		{"year 0000", replace(t, t44, date, "Expiration: 0000-01-01 00-00-00"), ErrMalformed},
		{"short date", replace(t, t44, date, date[:len(date)-1]), ErrMalformed},
		{"date with zone", replace(t, t44, date, date+"Z"), ErrMalformed},
		{"bad base64 character", replace(t, t44, b64end, "*"+b64end[1:]), ErrMalformed},
		{"URL-safe base64", replace(t, t44, b64end, "-"+b64end[1:]), ErrMalformed},
		{"space in base64", replace(t, t44, b64end, " "+b64end[1:]), ErrMalformed},
		{"padding in the middle", replace(t, t44, b64end, "="+b64end[1:]), ErrMalformed},
		{"non-zero padding bits", replace(t, t44, b64end, b64end[:len(b64end)-4]+"B==\n"), ErrMalformed},
		{"missing padding", replace(t, t44, b64end, b64end[:len(b64end)-3]+"AA\n"), ErrMalformed},
		{"one base64 character too few", replace(t, t44, b64end, b64end[1:]), ErrMalformed},
		{"one base64 character too many", replace(t, t44, b64end, "A"+b64end), ErrMalformed},
		{"a base64 line too many", replace(t, t44, b64end, lines44[5]+b64end), ErrMalformed},
		{"a base64 line missing", replace(t, t44, lines44[5], ""), ErrMalformed},
		{"wrapped at 76", func() []byte {
			b64 := strings.ReplaceAll(strings.Join(lines44[5:len(lines44)-2], ""), "\n", "")
			var w strings.Builder
			for len(b64) > 76 {
				w.WriteString(b64[:76] + "\n")
				b64 = b64[76:]
			}
			w.WriteString(b64 + "\n")
			return []byte(strings.Join(lines44[:5], "") + w.String() + strings.Join(lines44[len(lines44)-2:], ""))
		}(), ErrMalformed},
		{"empty line inside base64", replace(t, t44, lines44[6], "\n"+lines44[6]), ErrMalformed},
		{"extra empty line before footer", replace(t, t44, "\n------END", "\n\n------END"), ErrMalformed},
		{"missing empty line (B = 64·54)", replace(t, t87, "\n\n------END", "\n------END"), ErrMalformed},
		{"missing empty line (B = 64)", replace(t, t192, "\n\n------END", "\n------END"), ErrMalformed},
		{"ML-DSA-65 key labelled ML-DSA-44", replace(t, t65, "dilithium-s3_kyber-s3", "dilithium-s1_kyber-s1"), ErrMalformed},
		{"no footer", t44[:len(t44)-len("------END QSMS PUBLIC KEY BLOCK------\n\x00")], ErrMalformed},
		{"footer without newline", t44[:len(t44)-2], ErrMalformed},
		{"footer repeated", append(t44[:len(t44)-1:len(t44)-1], "------END QSMS PUBLIC KEY BLOCK------\n"...), ErrMalformed},
		{"text after footer", append(t44[:len(t44)-1:len(t44)-1], 'x'), ErrMalformed},
		{"newline after footer", append(t44[:len(t44)-1:len(t44)-1], '\n'), ErrMalformed},
		{"oversized", bytes.Repeat([]byte("A"), 1<<20), ErrMalformed},
		{"oversized with a valid start", append(t87[:len(t87)-1:len(t87)-1], bytes.Repeat([]byte("A\n"), 1000)...), ErrMalformed},
	}
	// What the error must say, for the cases where several checks could
	// catch the input.
	wantMsg := map[string]string{
		"CRLF":                             "carriage return",
		"CR at end of footer":              "carriage return",
		"header and version disagree":      "line 2",
		"header and footer disagree":       "no \"------END QSMS",
		"unknown config":                   "dilithium-s2_kyber-s2",
		"config of another key size":       "want 3456 for " + s87.Name,
		"uppercase hex":                    "lowercase hex",
		"date with colons":                 "YYYY-MM-DD HH-MM-SS",
		"before 1970":                      "before 1970",
		"non-zero padding bits":            "illegal base64",
		"bad base64 character":             "illegal base64",
		"missing padding":                  "1314 bytes",
		"wrapped at 76":                    "wrapped",
		"missing empty line (B = 64·54)":   "wrapped",
		"missing empty line (B = 64)":      "wrapped",
		"ML-DSA-65 key labelled ML-DSA-44": "2604 base64 characters, want 1752",
		"text after footer":                "after the footer",
		"oversized":                        "more than any key file",
	}
	for _, c := range cases {
		k, err := ParsePublic(c.in)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) || k != nil {
			t.Errorf("%s: got %v, want an error wrapping %v", c.name, err, c.want)
			continue
		}
		if m := wantMsg[c.name]; m != "" && !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not say %q", c.name, err, m)
		}
		if testing.Verbose() {
			t.Logf("%s: %v", c.name, err)
		}
		if c.want == ErrUnknownConfig && !errors.Is(err, suite.ErrUnknownConfig) {
			t.Errorf("%s: %v should also wrap suite.ErrUnknownConfig", c.name, err)
		}
	}
	t.Logf("checked %d malformed inputs", len(cases))
}

// TestParsePublicTruncations cuts a valid file at every length.
func TestParsePublicTruncations(t *testing.T) {
	for _, name := range []string{"dilithium-s5_kyber-s5_sha3_rcs256", "sphincs+-s1s_mceliece-s1_sha3_rcs"} {
		s := mustLookup(t, name)
		text := mustText(t, &fakeKey(s, QSMD, 5).PublicKey)
		for n := 0; n < len(text)-1; n++ {
			if k, err := ParsePublic(text[:n]); !errors.Is(err, ErrMalformed) || k != nil {
				t.Fatalf("%s cut to %d of %d bytes: %v", name, n, len(text), err)
			}
			// A cut file that keeps a trailing NUL is refused too.
			cut := append(text[:n:n], 0)
			if k, err := ParsePublic(cut); !errors.Is(err, ErrMalformed) || k != nil {
				t.Fatalf("%s cut to %d bytes plus NUL: %v", name, n, err)
			}
		}
	}
}

// TestParsePrivateErrors checks truncated, extended and mislabelled .qskey
// files.
func TestParsePrivateErrors(t *testing.T) {
	s87 := mustLookup(t, "dilithium-s5_kyber-s5_sha3_rcs256")
	s65 := mustLookup(t, "dilithium-s3_kyber-s3_sha3_rcs256")
	b := fakeKey(s87, QSMS, 9).MarshalBinary()
	for n := 0; n < len(b); n++ {
		if k, err := ParsePrivate(b[:n]); !errors.Is(err, ErrMalformed) || k != nil {
			t.Fatalf("cut to %d of %d bytes: %v", n, len(b), err)
		}
	}
	mod := func(f func(c []byte) []byte) []byte { return f(bytes.Clone(b)) }
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"one byte more", append(bytes.Clone(b), 0), ErrMalformed},
		{"oversized", make([]byte, 1<<20), ErrMalformed},
		{"config not NUL-terminated", mod(func(c []byte) []byte { c[33] = '6'; return c }), ErrMalformed},
		{"unknown config", mod(func(c []byte) []byte { c[11] = '4'; return c }), ErrUnknownConfig},
		{"config of another key size", mod(func(c []byte) []byte { copy(c, s65.Name); return c }), ErrMalformed},
		{"all zero", make([]byte, len(b)), ErrUnknownConfig},
		{"ML-DSA-65 sizes under an ML-DSA-87 config", func() []byte {
			c := fakeKey(s65, QSMS, 1).MarshalBinary()
			copy(c, s87.Name)
			return c
		}(), ErrMalformed},
	} {
		if k, err := ParsePrivate(c.in); !errors.Is(err, c.want) || k != nil {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// A config of the same sizes parses: the format cannot tell them apart.
	same := mod(func(c []byte) []byte { copy(c, "dilithium-s5_kyber-s6_sha3_rcs256"); return c })
	if k, err := ParsePrivate(same); err != nil || k.Suite.Name != "dilithium-s5_kyber-s6_sha3_rcs256" {
		t.Errorf("same-size configuration: %v", err)
	}
}

// TestMatchesAndCheckPair checks that mismatched halves are reported.
func TestMatchesAndCheckPair(t *testing.T) {
	s := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	a, err := Generate(s, QSMS, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(s, QSMS, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mod  func(p *PublicKey)
	}{
		{"configuration", func(p *PublicKey) { p.Suite = mustLookup(t, "dilithium-s1_mceliece-s1_sha3_rcs") }},
		{"key id", func(p *PublicKey) { p.KeyID[15] ^= 1 }},
		{"expiration", func(p *PublicKey) { p.Expiration++ }},
		{"verification key", func(p *PublicKey) { p.VerifyKey[0] ^= 1 }},
	} {
		p := a.Public()
		c.mod(p)
		if err := a.Matches(p); !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s differs: %v", c.name, err)
		}
	}
	if err := a.Matches(nil); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("nil public key: %v", err)
	}
	p := a.Public()
	p.Variant = QSMD
	if err := a.Matches(p); err != nil {
		t.Errorf("the variant is not part of a .qskey: %v", err)
	}
	if err := a.CheckPair(); err != nil {
		t.Fatal(err)
	}
	swapped := *a
	swapped.SigningKey = b.SigningKey
	if err := swapped.CheckPair(); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("swapped signing key: %v", err)
	}
	short := *a
	short.SigningKey = a.SigningKey[1:]
	if err := short.CheckPair(); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("short signing key: %v", err)
	}
}

// TestNoSecretInStrings checks that printing a private key hides the
// signing key.
func TestNoSecretInStrings(t *testing.T) {
	s := mustLookup(t, "sphincs+-s1s_mceliece-s1_sha3_rcs")
	k := fakeKey(s, QSMS, 3)
	secret := hex.EncodeToString(k.SigningKey[:8])
	for _, format := range []string{"%v", "%+v", "%s", "%#v", "%x"} {
		for _, v := range []any{k, *k} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprint(k.SigningKey[:8])) {
				t.Errorf("%s of %T shows the signing key: %s", format, v, out)
			}
			if format != "%x" && !strings.Contains(out, hex.EncodeToString(k.KeyID[:])) {
				t.Errorf("%s of %T should show the key id: %s", format, v, out)
			}
		}
	}
}

func TestClear(t *testing.T) {
	s := mustLookup(t, "dilithium-s1_kyber-s1_sha3_rcs256")
	k := fakeKey(s, QSMS, 1)
	k.Clear()
	if !bytes.Equal(k.SigningKey, make([]byte, s.SigPrivateKeySize)) {
		t.Error("Clear left secret bytes")
	}
}

func TestVariantString(t *testing.T) {
	if QSMS.String() != "QSMS" || QSMD.String() != "QSMD" || Variant(0).String() != "Variant(0)" {
		t.Errorf("%v %v %v", QSMS, QSMD, Variant(0))
	}
}

// randomKeyText is used by the benchmarks.
func randomKeyText(b *testing.B, name string) ([]byte, []byte) {
	s := mustLookup(b, name)
	k, err := Generate(s, QSMS, rand.Reader, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return mustText(b, &k.PublicKey), k.MarshalBinary()
}

func BenchmarkParsePublic(b *testing.B) {
	text, _ := randomKeyText(b, "dilithium-s5_kyber-s5_sha3_rcs256")
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := ParsePublic(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePrivate(b *testing.B) {
	_, bin := randomKeyText(b, "dilithium-s5_kyber-s5_sha3_rcs256")
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		if _, err := ParsePrivate(bin); err != nil {
			b.Fatal(err)
		}
	}
}
