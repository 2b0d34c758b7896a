package record

import (
	"testing"

	"github.com/qsmp-go/qsmp/crypto/rcs"
)

// TestConfirmationBlocksNeverRecur: the keystream blocks that carried the
// handshake's encrypted confirmations (the QSMS exchange response on s2c; the
// QSMD establish request and response, two blocks each) never appear in any
// datagram-profile record of the same session, in either direction or epoch.
func TestConfirmationBlocksNeverRecur(t *testing.T) {
	for _, wide := range []bool{false, true} {
		var k SessionKeys
		blocks := 1
		if wide {
			k = DeriveQSMD(pattern(32, 1), pattern(32, 2), pattern(64, 3))
			blocks = 2
		} else {
			k = DeriveQSMS(pattern(32, 1), pattern(64, 3)[:32])
		}
		confirm := map[[32]byte]bool{}
		dirs := [][2][]byte{{k.S2CKey, k.S2CNonce}}
		if wide {
			dirs = append(dirs, [2][]byte{k.C2SKey, k.C2SNonce})
		}
		for _, d := range dirs {
			key, err := rcs.NewKey(d[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctr [32]byte
			copy(ctr[:], d[1])
			ks := make([]byte, 32*blocks)
			key.XORKeyStream(ks, ks, &ctr)
			for i := 0; i < blocks; i++ {
				var b [32]byte
				copy(b[:], ks[32*i:])
				confirm[b] = true
			}
		}
		checked := 0
		for _, dir := range []Direction{ClientToServer, ServerToClient} {
			for _, epoch := range []uint64{0, 1} {
				key, base, err := DatagramKeys(wide, k.DatagramSecret, dir, epoch)
				if err != nil {
					t.Fatal(err)
				}
				for seq := uint64(1); seq <= 64; seq++ {
					ctr := RecordNonce(&base, seq)
					ks := make([]byte, 1400)
					key.XORKeyStream(ks, ks, &ctr)
					for i := 0; i+32 <= len(ks); i += 32 {
						var b [32]byte
						copy(b[:], ks[i:])
						if confirm[b] {
							t.Fatalf("confirmation block recurs in record %d (dir %d, epoch %d)", seq, dir, epoch)
						}
						checked++
					}
				}
			}
		}
		if checked == 0 || len(confirm) != blocks*len(dirs) {
			t.Fatal("nothing checked")
		}
	}
}
