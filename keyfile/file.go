package keyfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Default file names of the C applications (digest 9.3).
const (
	ServerPublicFile    = "server_public_key.qpkey"   // QSMS server
	ServerPrivateFile   = "server_secret_key.qskey"   // QSMS server
	ListenerPublicFile  = "listener_public_key.qpkey" // QSMD listener
	ListenerPrivateFile = "listener_secret_key.qskey" // QSMD listener
	SenderPublicFile    = "sender_public_key.qpkey"   // QSMD sender
	SenderPrivateFile   = "sender_secret_key.qskey"   // QSMD sender
)

// File modes of written key files.
const (
	PublicFileMode  os.FileMode = 0o644
	PrivateFileMode os.FileMode = 0o600
)

// readLimited reads at most limit bytes of the file, failing with
// ErrMalformed if it is longer.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readAtMost(f, limit)
	if errors.Is(err, errTooLong) {
		return nil, fmt.Errorf("%w: %s is larger than any key file (%d bytes)", ErrMalformed, path, limit)
	}
	return b, err
}

// errTooLong reports input longer than readAtMost's limit.
var errTooLong = errors.New("keyfile: input too long")

// readAtMost reads all of r, at most limit bytes, into one buffer of
// limit+1 bytes. Unlike io.ReadAll, which reads into growing chunks and
// copies them into its result, it leaves no partial copy of what it read
// (a private key) in memory that the caller cannot zero; on failure it
// zeroes what it read.
func readAtMost(r io.Reader, limit int) ([]byte, error) {
	b := make([]byte, limit+1)
	n, err := io.ReadFull(r, b)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF: // the whole input, within the limit
		return b[:n], nil
	case err == nil:
		err = errTooLong
	}
	clear(b)
	return nil, err
}

// ReadPublicFile reads and parses a .qpkey file.
func ReadPublicFile(path string) (*PublicKey, error) {
	b, err := readLimited(path, maxText)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublic(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadPrivateFile reads and parses a .qskey file. The result has no Variant
// (see ParsePrivate). The bytes read are zeroed after parsing.
func ReadPrivateFile(path string) (*PrivateKey, error) {
	b, err := readLimited(path, maxPrivate)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	k, err := ParsePrivate(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// WritePublicFile writes k as a .qpkey file with mode PublicFileMode,
// replacing any file at path.
func WritePublicFile(path string, k *PublicKey) error {
	b, err := k.MarshalText()
	if err != nil {
		return err
	}
	return writeAtomic(path, b, PublicFileMode)
}

// WritePrivateFile writes k as a .qskey file with mode PrivateFileMode,
// replacing any file at path. The file is written under a temporary name
// created with mode 0600 and then renamed, so the secret is never readable
// by others, not even briefly, and a failed write leaves no partial file.
func WritePrivateFile(path string, k *PrivateKey) error {
	if err := k.checkSizes(); err != nil {
		return err
	}
	b := k.MarshalBinary()
	defer clear(b)
	return writeAtomic(path, b, PrivateFileMode)
}

// writeAtomic writes data to a temporary file in the target's folder, with
// mode perm, and renames it to path.
func writeAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ErrPermissions reports a secret key file that others than its owner may
// read, write or execute (CheckPrivateMode).
var ErrPermissions = errors.New("keyfile: secret key file permissions too open")

// PermissionError is the error of CheckPrivateMode: the file's permission
// bits give group or others some access. It matches ErrPermissions.
type PermissionError struct {
	Path string      // the file
	Perm fs.FileMode // its permission bits
}

// Error says what is wrong and how to fix it.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("permissions %04o are too open: only its owner may read a secret key file (chmod 600 %s)", e.Perm, e.Path)
}

// Unwrap returns ErrPermissions.
func (e *PermissionError) Unwrap() error { return ErrPermissions }

// CheckPrivateMode refuses a secret key file that anyone but its owner may
// read or write, as ssh does: on systems with Unix permissions, any of the
// bits 0o077 set gives a *PermissionError (which matches ErrPermissions).
// On Windows and Plan 9 it checks nothing. An error of os.Stat is returned
// as it is. WritePrivateFile writes files that pass (PrivateFileMode).
func CheckPrivateMode(path string) error {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return &PermissionError{Path: path, Perm: perm}
	}
	return nil
}
