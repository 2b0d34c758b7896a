package record

import (
	"bytes"
	"testing"

	"github.com/qsmp-go/qsmp/crypto/rcs"
	"github.com/qsmp-go/qsmp/internal/vectors"
)

type kdfPacket struct {
	Plaintext string      `json:"plaintext_ascii"`
	Header    vectors.Hex `json:"header"`
	Wire      vectors.Hex `json:"wire"`
}

type kdfFile struct {
	Config        string      `json:"config"`
	SharedSecret  vectors.Hex `json:"shared_secret"`
	Seca          vectors.Hex `json:"seca"`
	Secb          vectors.Hex `json:"secb"`
	Transcript    vectors.Hex `json:"transcript_hash_sch"`
	PRND136       vectors.Hex `json:"prnd_136"`
	PRND216       vectors.Hex `json:"prnd_216"`
	ClientTxKey   vectors.Hex `json:"client_tx_key"`
	ClientTxNonce vectors.Hex `json:"client_tx_nonce"`
	ClientRxKey   vectors.Hex `json:"client_rx_key"`
	ClientRxNonce vectors.Hex `json:"client_rx_nonce"`
	RTCS          vectors.Hex `json:"ratchet_seed_rtcs"`
	C2S           *kdfPacket  `json:"first_packet_client_to_server"`
	S2C           *kdfPacket  `json:"first_packet_server_to_client"`
}

// TestVectors checks every qsms_kdf* and qsmd_kdf* file: the key block, the
// split into keys and nonces, rtcs, and the first stream-profile record of
// each direction (DESIGN.md section 8).
func TestVectors(t *testing.T) {
	files, cases := 0, 0
	for _, prefix := range []string{"qsms_kdf", "qsmd_kdf"} {
		paths, err := vectors.Files(prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			var f kdfFile
			if err := vectors.Load(path, &f); err != nil {
				t.Fatal(err)
			}
			wide := prefix == "qsmd_kdf"
			var k SessionKeys
			var block []byte
			if wide {
				k = DeriveQSMD(f.Seca, f.Secb, f.Transcript)
				block = f.PRND216
			} else {
				k = DeriveQSMS(f.SharedSecret, f.Transcript)
				block = f.PRND136
			}
			joined := append(append(append(append([]byte{}, k.C2SKey...), k.C2SNonce...), k.S2CKey...), k.S2CNonce...)
			if !bytes.Equal(joined, block[:len(joined)]) {
				t.Errorf("%s: key block differs", path)
			}
			for _, c := range []struct {
				name      string
				got, want []byte
			}{
				{"client tx key", k.C2SKey, f.ClientTxKey}, {"client tx nonce", k.C2SNonce, f.ClientTxNonce},
				{"client rx key", k.S2CKey, f.ClientRxKey}, {"client rx nonce", k.S2CNonce, f.ClientRxNonce},
				{"rtcs", k.RTCS, f.RTCS},
			} {
				if !bytes.Equal(c.got, c.want) {
					t.Errorf("%s: %s %x, want %x", path, c.name, c.got, c.want)
				}
				cases++
			}
			seq := uint64(2)
			if wide {
				seq = 3
			}
			for _, dir := range []struct {
				p      *kdfPacket
				key    []byte
				nonce  []byte
				server bool
			}{{f.C2S, k.C2SKey, k.C2SNonce, false}, {f.S2C, k.S2CKey, k.S2CNonce, true}} {
				if dir.p == nil {
					continue
				}
				h, err := ParseHeader(dir.p.Header)
				if err != nil {
					t.Fatal(err)
				}
				tx, _ := rcs.New(dir.key, dir.nonce)
				rx, _ := rcs.New(dir.key, dir.nonce)
				sender := NewStream(tx, nil, StreamConfig{TxSeq: seq, Server: dir.server, Threshold: DefaultTimeThreshold})
				got, err := sender.Seal([]byte(dir.p.Plaintext), h.UTCTime)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, dir.p.Wire) {
					t.Errorf("%s: first packet differs:\n got %x\nwant %x", path, got, dir.p.Wire)
				}
				receiver := NewStream(nil, rx, StreamConfig{RxSeq: seq, Threshold: DefaultTimeThreshold})
				_, pt, err := receiver.Open(dir.p.Wire, h.UTCTime)
				if err != nil || string(pt) != dir.p.Plaintext {
					t.Errorf("%s: first packet does not open: %q, %v", path, pt, err)
				}
				cases++
			}
			files++
		}
	}
	if files == 0 {
		t.Fatal("no kdf vector files")
	}
	t.Logf("kdf vectors: %d files, %d cases reproduced", files, cases)
}
