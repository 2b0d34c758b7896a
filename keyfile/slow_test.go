//go:build !race

package keyfile

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

// TestGenerateSLHDSA generates an SLH-DSA-SHAKE-128s key (too slow under the
// race detector) and round-trips it through both file formats.
func TestGenerateSLHDSA(t *testing.T) {
	s := mustLookup(t, "sphincs+-s1s_mceliece-s1_sha3_rcs")
	now := time.Unix(1767225600, 0)
	k, err := Generate(s, QSMS, nil, now)
	if errors.Is(err, suite.ErrNotImplemented) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(k.VerifyKey) != 32 || len(k.SigningKey) != 64 || k.Expiration != 1767225600+365*86400 {
		t.Fatalf("sizes %d, %d, expiration %d", len(k.VerifyKey), len(k.SigningKey), k.Expiration)
	}
	// SLH-DSA stores PK.seed ‖ PK.root at the end of its signing key.
	if !bytes.Equal(k.SigningKey[32:], k.VerifyKey) {
		t.Error("the signing key does not end with the verification key")
	}
	text := mustText(t, &k.PublicKey)
	pub, err := ParsePublic(text)
	if err != nil || !publicEqual(pub, &k.PublicKey) {
		t.Fatalf("text round trip: %v", err)
	}
	priv, err := ParsePrivate(k.MarshalBinary())
	if err != nil || !bytes.Equal(priv.SigningKey, k.SigningKey) {
		t.Fatalf("binary round trip: %v", err)
	}
	if err := priv.Matches(pub); err != nil {
		t.Error(err)
	}
}
