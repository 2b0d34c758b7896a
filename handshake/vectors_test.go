package handshake

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/internal/vectors"
	"github.com/qsmp-go/qsmp/record"
)

type vecKey struct {
	KeyID      vectors.Hex `json:"keyid"`
	Expiration uint64      `json:"expiration"`
	Verkey     vectors.Hex `json:"verkey"`
	Sigkey     vectors.Hex `json:"sigkey"`
}

type vecPacket struct {
	Step      string      `json:"step"`
	Direction string      `json:"direction"`
	Wire      vectors.Hex `json:"wire"`
	WireFile  string      `json:"wire_file"`
	WireSHA3  vectors.Hex `json:"wire_sha3_256"`
}

type handshakeFile struct {
	Config        string            `json:"config"`
	RNGSeed       string            `json:"rng_seed_ascii"`
	FixedUTCTime  int64             `json:"fixed_utc_time"`
	ServerKey     *vecKey           `json:"server_key"`
	ListenerKey   *vecKey           `json:"listener_key"`
	SenderKey     *vecKey           `json:"sender_key"`
	Packets       []vecPacket       `json:"packets"`
	Plaintexts    map[string]string `json:"plaintexts"`
	Intermediates map[string]any    `json:"intermediates"`
	RNGCalls      []struct {
		Context string `json:"context"`
		Offset  int    `json:"offset"`
		Length  int    `json:"length"`
	} `json:"rng_calls"`
	SequenceAfter map[string]uint64 `json:"sequence_after"`
}

func (k *vecKey) identity() Identity {
	var id Identity
	copy(id.KeyID[:], k.KeyID)
	id.Expiration = k.Expiration
	id.VerifyKey = k.Verkey
	id.SigningKey = k.Sigkey
	return id
}

// wire returns the expected bytes of packet i, reading sidecars.
func (f *handshakeFile) wire(path string, i int) ([]byte, error) {
	p := f.Packets[i]
	if p.WireFile != "" {
		b, err := vectors.Sidecar(path, p.WireFile)
		if err != nil {
			return nil, err
		}
		if d := sha3.Sum256(b); len(p.WireSHA3) > 0 && !bytes.Equal(d[:], p.WireSHA3) {
			return nil, fmt.Errorf("sidecar %s does not match its hash", p.WireFile)
		}
		return b, nil
	}
	return p.Wire, nil
}

func (f *handshakeFile) intermediate(name string) []byte {
	s, _ := f.Intermediates[name].(string)
	return vectors.MustHex(s)
}

// TestVectors replays every qsms_handshake* and qsmd_handshake* file: the
// recorded random stream and clock must give every packet byte for byte,
// the transcript hashes and the data records at the end.
func TestVectors(t *testing.T) {
	files := 0
	for _, prefix := range []string{"qsms_handshake", "qsmd_handshake"} {
		paths, err := vectors.Files(prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			var f handshakeFile
			if err := vectors.Load(path, &f); err != nil {
				t.Fatal(err)
			}
			s, err := suite.Lookup(f.Config)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !s.Implemented() {
				t.Logf("%s: skipped, %s not implemented yet", path, f.Config)
				continue
			}
			duplex := prefix == "qsmd_handshake"
			if err := replay(t, path, &f, s, duplex); err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			files++
		}
	}
	if files == 0 {
		t.Fatal("no handshake vector replayed")
	}
	t.Logf("handshake vectors: %d files replayed byte for byte", files)
}

func replay(t *testing.T, path string, f *handshakeFile, s *suite.Suite, duplex bool) error {
	rng := sha3.NewSHAKE256()
	rng.Write([]byte(f.RNGSeed))
	// Skip the identity-key draws (they precede the handshake in the stream).
	skip := 0
	for _, c := range f.RNGCalls {
		if strings.Contains(c.Context, "key id") || strings.Contains(c.Context, "signature keypair") {
			skip = c.Offset + c.Length
		}
	}
	rng.Read(make([]byte, skip))
	clock := time.Unix(f.FixedUTCTime, 0)
	cfg := Config{Suite: s, Rand: rng, Now: func() time.Time { return clock }}

	var client, server Machine
	var err error
	if duplex {
		listener, sender := f.ListenerKey.identity(), f.SenderKey.identity()
		pub := listener
		pub.SigningKey = nil
		client, err = NewQSMDClient(cfg, sender, pub)
		if err != nil {
			return err
		}
		server, err = NewQSMDServer(cfg, listener, func(kid [KeyIDSize]byte) ([]byte, error) {
			return sender.VerifyKey, nil
		})
	} else {
		id := f.ServerKey.identity()
		pub := id
		pub.SigningKey = nil
		client, err = NewQSMSClient(cfg, pub)
		if err != nil {
			return err
		}
		server, err = NewQSMSServer(cfg, id)
	}
	if err != nil {
		return err
	}
	nHandshake := 4
	if duplex {
		nHandshake = 6
	}
	pkt, err := client.Start()
	if err != nil {
		return err
	}
	for i := 0; i < nHandshake; i++ {
		want, err := f.wire(path, i)
		if err != nil {
			return err
		}
		if !bytes.Equal(pkt, want) {
			return fmt.Errorf("packet %d (%s) differs (len %d vs %d)", i+1, f.Packets[i].Step, len(pkt), len(want))
		}
		receiver := server
		if i%2 == 1 {
			receiver = client
		}
		if pkt, err = receiver.Handle(pkt); err != nil {
			return fmt.Errorf("packet %d: %w", i+1, err)
		}
	}
	if pkt != nil || !client.Done() || !server.Done() {
		return errors.New("handshake did not finish")
	}
	cs, ss := client.Session(), server.Session()
	// Transcript hashes.
	if !duplex {
		if got, want := cs.Transcript, f.intermediate("sch3"); !bytes.Equal(got, want) {
			return fmt.Errorf("sch3 %x, want %x", got, want)
		}
		if !bytes.Equal(ss.Transcript, cs.Transcript) {
			return errors.New("client and server transcripts differ")
		}
	} else {
		if got, want := cs.Transcript, f.intermediate("client_sch_after_5"); !bytes.Equal(got, want) {
			return fmt.Errorf("sch5 %x, want %x", got, want)
		}
		if got, want := ss.Transcript, f.intermediate("server_sch_after_6"); !bytes.Equal(got, want) {
			return fmt.Errorf("server sch %x, want %x", got, want)
		}
	}
	// Data records: one each way, from the vector's plaintexts.
	for i := nHandshake; i < len(f.Packets); i++ {
		want, err := f.wire(path, i)
		if err != nil {
			return err
		}
		pt := []byte(f.Plaintexts[fmt.Sprint(i+1)])
		from, to := cs, ss
		if strings.HasPrefix(f.Packets[i].Direction, "server") {
			from, to = ss, cs
		}
		got, err := from.Stream.Seal(pt, uint64(f.FixedUTCTime))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("data packet %d differs:\n got %x\nwant %x", i+1, got, want)
		}
		_, back, err := to.Stream.Open(got, uint64(f.FixedUTCTime))
		if err != nil || !bytes.Equal(back, pt) {
			return fmt.Errorf("data packet %d does not open: %v", i+1, err)
		}
	}
	if want, ok := f.SequenceAfter["client_tx"]; ok && cs.Stream.TxSeq() != want {
		return fmt.Errorf("client tx sequence %d, want %d", cs.Stream.TxSeq(), want)
	}
	t.Logf("%s: %d packets reproduced", path, len(f.Packets))
	_ = record.HeaderSize
	return nil
}
