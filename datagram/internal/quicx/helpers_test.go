package quicx

import (
	"context"
	"crypto/sha3"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
	"github.com/qsmp-go/qsmp/netsim"
	"github.com/qsmp-go/qsmp/record"
	"github.com/qsmp-go/qsmp/window"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func drbg(seed string) io.Reader {
	h := sha3.NewSHAKE256()
	h.Write([]byte(seed))
	return h
}

var (
	keysOnce             sync.Once
	serverKey, clientKey *keyfile.PrivateKey
	otherKey             *keyfile.PrivateKey
	keysErr              error
)

// testKeys returns a listener key, an initiator key and an unrelated key
// of the default configuration, generated once.
func testKeys(t testing.TB) (server, client, other *keyfile.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		s, err := suite.Lookup(suite.Default)
		if err != nil {
			keysErr = err
			return
		}
		// Tests run on the real clock and in synctest bubbles (which start
		// in 2000): the keys live from now for a century either way.
		now, life := time.Now(), 100*365*24*time.Hour
		if serverKey, keysErr = keyfile.GenerateWithLifetime(s, keyfile.QSMS, drbg("quicx server"), now, life); keysErr != nil {
			return
		}
		if clientKey, keysErr = keyfile.GenerateWithLifetime(s, keyfile.QSMD, drbg("quicx client"), now, life); keysErr != nil {
			return
		}
		otherKey, keysErr = keyfile.GenerateWithLifetime(s, keyfile.QSMD, drbg("quicx other"), now, life)
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return serverKey, clientKey, otherKey
}

// configs returns the listener's and the client's configurations.
func configs(t testing.TB, duplex bool) (srv, cli *Config) {
	server, client, _ := testKeys(t)
	srv = &Config{Identity: server, Duplex: duplex}
	cli = &Config{PeerKey: &server.PublicKey, Duplex: duplex}
	if duplex {
		cli.Identity = client
		pub := client.PublicKey
		srv.PeerKeys = func(id [16]byte) (*keyfile.PublicKey, error) {
			if id != pub.KeyID {
				return nil, errors.New("unknown initiator")
			}
			return &pub, nil
		}
	}
	return srv, cli
}

func variant(duplex bool) string { return map[bool]string{false: "QSMS", true: "QSMD"}[duplex] }

// simPair runs a listener and a client over a netsim network and returns
// both ends; everything is closed at cleanup (inside the synctest bubble,
// call the returned stop before the bubble ends).
type simPair struct {
	n        *netsim.Network
	spc, cpc net.PacketConn
	l        *Listener
	cli, srv *Conn
}

func newSimPair(t *testing.T, nc netsim.Config, srvCfg, cliCfg *Config) *simPair {
	t.Helper()
	n, err := netsim.NewNetwork(nc)
	if err != nil {
		t.Fatal(err)
	}
	p := &simPair{n: n}
	if p.spc, err = n.Listen("127.0.0.1:4433"); err != nil {
		t.Fatal(err)
	}
	if p.cpc, err = n.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if p.l, err = ListenPacketConn(p.spc, srvCfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var aerr error
	wg.Go(func() { p.srv, aerr = p.l.AcceptContext(ctx) })
	p.cli, err = DialPacketConn(ctx, p.cpc, p.spc.LocalAddr(), cliCfg)
	wg.Wait()
	if err != nil || aerr != nil {
		p.close()
		t.Fatalf("dial: %v; accept: %v", err, aerr)
	}
	return p
}

func (p *simPair) close() {
	if p.cli != nil {
		p.cli.Close()
	}
	if p.srv != nil {
		p.srv.Close()
	}
	if p.l != nil {
		p.l.Close()
	}
	p.spc.Close()
	p.cpc.Close()
	p.n.Close()
}

// message builds record i: LE64(i) ‖ LE32(size) ‖ pattern.
func message(i uint64, size int) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, i)
	binary.LittleEndian.PutUint32(b[8:], uint32(size))
	for j := 12; j < size; j++ {
		b[j] = byte(uint64(j)*31 + i*7)
	}
	return b
}

// checkMessage returns the index of a record built by message, or an error
// if any byte differs.
func checkMessage(b []byte) (uint64, error) {
	if len(b) < 12 {
		return 0, errors.New("short record")
	}
	i := binary.LittleEndian.Uint64(b)
	if int(binary.LittleEndian.Uint32(b[8:])) != len(b) {
		return i, errors.New("size field mismatch")
	}
	for j := 12; j < len(b); j++ {
		if b[j] != byte(uint64(j)*31+i*7) {
			return i, errors.New("corrupted byte")
		}
	}
	return i, nil
}

func sizeOf(i uint64) int { return 16 + int(i*97%1000) }

// offlineConn builds a Conn with epoch-0 keys and no QUIC connection, for
// tests of the record path alone.
func offlineConn(wide, server bool, ds, exporter []byte, tagSize int) (*Conn, error) {
	cfg := &config{tagSize: tagSize}
	cfg.WindowSize = DefaultWindowSize
	cfg.Now = time.Now
	rxWin, err := window.NewSync(cfg.WindowSize)
	if err != nil {
		return nil, err
	}
	streamWin, _ := window.NewSync(window.DefaultSize)
	c := &Conn{cfg: cfg, server: server, wide: wide, overhead: 1 + record.HeaderSize + tagSize,
		exporter: append([]byte(nil), exporter...), rxWin: rxWin, streamWin: streamWin}
	tx, rx, err := c.deriveEpoch(ds, 0)
	if err != nil {
		return nil, err
	}
	c.tx, c.rx[0] = tx, rx
	return c, nil
}
