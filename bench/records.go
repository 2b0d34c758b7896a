package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

// RecordProfile names a record protection measured by MeasureRecord.
type RecordProfile string

// The record protections measured.
const (
	StreamRCS256     RecordProfile = "stream RCS-256"   // stream profile, QSMS
	StreamRCS512     RecordProfile = "stream RCS-512"   // stream profile, QSMD
	DatagramRCS256   RecordProfile = "datagram RCS-256" // datagram profile, QSMS
	DatagramRCS512   RecordProfile = "datagram RCS-512" // datagram profile, QSMD
	AES256GCM        RecordProfile = "AES-256-GCM"
	ChaCha20Poly1305 RecordProfile = "ChaCha20-Poly1305"
)

// RecordProfiles lists every profile MeasureRecord knows, in table order.
var RecordProfiles = []RecordProfile{StreamRCS256, StreamRCS512, DatagramRCS256, DatagramRCS512, AES256GCM, ChaCha20Poly1305}

// RecordSizes are the plaintext sizes measured: one network datagram's
// worth and a large record.
var RecordSizes = []int{1400, 16384}

// ErrUnknownProfile reports a RecordProfile that MeasureRecord does not know.
var ErrUnknownProfile = errors.New("bench: unknown record profile")

// RecordResult is the throughput of one record protection at one size.
type RecordResult struct {
	Profile RecordProfile `json:"profile"`
	Size    int           `json:"size"`    // plaintext bytes per record
	Records int           `json:"records"` // records sealed (and opened)
	// SealMBps and OpenMBps are plaintext megabytes (10^6 bytes) per
	// second on one core, in the fastest batch: other load on the machine
	// only ever slows a batch down, so the fastest is the one it disturbed
	// least.
	SealMBps float64 `json:"seal_MBps"`
	OpenMBps float64 `json:"open_MBps"`
	// SealMedianMBps and OpenMedianMBps are the median batch's rates.
	SealMedianMBps float64 `json:"seal_median_MBps"`
	OpenMedianMBps float64 `json:"open_median_MBps"`
}

// Name is the measurement's name for Options.Only.
func (r RecordResult) Name() string { return recordName(r.Profile, r.Size) }

func recordName(p RecordProfile, size int) string { return fmt.Sprintf("record/%s/%d", p, size) }

// sealOpener seals and opens one record at a time; open must be given the
// records in the order seal produced them. seal appends to dst where the
// API allows it (the stream profile's Seal always allocates, as stream.Conn
// uses it).
type sealOpener interface {
	seal(dst, pt []byte) ([]byte, error)
	open(rec []byte) ([]byte, error)
}

// recordBatch is the number of records sealed before they are opened.
const recordBatch = 64

// MeasureRecord measures sealing and opening records of size plaintext
// bytes with profile p for at least budget (and at least three batches).
// Records are sealed in batches of 64, then the batch is opened in order and
// each plaintext is checked; each batch's seal and open are timed
// separately.
func MeasureRecord(ctx context.Context, p RecordProfile, size int, budget time.Duration) (RecordResult, error) {
	res := RecordResult{Profile: p, Size: size}
	so, err := newSealOpener(p)
	if err != nil {
		return res, err
	}
	pt := make([]byte, size)
	for i := range pt {
		pt[i] = byte(i)
	}
	recs := make([][]byte, recordBatch)
	var sealT, openT []time.Duration
	start := time.Now()
	for time.Since(start) < budget || len(sealT) < 3 {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		binary.LittleEndian.PutUint64(pt, uint64(res.Records))
		t0 := time.Now()
		for i := range recs {
			if recs[i], err = so.seal(recs[i][:0], pt); err != nil {
				return res, fmt.Errorf("bench: %s seal: %w", p, err)
			}
		}
		t1 := time.Now()
		for i := range recs {
			out, err := so.open(recs[i])
			if err != nil {
				return res, fmt.Errorf("bench: %s open: %w", p, err)
			}
			if len(out) != size || binary.LittleEndian.Uint64(out) != uint64(res.Records) {
				return res, fmt.Errorf("bench: %s open returned the wrong plaintext", p)
			}
		}
		t2 := time.Now()
		sealT = append(sealT, t1.Sub(t0))
		openT = append(openT, t2.Sub(t1))
		res.Records += len(recs)
	}
	batch := float64(recordBatch) * float64(size) / 1e6
	slices.Sort(sealT)
	slices.Sort(openT)
	res.SealMBps = batch / sealT[0].Seconds()
	res.OpenMBps = batch / openT[0].Seconds()
	res.SealMedianMBps = batch / sealT[len(sealT)/2].Seconds()
	res.OpenMedianMBps = batch / openT[len(openT)/2].Seconds()
	return res, nil
}

// benchNow is the record clock: a fixed utctime, checked against itself.
var benchNow = record.UnixTime(time.Now())

func newSealOpener(p RecordProfile) (sealOpener, error) {
	switch p {
	case StreamRCS256:
		return newStreamPair(false)
	case StreamRCS512:
		return newStreamPair(true)
	case DatagramRCS256:
		return newDatagramPair(false)
	case DatagramRCS512:
		return newDatagramPair(true)
	case AES256GCM:
		b, err := aes.NewCipher(patterned(32, 7))
		if err != nil {
			return nil, err
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
		return &aeadPair{aead: g}, nil
	case ChaCha20Poly1305:
		c, err := chacha20poly1305.New(patterned(32, 9))
		if err != nil {
			return nil, err
		}
		return &aeadPair{aead: c}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownProfile, p)
}

func patterned(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)*31
	}
	return b
}

// streamPair is the stream profile of one direction: the sender's state
// seals, the receiver's opens.
type streamPair struct{ tx, rx *record.Stream }

func newStreamPair(wide bool) (*streamPair, error) {
	keyLen, name := 32, suite.Default
	if wide {
		keyLen = 64
	}
	key, nonce := patterned(keyLen, 1), patterned(32, 2)
	tc, err := rcs.New(key, nonce)
	if err != nil {
		return nil, err
	}
	rc, err := rcs.New(key, nonce)
	if err != nil {
		return nil, err
	}
	var cfg [suite.ConfigSize]byte
	copy(cfg[:], name)
	sc := record.StreamConfig{TxSeq: 2, RxSeq: 2, Config: cfg, RTCS: patterned(keyLen, 3),
		DatagramSecret: patterned(record.DatagramSecretSize, 4), Threshold: record.DefaultTimeThreshold}
	rcfg := sc
	rcfg.Server = true
	return &streamPair{tx: record.NewStream(tc, nil, sc), rx: record.NewStream(nil, rc, rcfg)}, nil
}

func (s *streamPair) seal(_, pt []byte) ([]byte, error) { return s.tx.Seal(pt, benchNow) }

func (s *streamPair) open(rec []byte) ([]byte, error) {
	_, pt, err := s.rx.Open(rec, benchNow)
	return pt, err
}

// envelopeSize is the size of the carrier envelope authenticated with each
// datagram record (version, kind, session id).
const envelopeSize = 10

type datagramPair struct {
	s        *record.Sealer
	o        *record.Opener
	env, out []byte
}

func newDatagramPair(wide bool) (*datagramPair, error) {
	key, base, err := record.DatagramKeys(wide, patterned(record.DatagramSecretSize, 5), record.ClientToServer, 0)
	if err != nil {
		return nil, err
	}
	win, err := window.NewSync(window.DefaultSize)
	if err != nil {
		return nil, err
	}
	var counter atomic.Uint64
	return &datagramPair{
		s:   record.NewSealer(key, base, &counter),
		o:   record.NewOpener(key, base, win, nil, record.DefaultTimeThreshold),
		env: patterned(envelopeSize, 6),
	}, nil
}

func (d *datagramPair) seal(dst, pt []byte) ([]byte, error) {
	rec, _, err := d.s.Seal(dst, d.env, record.FlagEncryptedMessage, pt, benchNow)
	return rec, err
}

func (d *datagramPair) open(rec []byte) ([]byte, error) {
	_, pt, err := d.o.Open(d.out[:0], d.env, rec, benchNow)
	d.out = pt
	return pt, err
}

// aeadPair seals like a record protocol would: a 21-byte header as AD and
// a counter nonce.
type aeadPair struct {
	aead       cipher.AEAD
	txSeq      uint64
	out        []byte
	nonce, hdr [record.HeaderSize]byte
}

func (a *aeadPair) seal(dst, pt []byte) ([]byte, error) {
	a.txSeq++
	n := a.nonce[:a.aead.NonceSize()]
	binary.LittleEndian.PutUint64(n, a.txSeq)
	binary.LittleEndian.PutUint64(a.hdr[5:], a.txSeq)
	rec := append(dst, a.hdr[:]...)
	return a.aead.Seal(rec, n, pt, rec), nil
}

func (a *aeadPair) open(rec []byte) ([]byte, error) {
	if len(rec) < record.HeaderSize {
		return nil, errors.New("bench: short record")
	}
	var n [record.HeaderSize]byte
	binary.LittleEndian.PutUint64(n[:], binary.LittleEndian.Uint64(rec[5:]))
	pt, err := a.aead.Open(a.out[:0], n[:a.aead.NonceSize()], rec[record.HeaderSize:], rec[:record.HeaderSize])
	a.out = pt
	return pt, err
}
