package keyfile

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// The fixed parts of a .qpkey file (digest 9.2). Each line ends in '\n'.
const (
	versionPrefix = "Version: "
	versionSuffix = " v1.2"
	configPrefix  = "Configuration: "
	hostIDPrefix  = "Host ID: "
	expiryPrefix  = "Expiration: "
	// dateLayout is the C format "YYYY-MM-DD HH-MM-SS" (hyphens in the time).
	dateLayout = "2006-01-02 15-04-05"
	// lineWidth is the number of base64 characters on a full line.
	lineWidth = 64
)

func headerLine(v Variant) string  { return "------BEGIN " + v.String() + " PUBLIC KEY BLOCK------" }
func footerLine(v Variant) string  { return "------END " + v.String() + " PUBLIC KEY BLOCK------" }
func versionLine(v Variant) string { return versionPrefix + v.String() + versionSuffix }

// base64Len is B = 4·⌈vk/3⌉, the base64 length of a verification key.
func base64Len(vk int) int { return 4 * ((vk + 2) / 3) }

// textLen is the length of the .qpkey text without its trailing NUL:
// 221 + B + ⌊B/64⌋ (digest 9.2).
func textLen(vk int) int {
	b := base64Len(vk)
	return 221 + b + b/lineWidth
}

// PublicTextSize returns the size of the .qpkey file of configuration s,
// including the trailing NUL that the C writer stores.
func PublicTextSize(s *suite.Suite) int { return textLen(s.SigPublicKeySize) + 1 }

// PrivateSize returns the size of the .qskey file of configuration s.
func PrivateSize(s *suite.Suite) int {
	return suite.ConfigSize + 8 + KeyIDSize + s.SigPrivateKeySize + s.SigPublicKeySize
}

// maxText and maxPrivate are the largest sizes of any configuration; input
// beyond them is rejected before any other work.
var maxText, maxPrivate = func() (int, int) {
	t, p := 0, 0
	for _, s := range suite.All() {
		t = max(t, PublicTextSize(s))
		p = max(p, PrivateSize(s))
	}
	return t, p
}()

// MarshalText returns the exact bytes of the key's .qpkey file, including
// the trailing NUL the C writer stores. The expiration date is written in
// UTC. It fails (ErrInvalidKey) if the variant is unset, the suite is
// missing, the verification key has the wrong size, or the expiration is
// beyond MaxExpiration.
func (k *PublicKey) MarshalText() ([]byte, error) {
	if !k.Variant.valid() {
		return nil, fmt.Errorf("%w: variant not set (QSMS or QSMD)", ErrInvalidKey)
	}
	if err := k.checkSizes(); err != nil {
		return nil, err
	}
	if k.Expiration > MaxExpiration {
		return nil, fmt.Errorf("%w: expiration %d is after year 9999", ErrInvalidKey, k.Expiration)
	}
	vk := k.Suite.SigPublicKeySize
	out := make([]byte, 0, textLen(vk)+1)
	out = append(out, headerLine(k.Variant)+"\n"+versionLine(k.Variant)+"\n"...)
	out = append(out, configPrefix+k.Suite.Name+"\n"...)
	out = append(out, hostIDPrefix...)
	out = hex.AppendEncode(out, k.KeyID[:])
	out = append(out, "\n"+expiryPrefix...)
	out = k.ExpirationTime().AppendFormat(out, dateLayout)
	out = append(out, '\n')
	out = appendWrapped(out, base64.StdEncoding.EncodeToString(k.VerifyKey))
	out = append(out, footerLine(k.Variant)+"\n"...)
	out = append(out, 0)
	return out, nil
}

// appendWrapped appends the base64 text as the C encoder lays it out: a '\n'
// after every 64th character, then one more '\n' (which ends a short last
// line, or makes an empty line when the length is a multiple of 64).
func appendWrapped(out []byte, b64 string) []byte {
	for len(b64) > lineWidth {
		out = append(append(out, b64[:lineWidth]...), '\n')
		b64 = b64[lineWidth:]
	}
	out = append(out, b64...)
	if len(b64) == lineWidth {
		out = append(out, '\n')
	}
	return append(out, '\n')
}

// textReader walks a .qpkey text one line at a time.
type textReader struct {
	b    []byte
	off  int
	line int
}

// next returns the next line without its '\n'.
func (r *textReader) next(what string) ([]byte, error) {
	i := bytes.IndexByte(r.b[r.off:], '\n')
	if i < 0 {
		return nil, fmt.Errorf("%w: truncated at byte %d, in the %s line", ErrMalformed, r.off, what)
	}
	l := r.b[r.off : r.off+i]
	r.off += i + 1
	r.line++
	return l, nil
}

// field returns the value of a "prefix value" line and checks its length.
func (r *textReader) field(prefix string, n int, what string) ([]byte, error) {
	l, err := r.next(what)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(l, []byte(prefix)) {
		return nil, fmt.Errorf("%w: line %d: want %q, got %s", ErrMalformed, r.line, prefix+"…", quote(l))
	}
	v := l[len(prefix):]
	if len(v) != n {
		return nil, fmt.Errorf("%w: line %d: %s of %d characters, want %d", ErrMalformed, r.line, what, len(v), n)
	}
	return v, nil
}

// quote shows at most 48 bytes of a line in an error message.
func quote(b []byte) string {
	if len(b) > 48 {
		return fmt.Sprintf("%q…", b[:48])
	}
	return fmt.Sprintf("%q", b)
}

// ParsePublic decodes a .qpkey file, with or without its trailing NUL. It
// reads the fields the C decoder reads, at the same places, but accepts only
// text exactly as the C encoder writes it (see the package documentation),
// so any accepted input re-serializes to the same bytes with MarshalText.
// The expiration date is read as UTC. Errors wrap ErrMalformed, or
// ErrUnknownConfig for a configuration missing from the suite table.
func ParsePublic(b []byte) (*PublicKey, error) {
	if n := len(b); n > 0 && b[n-1] == 0 {
		b = b[:n-1]
	}
	if len(b) >= maxText {
		return nil, fmt.Errorf("%w: %d bytes, more than any key file", ErrMalformed, len(b))
	}
	if i := bytes.IndexByte(b, '\r'); i >= 0 {
		return nil, fmt.Errorf("%w: carriage return at byte %d: key files use LF line endings", ErrMalformed, i)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return nil, fmt.Errorf("%w: NUL byte at %d inside the text", ErrMalformed, i)
	}
	r := &textReader{b: b}
	k := new(PublicKey)

	l, err := r.next("header")
	if err != nil {
		return nil, err
	}
	switch string(l) {
	case headerLine(QSMS):
		k.Variant = QSMS
	case headerLine(QSMD):
		k.Variant = QSMD
	default:
		return nil, fmt.Errorf("%w: line 1: want %q or %q, got %s", ErrMalformed, headerLine(QSMS), headerLine(QSMD), quote(l))
	}
	if l, err = r.next("version"); err != nil {
		return nil, err
	}
	if string(l) != versionLine(k.Variant) {
		return nil, fmt.Errorf("%w: line 2: want %q, got %s", ErrMalformed, versionLine(k.Variant), quote(l))
	}

	cfg, err := r.field(configPrefix, suite.ConfigSize-1, "configuration")
	if err != nil {
		return nil, err
	}
	if k.Suite, err = suite.Lookup(string(cfg)); err != nil {
		return nil, fmt.Errorf("%w: line 3: %w", ErrUnknownConfig, err)
	}

	id, err := r.field(hostIDPrefix, 2*KeyIDSize, "host id")
	if err != nil {
		return nil, err
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, fmt.Errorf("%w: line 4: host id %s is not 32 lowercase hex digits", ErrMalformed, quote(id))
		}
	}
	hex.Decode(k.KeyID[:], id) // cannot fail: checked above

	date, err := r.field(expiryPrefix, len(dateLayout), "expiration")
	if err != nil {
		return nil, err
	}
	if k.Expiration, err = parseDate(date); err != nil {
		return nil, err
	}

	// The base64 block runs up to the footer line.
	footer := footerLine(k.Variant)
	start := r.off
	var end int
	for {
		end = r.off
		if l, err = r.next("footer"); err != nil {
			return nil, fmt.Errorf("%w: no %q line before the end of the text", ErrMalformed, footer)
		}
		if string(l) == footer {
			break
		}
	}
	if r.off != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes after the footer line", ErrMalformed, len(b)-r.off)
	}
	block := b[start:end]
	want := base64Len(k.Suite.SigPublicKeySize)
	b64 := bytes.ReplaceAll(block, []byte("\n"), nil)
	if len(b64) != want {
		return nil, fmt.Errorf("%w: verification key of %d base64 characters, want %d for %s",
			ErrMalformed, len(b64), want, k.Suite.Name)
	}
	if !bytes.Equal(block, appendWrapped(make([]byte, 0, len(block)), string(b64))) {
		return nil, fmt.Errorf("%w: base64 block not wrapped at %d characters a line with one closing newline",
			ErrMalformed, lineWidth)
	}
	k.VerifyKey = make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Strict().Decode(k.VerifyKey, b64)
	if err != nil {
		return nil, fmt.Errorf("%w: verification key: %w", ErrMalformed, err)
	}
	if n != k.Suite.SigPublicKeySize {
		return nil, fmt.Errorf("%w: verification key of %d bytes, want %d for %s",
			ErrMalformed, n, k.Suite.SigPublicKeySize, k.Suite.Name)
	}
	k.VerifyKey = k.VerifyKey[:n:n]
	return k, nil
}

// parseDate reads "YYYY-MM-DD HH-MM-SS" as UTC and accepts only the form
// that MarshalText writes for the same instant.
func parseDate(date []byte) (uint64, error) {
	t, err := time.ParseInLocation(dateLayout, string(date), time.UTC)
	if err != nil || t.Format(dateLayout) != string(date) {
		return 0, fmt.Errorf("%w: expiration %s is not a date \"YYYY-MM-DD HH-MM-SS\"", ErrMalformed, quote(date))
	}
	if t.Unix() < 0 {
		return 0, fmt.Errorf("%w: expiration %s is before 1970", ErrMalformed, quote(date))
	}
	return uint64(t.Unix()), nil
}
