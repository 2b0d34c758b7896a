package quicx

import (
	"errors"
	"testing"

	"github.com/qsmp-go/qsmp/record"
)

// TestRefusedRekeyTokenZeroed: a rekey request refused because it arrives
// inside the fragments of an asymmetric ratchet message (a protocol
// violation that ends the session) has its token zeroed, as handleRekey
// zeroes it on every other path.
func TestRefusedRekeyTokenZeroed(t *testing.T) {
	c := &Conn{}
	c.asm.flag, c.asm.need, c.asm.buf = record.FlagAsymmetricRatchetRequest, 100, make([]byte, 0, 100)
	token := make([]byte, tokenSize)
	for i := range token {
		token[i] = byte(i + 1)
	}
	ctl := control{flag: record.FlagSymmetricRatchetRequest, kind: rekeyRequest, epoch: 1, token: token}
	if err := c.handleControl(ctl); !errors.Is(err, ErrProtocol) {
		t.Fatalf("handleControl: %v, want ErrProtocol", err)
	}
	for i, b := range token {
		if b != 0 {
			t.Fatalf("the refused request's token survived (byte %d)", i)
		}
	}
}
