package datagram

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/datagram/internal/batchio"
	"github.com/qsmp-go/qsmp/datagram/internal/wire"
	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

// TestReaderOpensRecordsTogether feeds one socket batch of a session's
// record datagrams to the listener's reader: valid records, a network
// duplicate, a replay of an earlier batch, a tampered tag, a packet too
// short for a tag, a record under an epoch with no keys, and a record for
// another session in the middle (which splits the held records). The
// session's records are opened together (Conn.onRecords); Read must return
// exactly the valid ones, in order, and the drops must be counted by reason
// as the one-by-one path counts them, which the second half checks by
// feeding the same kind of stream one datagram at a time.
func TestReaderOpensRecordsTogether(t *testing.T) {
	for _, together := range []bool{true, false} {
		t.Run(fmt.Sprintf("together=%v", together), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Seed: 3})
				srv, cli := pairConfigs(t, false)
				p := connectPair(t, n, srv, cli)
				defer p.close()
				cl, sv := p.client, p.server
				k := cl.keys
				seal := func(pt []byte, odd bool) []byte {
					prefix := wire.RecordPrefix(k.peer, odd)
					b := append([]byte(nil), prefix[:]...)
					b, _, err := k.tx.sealer.Seal(b, prefix[:], flagData, pt, record.UnixTime(time.Now()))
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
				ap, ok := addrPortOf(cl.LocalAddr())
				if !ok {
					t.Fatal(cl.LocalAddr())
				}
				var want [][]byte
				var dgs [][]byte
				old := seal([]byte("early"), false)
				want = append(want, []byte("early"))
				for i := range 12 {
					pt := bytes.Repeat([]byte{byte(i)}, 100+i)
					d := seal(pt, false)
					dgs = append(dgs, d)
					want = append(want, pt)
					switch i {
					case 2:
						dgs = append(dgs, d) // duplicate
					case 4:
						dgs = append(dgs, old) // replay of a record read before
					case 5:
						bad := seal([]byte("tampered"), false)
						bad[len(bad)-1] ^= 1
						dgs = append(dgs, bad)
					case 6:
						short := seal(nil, false)
						dgs = append(dgs, short[:len(short)-20])
					case 7:
						dgs = append(dgs, seal([]byte("odd epoch"), true))
					case 8:
						other := wire.RecordPrefix(999999, false)
						dgs = append(dgs, append(other[:], make([]byte, 60)...))
					}
				}
				deliver := func(ds [][]byte) {
					if together {
						msgs := make([]batchio.Message, len(ds))
						for i, d := range ds {
							msgs[i] = batchio.Message{Buf: d, N: len(d), Addr: ap}
						}
						var r reader
						r.batch(sv.ep.socks[0], msgs)
						return
					}
					for _, d := range ds {
						sv.ep.handle(d, udp(ap))
					}
				}
				deliver([][]byte{old})
				deliver(dgs)
				buf := make([]byte, 2000)
				for i, w := range want {
					sv.SetReadDeadline(time.Now().Add(time.Second))
					m, err := sv.Read(buf)
					if err != nil || !bytes.Equal(buf[:m], w) {
						t.Fatalf("read %d: %d bytes, %v; want %d bytes", i, m, err, len(w))
					}
				}
				sv.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if m, err := sv.Read(buf); err == nil {
					t.Fatalf("an extra record of %d bytes was delivered", m)
				}
				st := sv.Stats()
				if st.RecordsIn != uint64(len(want)) || st.Drops.Duplicate != 2 || st.Drops.Auth != 2 || st.EpochDrops != 1 {
					t.Fatalf("stats %+v: want %d records in, 2 duplicates, 2 unauthenticated, 1 epoch drop", st, len(want))
				}
			})
		})
	}
}

// TestReaderOpensBothEpochsTogether: one socket batch holding records of
// the previous and the current epoch, interleaved (a rekey in flight), is
// opened per key slot and delivered in arrival order, every record once.
func TestReaderOpensBothEpochsTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 5})
		srv, cli := pairConfigs(t, false)
		p := connectPair(t, n, srv, cli)
		defer p.close()
		cl, sv := p.client, p.server
		ap, ok := addrPortOf(cl.LocalAddr())
		if !ok {
			t.Fatal(cl.LocalAddr())
		}
		seal := func(pt []byte) []byte {
			k := cl.keys
			prefix := wire.RecordPrefix(k.peer, k.tx.epoch&1 == 1)
			b := append([]byte(nil), prefix[:]...)
			b, _, err := k.tx.sealer.Seal(b, prefix[:], flagData, pt, record.UnixTime(time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		var old [][]byte
		for i := range 6 {
			old = append(old, seal([]byte(fmt.Sprintf("old %d", i))))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cl.Rekey(ctx); err != nil {
			t.Fatal(err)
		}
		var dgs [][]byte
		var want []string
		for i := range 6 {
			dgs = append(dgs, old[i])
			want = append(want, fmt.Sprintf("old %d", i))
			pt := fmt.Sprintf("new %d", i)
			dgs = append(dgs, seal([]byte(pt)))
			want = append(want, pt)
		}
		msgs := make([]batchio.Message, len(dgs))
		for i, d := range dgs {
			msgs[i] = batchio.Message{Buf: d, N: len(d), Addr: ap}
		}
		var r reader
		r.batch(sv.ep.socks[0], msgs)
		buf := make([]byte, 2000)
		for i, w := range want {
			sv.SetReadDeadline(time.Now().Add(time.Second))
			m, err := sv.Read(buf)
			if err != nil || string(buf[:m]) != w {
				t.Fatalf("read %d: %q, %v; want %q", i, buf[:m], err, w)
			}
		}
		if st := sv.Stats(); st.EpochDrops != 0 || st.Drops.Total() != 0 {
			t.Fatalf("stats %+v: want no drops", st)
		}
	})
}
