package quicx

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
)

// TestQueuedRecordsOpenedTogether lets a mixed run of datagrams queue up
// before the first Read, so that Read opens them together: valid records
// of several sizes, a duplicate, a tampered tag, a datagram too short for a
// header, a record with another flag, and records larger than the read
// buffer. Reads must return exactly the valid records in order; a record
// too large for the buffer gives a ShortBufferError and is returned by the
// next Read with room; drops are counted by reason.
func TestQueuedRecordsOpenedTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		// No reordering, so that the records arrive in the order sent.
		p := newSimPair(t, netsim.Config{Seed: 7, Delay: 10 * time.Millisecond, Bandwidth: 20 << 20, QueueLimit: 8 << 20}, srvCfg, cliCfg)
		defer p.close()
		var want [][]byte
		var dgs [][]byte
		for i := range uint64(20) {
			size := 40 + int(i)*37
			m := message(i, size)
			rec, err := p.cli.seal(nil, prefixDatagram, record.FlagEncryptedMessage, m)
			if err != nil {
				t.Fatal(err)
			}
			dgs = append(dgs, rec)
			want = append(want, m)
			switch i {
			case 3:
				dgs = append(dgs, rec) // duplicate
			case 6:
				bad, _ := p.cli.seal(nil, prefixDatagram, record.FlagEncryptedMessage, []byte("tampered"))
				bad[len(bad)-1] ^= 1
				dgs = append(dgs, bad)
			case 9:
				dgs = append(dgs, rec[:record.HeaderSize]) // too short
			case 12:
				other, _ := p.cli.seal(nil, prefixDatagram, record.FlagTransferRequest, []byte("not data"))
				dgs = append(dgs, other)
			}
		}
		for _, d := range dgs {
			if err := p.cli.qc.SendDatagram(d); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second) // virtual: everything is queued
		if q := p.srv.queued(); q < 8 {
			t.Fatalf("only %d datagrams queued: the test would not open them together", q)
		}
		small := make([]byte, 400)
		big := make([]byte, 2000)
		for i, w := range want {
			p.srv.SetReadDeadline(time.Now().Add(time.Second))
			k, err := p.srv.Read(small)
			var sb *ShortBufferError
			if len(w) > len(small) {
				if !errors.As(err, &sb) || sb.Size != len(w) {
					t.Fatalf("record %d (%d bytes) into %d: %v", i, len(w), len(small), err)
				}
				k, err = p.srv.Read(big)
				if err != nil || !bytes.Equal(big[:k], w) {
					t.Fatalf("record %d after the short buffer: %d bytes, %v", i, k, err)
				}
				continue
			}
			if err != nil || !bytes.Equal(small[:k], w) {
				t.Fatalf("record %d: %d bytes, %v; want %d bytes", i, k, err, len(w))
			}
		}
		p.srv.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if k, err := p.srv.Read(big); err == nil {
			t.Fatalf("an extra record of %d bytes", k)
		}
		st := p.srv.Stats()
		if st.RecordsIn != uint64(len(want)) || st.Drops.Duplicate != 1 || st.Drops.Auth != 1 || st.Malformed != 1 || st.UnknownFlags != 1 {
			t.Fatalf("stats %+v: want %d in, 1 duplicate, 1 unauthenticated, 1 malformed, 1 other flag", st, len(want))
		}
	})
}

// queued returns how many datagrams wait in the Conn's receive queue.
func (c *Conn) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queue.len()
}

// TestQueuedSealingAcrossRekeys: Write frames records and the sender
// goroutine seals them later, together; while a writer streams, the client
// rekeys three times, so keys change while records wait. Every record
// arrives intact (the link loses nothing), the queue never exceeds its
// bound, and every transmit key used is zeroed once its records are sealed
// and the session is closed.
func TestQueuedSealingAcrossRekeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		srvCfg.ReceiveQueue = 1 << 14
		p := newSimPair(t, netsim.Config{Seed: 9, Delay: 5 * time.Millisecond, Bandwidth: 50 << 20, QueueLimit: 64 << 20}, srvCfg, cliCfg)
		defer p.close()
		const records, size = 3000, 1000
		var keys []*txEpoch
		snap := func() {
			p.cli.txMu.RLock()
			keys = append(keys, p.cli.tx)
			p.cli.txMu.RUnlock()
		}
		// The server reads as records come (a record is opened when read:
		// one left queued across two rekeys would find its epoch's keys
		// replaced).
		got := map[uint64]bool{}
		readErr := make(chan error, 1)
		go func() {
			buf := make([]byte, 2*size)
			for {
				p.srv.SetReadDeadline(time.Now().Add(time.Second))
				k, err := p.srv.Read(buf)
				if err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						err = nil
					}
					readErr <- err
					return
				}
				i := binary.LittleEndian.Uint64(buf)
				if !bytes.Equal(buf[:k], message(i, size)) || got[i] {
					readErr <- fmt.Errorf("record %d corrupted or repeated", i)
					return
				}
				got[i] = true
			}
		}()
		done := make(chan error, 1)
		go func() {
			for i := range uint64(records) {
				if _, err := p.cli.Write(message(i, size)); err != nil {
					done <- err
					return
				}
				if q := p.cli.queuedSends(); q > sendQueueMax {
					done <- errors.New("send queue above its bound")
					return
				}
				if i%100 == 0 {
					time.Sleep(time.Millisecond) // let the link drain
				}
			}
			done <- nil
		}()
		for range 3 {
			time.Sleep(5 * time.Millisecond)
			snap()
			if err := p.cli.Rekey(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		snap()
		if err := <-readErr; err != nil {
			t.Fatal(err)
		}
		st := p.cli.Stats()
		if len(got) != records || st.Rekeys < 3 || st.SendErrors != 0 {
			t.Fatalf("%d of %d records, %d rekeys, %d send errors; client %+v; server %+v", len(got), records, st.Rekeys, st.SendErrors, st, p.srv.Stats())
		}
		p.cli.Close()
		for i, k := range keys {
			if !k.cleared.Load() || k.pending.Load() != 0 {
				t.Fatalf("transmit keys %d (epoch %d): cleared %v, %d pending", i, k.epoch, k.cleared.Load(), k.pending.Load())
			}
		}
	})
}

// queuedSends returns how many records wait in the send queue.
func (c *Conn) queuedSends() int {
	c.sq.mu.Lock()
	defer c.sq.mu.Unlock()
	return len(c.sq.items)
}

// TestRecordsQueuedAcrossRekeys: records that arrived but were not read
// yet survive ratchets, because each is stamped on arrival with the keys
// installed then and opens under those: after three rekeys (which replace
// the keys of every epoch parity) all of them are still read intact, and
// the replaced keys are zeroed once the records are read. (When Read
// opened them with the keys of the moment, the last two rekeys made every
// one fail authentication.)
func TestRecordsQueuedAcrossRekeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvCfg, cliCfg := configs(t, false)
		p := newSimPair(t, netsim.Config{Seed: 5, Delay: 5 * time.Millisecond}, srvCfg, cliCfg)
		defer p.close()
		const records = 100
		for i := range uint64(records) {
			if _, err := p.cli.Write(message(i, 300)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second) // virtual: they arrive and wait in the queue
		for range 3 {
			if err := p.cli.Rekey(context.Background()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
		}
		p.srv.mu.Lock()
		first := p.srv.queue.buf[p.srv.queue.head].rx
		p.srv.mu.Unlock()
		if first[0] == nil || first[0].cleared.Load() {
			t.Fatal("the first queued record's keys are gone before it is read")
		}
		buf := make([]byte, 1000)
		for i := range uint64(records) {
			p.srv.SetReadDeadline(time.Now().Add(time.Second))
			k, err := p.srv.Read(buf)
			if err != nil || !bytes.Equal(buf[:k], message(i, 300)) {
				t.Fatalf("record %d: %d bytes, %v (stats %+v)", i, k, err, p.srv.Stats())
			}
		}
		if !first[0].cleared.Load() || first[0].pending.Load() != 0 {
			t.Fatalf("epoch %d keys: cleared %v, %d pending after every record was read", first[0].epoch, first[0].cleared.Load(), first[0].pending.Load())
		}
		if st := p.srv.Stats(); st.Rekeys < 3 || st.Drops.Total() != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// stamped returns pkt (copied) as the drain goroutine queues it, stamped
// with the receive keys installed now.
func (c *Conn) stamped(pkt []byte) []queued {
	e := queued{pkt: bytes.Clone(pkt)}
	c.keyMu.RLock()
	for i, r := range c.rx {
		if r != nil {
			r.pending.Add(1)
			e.rx[i] = r
		}
	}
	c.keyMu.RUnlock()
	return []queued{e}
}
