package keyfile

import (
	"bytes"
	"errors"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/suite"
)

func TestAgreedSuiteAndIdentity(t *testing.T) {
	a, err := suite.Lookup("dilithium-s1_kyber-s1_sha3_rcs256")
	if err != nil {
		t.Fatal(err)
	}
	b, err := suite.Lookup(suite.Default)
	if err != nil || a == b {
		t.Fatalf("%v: need two configurations", err)
	}
	own := &PrivateKey{PublicKey: PublicKey{Suite: a, KeyID: [KeyIDSize]byte{1}, Expiration: 7, VerifyKey: []byte("v")}, SigningKey: []byte("s")}
	peer := &PublicKey{Suite: a, KeyID: [KeyIDSize]byte{2}}
	for _, c := range []struct {
		own  *PrivateKey
		peer *PublicKey
		want *suite.Suite
		err  error
	}{
		{own, peer, a, nil},
		{own, nil, a, nil},
		{nil, peer, a, nil},
		{nil, nil, nil, ErrInvalidKey},
		{own, &PublicKey{Suite: b}, nil, ErrConfigMismatch},
		{own, &PublicKey{}, nil, ErrInvalidKey},
	} {
		s, err := AgreedSuite(c.own, c.peer)
		if s != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("AgreedSuite(%v, %v) = %v, %v; want %v, %v", c.own != nil, c.peer != nil, s, err, c.want, c.err)
		}
	}
	id := own.HandshakeIdentity()
	if id.KeyID != own.KeyID || id.Expiration != 7 || !bytes.Equal(id.VerifyKey, []byte("v")) || !bytes.Equal(id.SigningKey, []byte("s")) {
		t.Fatalf("private identity %+v", id)
	}
	if pid := own.PublicKey.HandshakeIdentity(); pid.SigningKey != nil || pid.KeyID != own.KeyID {
		t.Fatalf("public identity %+v", pid)
	}
}
