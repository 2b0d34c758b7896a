package rcs

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/qsmp-go/qsmp/internal/vectors"
)

type rcsFile struct {
	TagSizes map[string]int `json:"tag_sizes"`
	Cases    []struct {
		Name             string      `json:"name"`
		Cipher           string      `json:"cipher"`
		Key              vectors.Hex `json:"key"`
		Nonce            vectors.Hex `json:"nonce"`
		Info             vectors.Hex `json:"info"`
		AD               vectors.Hex `json:"ad"`
		PlaintextLen     *int        `json:"plaintext_len"`
		Plaintext        vectors.Hex `json:"plaintext"`
		CiphertextAndTag vectors.Hex `json:"ciphertext_and_tag"`
		NonceAfter       vectors.Hex `json:"nonce_after"`
		RoundtripOK      *bool       `json:"decrypt_roundtrip_ok"`
		TamperedRejected *bool       `json:"tampered_tag_rejected"`
	} `json:"cases"`
	Sequences []struct {
		Name     string      `json:"name"`
		Cipher   string      `json:"cipher"`
		Key      vectors.Hex `json:"key"`
		Nonce    vectors.Hex `json:"nonce"`
		Info     vectors.Hex `json:"info"`
		Messages []struct {
			AD               vectors.Hex `json:"ad"`
			PlaintextLen     *int        `json:"plaintext_len"`
			Plaintext        vectors.Hex `json:"plaintext"`
			CiphertextAndTag vectors.Hex `json:"ciphertext_and_tag"`
			NonceAfter       vectors.Hex `json:"nonce_after"`
		} `json:"messages"`
		DecryptSequenceOK *bool `json:"decrypt_sequence_ok"`
	} `json:"sequences"`
}

// cipherKeySize maps a vector's cipher name to the key size it implies.
var cipherKeySize = map[string]int{"RCS-256": KeySize256, "RCS-512": KeySize512}

func checkCipherName(name string, key []byte) error {
	want, ok := cipherKeySize[name]
	if !ok {
		return errors.New("unknown cipher " + name)
	}
	if len(key) != want {
		return errors.New("key length does not match cipher " + name)
	}
	return nil
}

// TestVectors checks every case and sequence of every rcs*.json vector file:
// the sealed output, the nonce afterwards, decryption of the output, and
// rejection of a tampered tag (with the C state side effects).
func TestVectors(t *testing.T) {
	eachImpl(t, func(name string) {
		files, cases, seqs, msgs := runVectors(t, name == "portable")
		t.Logf("%s block function: checked %d files: %d cases, %d sequences (%d messages)", name, files, cases, seqs, msgs)
	})
}

// runVectors checks every rcs*.json file with the current block function
// and returns how many files, cases, sequences and sequence messages it
// checked.
func runVectors(t *testing.T, logFiles bool) (int, int, int, int) {
	files, err := vectors.Files("rcs")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no rcs*.json vector files found")
	}
	var nCases, nSeq, nMsg int
	for _, path := range files {
		var f rcsFile
		if err := vectors.Load(path, &f); err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(path)
		if len(f.Cases) == 0 && len(f.Sequences) == 0 {
			t.Fatalf("%s: no cases and no sequences", base)
		}
		for name, size := range f.TagSizes {
			if size != cipherKeySize[name] {
				t.Errorf("%s: tag size of %s is %d, want %d", base, name, size, cipherKeySize[name])
			}
		}
		for _, tc := range f.Cases {
			if err := checkCipherName(tc.Cipher, tc.Key); err != nil {
				t.Fatalf("%s %s: %v", base, tc.Name, err)
			}
			if tc.PlaintextLen != nil && *tc.PlaintextLen != len(tc.Plaintext) {
				t.Fatalf("%s %s: plaintext_len %d but %d plaintext bytes", base, tc.Name, *tc.PlaintextLen, len(tc.Plaintext))
			}
			c, err := NewWithInfo(tc.Key, tc.Nonce, tc.Info)
			if err != nil {
				t.Fatalf("%s %s: %v", base, tc.Name, err)
			}
			d := c.Clone()
			got := c.Seal(nil, tc.AD, tc.Plaintext)
			if !bytes.Equal(got, tc.CiphertextAndTag) {
				t.Errorf("%s %s: ciphertext_and_tag\n got %x\nwant %x", base, tc.Name, got, tc.CiphertextAndTag)
				continue
			}
			if n := c.Nonce(); !bytes.Equal(n[:], tc.NonceAfter) {
				t.Errorf("%s %s: nonce_after %x, want %x", base, tc.Name, n, tc.NonceAfter)
			}
			// SealOnce on the shared key gives the same bytes.
			k, err := NewKey(tc.Key, tc.Info)
			if err != nil {
				t.Fatal(err)
			}
			nonce := [32]byte(tc.Nonce)
			if once := k.SealOnce(nil, &nonce, tc.AD, tc.Plaintext); !bytes.Equal(once, got) {
				t.Errorf("%s %s: SealOnce differs from Seal", base, tc.Name)
			}
			if tc.RoundtripOK != nil {
				e := d.Clone()
				pt, err := e.Open(nil, tc.AD, tc.CiphertextAndTag)
				ok := err == nil && bytes.Equal(pt, tc.Plaintext)
				if ok != *tc.RoundtripOK {
					t.Errorf("%s %s: decrypt roundtrip ok = %v (err %v), vector says %v", base, tc.Name, ok, err, *tc.RoundtripOK)
				}
				if n := e.Nonce(); ok && !bytes.Equal(n[:], tc.NonceAfter) {
					t.Errorf("%s %s: nonce after Open %x, want %x", base, tc.Name, n, tc.NonceAfter)
				}
				pt, err = k.OpenOnce(nil, &nonce, tc.AD, tc.CiphertextAndTag)
				if ok2 := err == nil && bytes.Equal(pt, tc.Plaintext); ok2 != *tc.RoundtripOK {
					t.Errorf("%s %s: OpenOnce ok = %v (err %v)", base, tc.Name, ok2, err)
				}
			}
			if tc.TamperedRejected != nil {
				bad := bytes.Clone(tc.CiphertextAndTag)
				bad[len(bad)-1] ^= 0x01
				e := d.Clone()
				_, err := e.Open(nil, tc.AD, bad)
				if rejected := errors.Is(err, ErrAuth); rejected != *tc.TamperedRejected {
					t.Errorf("%s %s: tampered tag rejected = %v (err %v), vector says %v", base, tc.Name, rejected, err, *tc.TamperedRejected)
				}
				if e.Nonce() != [32]byte(tc.Nonce) {
					t.Errorf("%s %s: nonce moved on a failed Open", base, tc.Name)
				}
				if e.ctrBytes != 1+uint64(len(tc.Plaintext)) {
					t.Errorf("%s %s: ctr_bytes %d after a failed Open, want %d", base, tc.Name, e.ctrBytes, 1+len(tc.Plaintext))
				}
			}
			nCases++
		}
		for _, sq := range f.Sequences {
			if err := checkCipherName(sq.Cipher, sq.Key); err != nil {
				t.Fatalf("%s %s: %v", base, sq.Name, err)
			}
			enc, err := NewWithInfo(sq.Key, sq.Nonce, sq.Info)
			if err != nil {
				t.Fatalf("%s %s: %v", base, sq.Name, err)
			}
			dec := enc.Clone()
			decOK := true
			for i, m := range sq.Messages {
				if m.PlaintextLen != nil && *m.PlaintextLen != len(m.Plaintext) {
					t.Fatalf("%s %s[%d]: plaintext_len mismatch", base, sq.Name, i)
				}
				got := enc.Seal(nil, m.AD, m.Plaintext)
				if !bytes.Equal(got, m.CiphertextAndTag) {
					t.Errorf("%s %s[%d]: ciphertext_and_tag\n got %x\nwant %x", base, sq.Name, i, got, m.CiphertextAndTag)
				}
				if n := enc.Nonce(); !bytes.Equal(n[:], m.NonceAfter) {
					t.Errorf("%s %s[%d]: nonce_after %x, want %x", base, sq.Name, i, n, m.NonceAfter)
				}
				pt, err := dec.Open(nil, m.AD, m.CiphertextAndTag)
				if err != nil || !bytes.Equal(pt, m.Plaintext) {
					decOK = false
				}
				nMsg++
			}
			if sq.DecryptSequenceOK != nil && decOK != *sq.DecryptSequenceOK {
				t.Errorf("%s %s: decrypt sequence ok = %v, vector says %v", base, sq.Name, decOK, *sq.DecryptSequenceOK)
			}
			nSeq++
		}
		if logFiles {
			t.Logf("%s: %d cases, %d sequences", base, len(f.Cases), len(f.Sequences))
		}
	}
	return len(files), nCases, nSeq, nMsg
}
