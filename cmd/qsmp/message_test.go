package main

import (
	"bytes"
	"testing"
)

func TestReceiver(t *testing.T) {
	const size = 40
	r := newReceiver(dirClient, 10, size, false)
	msg := make([]byte, size)
	for seq := range uint64(10) {
		makeMessage(msg, dirClient, seq)
		r.accept(msg)
	}
	makeMessage(msg, dirClient, 3)
	r.accept(msg) // a replay
	flipped := bytes.Clone(msg)
	flipped[20] ^= 1
	r.accept(flipped)                // corrupted filler
	r.accept(msg[:size-1])           // wrong size
	makeMessage(msg, dirServer, 4)   // reflected
	r.accept(msg)                    //
	makeMessage(msg, dirClient, 10)  // never sent
	r.accept(msg)                    //
	makeMessage(msg, dirClient, 1e9) // far out
	r.accept(msg)
	got := r.counts()
	want := receiverCounts{Delivered: 10, Bytes: 10 * size, Duplicates: 1, Corrupted: 3, OutOfRange: 2}
	if got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

func TestReceiverEcho(t *testing.T) {
	const size = minMessageSize
	r := newReceiver(dirClient, 2, size, true)
	msg := make([]byte, size)
	makeMessage(msg, dirClient, 0)
	r.accept(append([]byte(echoPrefix), msg...))
	r.accept(msg) // no prefix
	r.accept([]byte("ECHO"))
	makeMessage(msg, dirClient, 1)
	r.accept(append([]byte(echoPrefix), msg...))
	got := r.counts()
	want := receiverCounts{Delivered: 2, Bytes: 2 * size, Corrupted: 2}
	if got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

func TestMakeMessageDistinct(t *testing.T) {
	a, b := make([]byte, 64), make([]byte, 64)
	makeMessage(a, dirClient, 7)
	makeMessage(b, dirClient, 7)
	if !bytes.Equal(a, b) {
		t.Error("makeMessage is not deterministic")
	}
	makeMessage(b, dirClient, 8)
	if bytes.Equal(a[msgHeader:], b[msgHeader:]) {
		t.Error("messages 7 and 8 share their body")
	}
}
