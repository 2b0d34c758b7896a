package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
)

// HandshakeResult is the cost of one configuration's handshake run in
// memory through the handshake state machines (no I/O), averaged over
// Iterations handshakes.
type HandshakeResult struct {
	Config     string `json:"config"`
	Mode       string `json:"mode"` // "QSMS" or "QSMD"
	Iterations int    `json:"iterations"`
	// Latency is the wall time of the whole exchange, both sides computing
	// in turn: the handshake's latency with a zero-delay network. It is the
	// median over the iterations (other load on the machine inflates some).
	Latency time.Duration `json:"latency_ns"`
	// ServerCPU and ClientCPU are the CPU time of each side's steps, read
	// from the thread's CPU clock.
	ServerCPU time.Duration `json:"server_cpu_ns"`
	ClientCPU time.Duration `json:"client_cpu_ns"`
	// Packets and Bytes are the messages exchanged and their total size.
	Packets int `json:"packets"`
	Bytes   int `json:"bytes"`
}

// Name is the measurement's name for Options.Only.
func (r HandshakeResult) Name() string { return handshakeName(r.Mode, r.Config) }

func handshakeName(mode, config string) string { return "handshake/" + mode + "/" + config }

// Slow reports whether a configuration's handshake costs about a second or
// more: Classic McEliece key generation or SLH-DSA signing. Run skips them
// in quick mode and runs them with few iterations otherwise.
func Slow(s *suite.Suite) bool {
	return strings.Contains(s.KEMName, "McEliece") || strings.Contains(s.SignatureName, "SLH-DSA")
}

// MeasureHandshake runs iterations complete in-memory handshakes of
// configuration s (QSMD if duplex, else QSMS) with fresh identities and
// crypto/rand, and returns the median latency and the mean per-side CPU
// time. The
// calling goroutine is locked to its thread so that the thread CPU clock
// measures exactly the steps of each side.
func MeasureHandshake(ctx context.Context, s *suite.Suite, duplex bool, iterations int) (HandshakeResult, error) {
	res := HandshakeResult{Config: s.Name, Mode: "QSMS"}
	if duplex {
		res.Mode = "QSMD"
	}
	if iterations < 1 {
		iterations = 1
	}
	signer, err := s.Signer()
	if err != nil {
		return res, err
	}
	now := time.Now()
	mk := func(tag byte) (handshake.Identity, error) {
		pk, sk, err := signer.GenerateKey(rand.Reader)
		if err != nil {
			return handshake.Identity{}, err
		}
		id := handshake.Identity{Expiration: uint64(now.Add(24 * time.Hour).Unix()), VerifyKey: pk, SigningKey: sk}
		if _, err := rand.Read(id.KeyID[:]); err != nil {
			return id, err
		}
		id.KeyID[0] = tag
		return id, nil
	}
	server, err := mk(0xA5)
	if err != nil {
		return res, err
	}
	client, err := mk(0x5A)
	if err != nil {
		return res, err
	}
	pubServer, pubClient := server, client
	pubServer.SigningKey, pubClient.SigningKey = nil, nil

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var scpu, ccpu time.Duration
	walls := make([]time.Duration, 0, iterations)
	for i := range iterations {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		cfg := handshake.Config{Suite: s, Rand: rand.Reader, Now: time.Now}
		var c, sv handshake.Machine
		if duplex {
			c, err = handshake.NewQSMDClient(cfg, client, pubServer)
			if err == nil {
				sv, err = handshake.NewQSMDServer(cfg, server, func([handshake.KeyIDSize]byte) ([]byte, error) {
					return pubClient.VerifyKey, nil
				})
			}
		} else {
			c, err = handshake.NewQSMSClient(cfg, pubServer)
			if err == nil {
				sv, err = handshake.NewQSMSServer(cfg, server)
			}
		}
		if err != nil {
			return res, err
		}
		t0 := time.Now()
		c0 := threadCPU()
		pkt, err := c.Start()
		c1 := threadCPU()
		ccpu += c1 - c0
		packets, bytes := 0, 0
		for turn := 0; pkt != nil && err == nil; turn++ {
			packets++
			bytes += len(pkt)
			m := c
			if turn%2 == 0 {
				m = sv
			}
			c0 := threadCPU()
			pkt, err = m.Handle(pkt)
			c1 := threadCPU()
			if m == sv {
				scpu += c1 - c0
			} else {
				ccpu += c1 - c0
			}
		}
		walls = append(walls, time.Since(t0))
		if err != nil {
			return res, fmt.Errorf("bench: %s handshake: %w", res.Name(), err)
		}
		if !c.Done() || !sv.Done() {
			return res, fmt.Errorf("bench: %s handshake did not finish", res.Name())
		}
		if i == 0 {
			res.Packets, res.Bytes = packets, bytes
		}
		c.Session().Stream.Clear()
		sv.Session().Stream.Clear()
	}
	n := time.Duration(iterations)
	res.Iterations = iterations
	slices.Sort(walls)
	res.Latency, res.ServerCPU, res.ClientCPU = walls[len(walls)/2], scpu/n, ccpu/n
	return res, nil
}
