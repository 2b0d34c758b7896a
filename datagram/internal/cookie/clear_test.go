package cookie

import (
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/keccak"
)

// TestJarClear: Clear zeroes both secrets (keys and keyed MACs); a cookie
// made before is refused after, and the jar makes no usable cookie any
// more (and does not hang or panic on its zeroed MACs).
func TestJarClear(t *testing.T) {
	j := newJar(t, 9)
	c := j.Make(client, 42, slot0)
	later := slot0.Add(31 * time.Second) // the next slot: cur and prev both hold secrets
	if !j.Check(c[:], client, 42, later) || !j.hasPrev {
		t.Fatal("the cookie is refused in the next slot before Clear")
	}
	j.Clear()
	for _, s := range []*secret{&j.cur, &j.prev} {
		if s.key != [SecretSize]byte{} || s.mac != (keccak.KMAC{}) {
			t.Fatal("a secret survived Clear")
		}
	}
	if j.Check(c[:], client, 42, later) {
		t.Error("a cookie made before Clear is accepted after it")
	}
	z := j.Make(client, 42, later)
	if z != [Size]byte{} {
		t.Error("Make after Clear returned a cookie")
	}
	if j.Check(z[:], client, 42, later) {
		t.Error("the all-zero cookie is accepted after Clear")
	}
	j.Clear() // twice: nothing
}
