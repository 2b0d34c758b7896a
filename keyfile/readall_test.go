package keyfile

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"unsafe"
)

// chunkReader yields data a few bytes per Read and records every buffer it
// was given.
type chunkReader struct {
	data  []byte
	chunk int
	bufs  [][]byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.bufs = append(r.bufs, p)
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// within reports whether p lies inside the backing array of b.
func within(p, b []byte) bool {
	if len(p) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b[:cap(b)])))
	x := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return x >= lo && x+uintptr(len(p)) <= lo+uintptr(cap(b))
}

// TestReadAtMostOneBuffer: a private key file is read into the buffer that
// is returned (and that ReadPrivateFile zeroes), never into intermediate
// buffers that would keep copies of the key (io.ReadAll reads a file of
// this size in several chunks and copies them into its result).
func TestReadAtMostOneBuffer(t *testing.T) {
	data := bytes.Repeat([]byte{0x5a}, maxPrivate)
	r := &chunkReader{data: data, chunk: 100}
	b, err := readAtMost(r, maxPrivate)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, data) {
		t.Fatalf("read %d bytes, want the %d written", len(b), len(data))
	}
	for i, p := range r.bufs {
		if !within(p, b) {
			t.Fatalf("read %d of %d went to a buffer other than the result", i, len(r.bufs))
		}
	}
}

// TestReadAtMostLimit: input of exactly the limit is read whole; one byte
// more is refused, and what was read is zeroed.
func TestReadAtMostLimit(t *testing.T) {
	const limit = 300
	if b, err := readAtMost(&chunkReader{data: bytes.Repeat([]byte{7}, limit), chunk: 64}, limit); err != nil || len(b) != limit {
		t.Fatalf("input at the limit: %d bytes, %v", len(b), err)
	}
	if b, err := readAtMost(&chunkReader{data: nil, chunk: 64}, limit); err != nil || len(b) != 0 {
		t.Fatalf("empty input: %d bytes, %v", len(b), err)
	}
	r := &chunkReader{data: bytes.Repeat([]byte{7}, limit+1), chunk: 64}
	if _, err := readAtMost(r, limit); !errors.Is(err, errTooLong) {
		t.Fatalf("input over the limit: %v, want errTooLong", err)
	}
	for _, p := range r.bufs {
		for _, x := range p {
			if x != 0 {
				t.Fatal("input over the limit was not zeroed")
			}
		}
	}
}
