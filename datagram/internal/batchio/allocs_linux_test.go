//go:build !race

package batchio

import (
	"testing"
	"time"
)

// TestZeroAllocs checks that a steady stream of batches allocates nothing,
// with and without offloads, over IPv4 and IPv6.
func TestZeroAllocs(t *testing.T) {
	for _, lb := range loopbacks {
		for _, cfg := range configs {
			t.Run(lb.network+"/"+cfg.name, func(t *testing.T) {
				rx, tx := listen(t, lb.network, lb.addr), listen(t, lb.network, lb.addr)
				r, w := New(rx, 32, cfg.opts...), New(tx, 32, cfg.opts...)
				const k = 32
				out := make([]Message, k)
				for i := range out {
					out[i] = Message{Buf: payload(1, i, 1200), Addr: addrOf(rx)}
				}
				out[k-1].Buf = out[k-1].Buf[:300]
				in := make([]Message, k)
				for i := range in {
					in[i].Buf = make([]byte, 2048)
				}
				_ = rx.SetReadDeadline(time.Now().Add(30 * time.Second))
				var bad error
				allocs := testing.AllocsPerRun(50, func() {
					if n, err := w.WriteBatch(out); n != k || err != nil {
						bad = err
						return
					}
					for got := 0; got < k; {
						n, err := r.ReadBatch(in)
						if err != nil {
							bad = err
							return
						}
						got += n
					}
				})
				if bad != nil {
					t.Fatal(bad)
				}
				if allocs != 0 {
					t.Errorf("%v -> %v: %.1f allocations per batch of %d", w.Capabilities(), r.Capabilities(), allocs, k)
				}
			})
		}
	}
}
