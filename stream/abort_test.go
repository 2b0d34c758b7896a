package stream

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/handshake"
)

// abortLog is a handshake machine that records Abort.
type abortLog struct {
	handshake.Machine
	aborted bool
}

func (m *abortLog) Abort() {
	m.aborted = true
	m.Machine.Abort()
}

// TestFailedHandshakeAborted: a handshake that fails (here the peer hangs
// up after the first message) aborts the machine, so its secrets do not
// outlive it.
func TestFailedHandshakeAborted(t *testing.T) {
	sk, ck := keys(t, testSuite)
	_, cli := pair(sk, ck, false)
	m, err := cli.clientMachine()
	if err != nil {
		t.Fatal(err)
	}
	rec := &abortLog{Machine: m}
	a, b := net.Pipe()
	go func() {
		buf := make([]byte, 1<<16)
		b.Read(buf) // the connect request, then hang up
		b.Close()
	}()
	if err := runHandshake(context.Background(), a, rec, time.Second); err == nil {
		t.Fatal("the handshake succeeded against a peer that hung up")
	}
	a.Close()
	if !rec.aborted {
		t.Fatal("the failed handshake's machine was not aborted")
	}
	if _, err := rec.Start(); err == nil {
		t.Fatal("the aborted machine started again")
	}
}
