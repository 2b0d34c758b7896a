package quicx

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// meter counts what a receiver loop delivers.
type meter struct {
	bytes, count atomic.Int64
	last         atomic.Int64 // UnixNano of the latest arrival
}

func (m *meter) reset() { m.bytes.Store(0); m.count.Store(0); m.last.Store(0) }

func (m *meter) add(n int) {
	m.bytes.Add(int64(n))
	m.count.Add(1)
	m.last.Store(time.Now().UnixNano())
}

// run sends k records with send and returns the goodput in MB/s (bytes
// delivered over the time from the first send to the last arrival) and the
// fraction delivered.
func (m *meter) run(k, size int, send func([]byte) error) (float64, float64, error) {
	m.reset()
	msg := make([]byte, size)
	start := time.Now()
	for i := range k {
		msg[0] = byte(i)
		if err := send(msg); err != nil {
			return 0, 0, err
		}
	}
	// Wait for the tail: everything, or 50 ms without an arrival.
	for m.count.Load() < int64(k) {
		last := m.last.Load()
		if last != 0 && time.Since(time.Unix(0, last)) > 50*time.Millisecond {
			break
		}
		if last == 0 && time.Since(start) > 2*time.Second {
			break
		}
		time.Sleep(time.Millisecond)
	}
	last := m.last.Load()
	if last == 0 {
		return 0, 0, nil
	}
	secs := time.Unix(0, last).Sub(start).Seconds()
	return float64(m.bytes.Load()) / secs / 1e6, float64(m.count.Load()) / float64(k), nil
}

// rawQUICPair connects two quic-go endpoints over loopback UDP with
// datagrams enabled: the baseline without QSMP.
func rawQUICPair(b *testing.B) (cli, srv *quic.Conn, closeAll func()) {
	spc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	cpc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ephemeralCertificate()
	if err != nil {
		b.Fatal(err)
	}
	qconf := &quic.Config{EnableDatagrams: true}
	str, ctr := &quic.Transport{Conn: spc}, &quic.Transport{Conn: cpc}
	ln, err := str.Listen(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"bench"}}, qconf)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cli, err = ctr.Dial(ctx, spc.LocalAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"bench"}}, qconf)
	if err != nil {
		b.Fatal(err)
	}
	if srv, err = ln.Accept(ctx); err != nil {
		b.Fatal(err)
	}
	return cli, srv, func() {
		cli.CloseWithError(0, "")
		srv.CloseWithError(0, "")
		ln.Close()
		ctr.Close()
		str.Close()
		cpc.Close()
		spc.Close()
	}
}

// BenchmarkGoodputVsQUIC measures the goodput of 1100-byte records over
// loopback UDP: QSMP records in QUIC DATAGRAM frames next to quic-go's own
// datagrams without QSMP, in the same run (each iteration sends 2000 of
// each). It reports both in MB/s, their ratio, the fraction delivered
// (datagrams are not retransmitted; a receiver that falls behind drops) and
// the CPU time the process spent per message sent, both ends together (on
// Unix): with two cores the run is CPU-bound, so the ratio follows the CPU
// per message.
func BenchmarkGoodputVsQUIC(b *testing.B) {
	const k, size = 2000, 1100
	rc, rs, closeRaw := rawQUICPair(b)
	defer closeRaw()
	srvCfg, cliCfg := configs(b, false)
	l, err := Listen("quic", "127.0.0.1:0", srvCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	qc, err := Dial(ctx, "quic", l.Addr().String(), cliCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer qc.Close()
	qs, err := l.AcceptContext(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer qs.Close()

	var raw, sec meter
	go func() {
		for {
			d, err := rs.ReceiveDatagram(ctx)
			if err != nil {
				return
			}
			raw.add(len(d))
		}
	}()
	go func() {
		buf := make([]byte, 2000)
		for {
			n, err := qs.Read(buf)
			if err != nil {
				return
			}
			sec.add(n)
		}
	}()
	var rawSum, secSum, rawDel, secDel float64
	var rawCPU, secCPU time.Duration
	b.SetBytes(2 * k * size)
	b.ResetTimer()
	for b.Loop() {
		c0 := processCPU()
		r, rd, err := raw.run(k, size, rc.SendDatagram)
		if err != nil {
			b.Fatal(err)
		}
		c1 := processCPU()
		s, sd, err := sec.run(k, size, func(m []byte) error { _, err := qc.Write(m); return err })
		if err != nil {
			b.Fatal(err)
		}
		rawCPU, secCPU = rawCPU+c1-c0, secCPU+processCPU()-c1
		rawSum, secSum, rawDel, secDel = rawSum+r, secSum+s, rawDel+rd, secDel+sd
	}
	n := float64(b.N)
	b.ReportMetric(rawSum/n, "quic-MB/s")
	b.ReportMetric(secSum/n, "qsmp-MB/s")
	b.ReportMetric(secSum/rawSum, "ratio")
	b.ReportMetric(rawDel/n, "quic-delivered")
	b.ReportMetric(secDel/n, "qsmp-delivered")
	if rawCPU > 0 {
		b.ReportMetric(float64(rawCPU.Microseconds())/n/k, "quic-cpu-µs/msg")
		b.ReportMetric(float64(secCPU.Microseconds())/n/k, "qsmp-cpu-µs/msg")
	}
	st := qs.Stats()
	rst, qst := rc.ConnectionStats(), qc.QUIC().ConnectionStats()
	b.Logf("receiver: queue drops %d, drops %+v; sender RTT/cwnd: quic %v/%d, qsmp %v/%d",
		st.QueueDrops, st.Drops, rst.SmoothedRTT, rst.CongestionWindow, qst.SmoothedRTT, qst.CongestionWindow)
}
