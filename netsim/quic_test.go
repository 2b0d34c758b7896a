package netsim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"math/big"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"
)

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{"netsim.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestQUICOverNetwork runs quic-go over two in-memory endpoints with loss,
// reordering, duplication and delay in both directions, on virtual time: a
// handshake, a 200 kB stream echo and unreliable datagrams. It also checks
// that quic-go does not warn about buffer sizes.
func TestQUICOverNetwork(t *testing.T) {
	var logs bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&logs)
	defer log.SetOutput(prev)

	synctest.Test(t, func(t *testing.T) {
		cert := selfSigned(t)
		n := newNet(t, Config{Seed: 5, Loss: 0.03, Reorder: 0.03, Duplicate: 0.02,
			Delay: 15 * time.Millisecond, Jitter: 3 * time.Millisecond,
			Bandwidth: 10_000_000, QueueLimit: 256 << 10})
		spc, cpc := listen(t, n, "127.0.0.1:4433"), listen(t, n, ":0")
		qconf := &quic.Config{EnableDatagrams: true, MaxIdleTimeout: 10 * time.Second}

		str := &quic.Transport{Conn: spc}
		ctr := &quic.Transport{Conn: cpc}
		ln, err := str.Listen(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"netsim"}}, qconf)
		if err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, 200_000)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		var wg sync.WaitGroup
		wg.Go(func() {
			sc, err := ln.Accept(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			st, err := sc.AcceptStream(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := io.Copy(st, st); err != nil { // echo
				t.Error(err)
			}
			st.Close()
			for {
				d, err := sc.ReceiveDatagram(ctx)
				if err != nil {
					return
				}
				sc.SendDatagram(append([]byte("echo:"), d...))
			}
		})

		start := time.Now()
		cc, err := ctr.Dial(ctx, spc.LocalAddr(), &tls.Config{ServerName: "netsim.test",
			InsecureSkipVerify: true, NextProtos: []string{"netsim"}}, qconf)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("handshake done after %v of virtual time", time.Since(start))
		st, err := cc.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			st.Write(payload)
			st.Close()
		}()
		got, err := io.ReadAll(st)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("echo: %d bytes, equal %v, err %v", len(got), bytes.Equal(got, payload), err)
		}
		t.Logf("200 kB echoed after %v of virtual time", time.Since(start))

		echoed := 0
		for i := range 50 {
			cc.SendDatagram([]byte{byte(i)})
			dctx, dcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			if d, err := cc.ReceiveDatagram(dctx); err == nil && strings.HasPrefix(string(d), "echo:") {
				echoed++
			}
			dcancel()
		}
		if echoed < 40 {
			t.Errorf("only %d of 50 datagrams echoed", echoed)
		}
		stats := n.Stats()
		t.Logf("datagrams echoed %d/50; network %+v", echoed, stats)
		if stats.Lost == 0 || stats.Reordered == 0 || stats.Duplicated == 0 {
			t.Errorf("the run did not exercise the faults: %+v", stats)
		}
		cc.CloseWithError(0, "done")
		ln.Close()
		wg.Wait()
		ctr.Close()
		str.Close()
		spc.Close()
		cpc.Close()
	})
	if strings.Contains(logs.String(), "buffer") {
		t.Errorf("quic-go warned: %s", logs.String())
	}
}
