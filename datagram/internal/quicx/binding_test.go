package quicx

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/keccak"
	"github.com/qsmp-go/qsmp/record"
)

// bindingVectors are the known answers of docs/DATAGRAM.md ("QUIC
// binding"): DS = 00 01 .. 3f, exporter = 40 41 .. 5f.
var bindingVectors = []struct {
	wide       bool
	name, want string
}{
	{false, "QSMS", "31178ef09e46169180a1777d525e997663c859416e159efce05543f97e831d11" +
		"08c56a77ef3917ac72ba0ee8f4abd5fba708b99d2128d482915d092237ac7858"},
	{true, "QSMD", "b36b441bb7845456db28a1cb6405951df4bfa16ebbe607204801fadea6405bb4" +
		"a916a3d0f33979ac7d080d68de7e626209837b0d13003a6ae77f03ff31042d77"},
}

func bindingInputs() (ds, exp []byte) {
	ds = make([]byte, record.DatagramSecretSize)
	exp = make([]byte, ExporterSize)
	for i := range ds {
		ds[i] = byte(i)
	}
	for i := range exp {
		exp[i] = byte(0x40 + i)
	}
	return ds, exp
}

// TestBindSecret checks the binding against the one-shot cSHAKE of the
// keccak package (a separate code path) and against the documented
// vectors, and that every input bit matters.
func TestBindSecret(t *testing.T) {
	ds, exp := bindingInputs()
	for _, v := range bindingVectors {
		got, err := BindSecret(v.wide, ds, exp)
		if err != nil {
			t.Fatal(err)
		}
		rate := keccak.Rate256
		if v.wide {
			rate = keccak.Rate512
		}
		want := make([]byte, record.DatagramSecretSize)
		if err := keccak.CSHAKE(rate, want, append(append([]byte(nil), ds...), exp...), []byte(BindingName), nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: BindSecret %x, one-shot cSHAKE %x", v.name, got, want)
		}
		if hex.EncodeToString(got) != v.want {
			t.Fatalf("%s: BindSecret %x, documented %s", v.name, got, v.want)
		}
		for _, flip := range []func(){func() { ds[5] ^= 1 }, func() { exp[31] ^= 0x80 }} {
			flip()
			other, _ := BindSecret(v.wide, ds, exp)
			flip()
			if bytes.Equal(other, got) {
				t.Fatal("a flipped input bit did not change the bound secret")
			}
		}
	}
	if _, err := BindSecret(false, ds[:63], exp); err == nil {
		t.Fatal("short secret accepted")
	}
	if _, err := BindSecret(false, ds, exp[:31]); err == nil {
		t.Fatal("short exporter accepted")
	}
}
