package quicx

import (
	"crypto/tls"
	"fmt"

	"github.com/qsmp-go/qsmp/crypto/keccak"
	"github.com/qsmp-go/qsmp/record"
)

// The binding of QSMP's datagram keys to one QUIC connection
// (docs/DATAGRAM.md, "QUIC binding").
const (
	// ExporterLabel is the TLS exporter label (RFC 8446 section 7.5) whose
	// value is bound into every epoch's datagram secret.
	ExporterLabel = "EXPORTER-qsmp-go datagram v1"
	// ExporterSize is the length of the exporter value read.
	ExporterSize = 32
	// BindingName is the cSHAKE function name of the binding; it carries
	// the version of the construction.
	BindingName = "qsmp-go quic v1"
)

// BindSecret returns the datagram secret of one epoch bound to a QUIC
// connection:
//
//	DS' = cSHAKE(rate, X = DS ‖ exporter, N = "qsmp-go quic v1", S = "")
//
// read to 64 bytes, at rate 136 for QSMS (wide false) and 72 for QSMD, the
// rates of the handshakes. DS is the epoch's datagram secret
// (Session.DatagramSecret, then record.Stream.DatagramSecret after each
// ratchet) and exporter the connection's ExportKeyingMaterial(ExporterLabel,
// nil, ExporterSize). The per-direction, per-epoch keys are then
// record.DatagramKeys(wide, DS', dir, epoch) as on UDP.
func BindSecret(wide bool, secret, exporter []byte) ([]byte, error) {
	if len(secret) != record.DatagramSecretSize {
		return nil, fmt.Errorf("quicx: datagram secret of %d bytes, want %d", len(secret), record.DatagramSecretSize)
	}
	if len(exporter) != ExporterSize {
		return nil, fmt.Errorf("quicx: exporter value of %d bytes, want %d", len(exporter), ExporterSize)
	}
	rate := keccak.Rate256
	if wide {
		rate = keccak.Rate512
	}
	sp, err := keccak.NewCSHAKE(rate, []byte(BindingName), nil)
	if err != nil {
		return nil, err
	}
	sp.Write(secret)
	sp.Write(exporter)
	out := make([]byte, record.DatagramSecretSize)
	sp.Read(out)
	sp.Clear()
	return out, nil
}

// exportValue reads the connection's exporter value.
func exportValue(cs *tls.ConnectionState) ([]byte, error) {
	v, err := cs.ExportKeyingMaterial(ExporterLabel, nil, ExporterSize)
	if err != nil {
		return nil, fmt.Errorf("quicx: TLS exporter: %w", err)
	}
	return v, nil
}
