package batchio

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMaxReadTakesLargestGSOSends: a GSO send that another process makes
// over loopback reaches a GRO socket whole, as one payload of as many
// datagrams as the sender put in it, and kernels since 6.13 take up to 128
// per send (UDP_MAX_SEGMENTS). MaxRead Messages must still take any one
// read whole, nothing left Buffered: the socket readers of package
// datagram rely on it (a read state whose wrapper kept datagrams back
// would hand them out only when reused, after datagrams that arrived
// later, or never if no reader took it again). MaxRead counted 64
// datagrams per receive buffer, and left half of such a read behind.
func TestMaxReadTakesLargestGSOSends(t *testing.T) {
	for _, bufs := range []int{0, 2} { // a listener's receive buffers, a dialed Conn's
		t.Run(fmt.Sprintf("groBuffers=%d", bufs), func(t *testing.T) {
			rx, tx := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
			var opts []Option
			if bufs > 0 {
				opts = append(opts, WithGROBuffers(bufs))
			}
			r := New(rx, 64, opts...)
			if !r.Capabilities().GRO {
				t.Skipf("no GRO here (%v): nothing is coalesced", r.Capabilities())
			}
			const seg, perSend = 100, 128
			sends := len(r.sys.rh) // one payload for every receive buffer
			oob := make([]byte, gsoSpace)
			putGSO(oob, seg)
			var want [][]byte
			for i := range sends {
				var b []byte
				for j := range perSend {
					d := payload(i, j, seg)
					want = append(want, d)
					b = append(b, d...)
				}
				if _, _, err := tx.WriteMsgUDP(b, oob, rx.LocalAddr().(*net.UDPAddr)); err != nil {
					if i == 0 && errors.Is(err, unix.EINVAL) {
						t.Skipf("this kernel takes at most 64 datagrams per GSO send: %v", err)
					}
					t.Fatal(err)
				}
			}
			msgs := make([]Message, r.MaxRead())
			rx.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := 0
			for got < len(want) {
				n, err := r.ReadBatchView(msgs)
				if err != nil {
					t.Fatalf("%d of %d datagrams read: %v", got, len(want), err)
				}
				for _, m := range msgs[:n] {
					if string(m.Buf[:m.N]) != string(want[got]) {
						t.Fatalf("datagram %d: %d bytes, not the one sent", got, m.N)
					}
					got++
				}
				if r.Buffered() {
					t.Fatalf("MaxRead (%d) Messages left datagrams buffered, %d of %d read", len(msgs), got, len(want))
				}
			}
		})
	}
}
