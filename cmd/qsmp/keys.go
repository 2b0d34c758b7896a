package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/handshake"
	"github.com/qsmp-go/qsmp/keyfile"
)

// dateFormat prints expirations.
const dateFormat = "2006-01-02 15:04:05 UTC"

// loadPrivate reads the secret key file given with flag, and checks that
// only its owner may read it, that it has not expired at now, and that its
// signing key belongs to its verification key (one signature: slow keys
// show progress on w).
func loadPrivate(w io.Writer, flag, path string, now time.Time) (*keyfile.PrivateKey, error) {
	if path == "" {
		return nil, fmt.Errorf("--%s is required (a secret key file, .qskey, from 'qsmp keygen')", flag)
	}
	k, err := keyfile.ReadPrivateFile(path)
	if err != nil {
		if errors.Is(err, keyfile.ErrMalformed) {
			if _, perr := keyfile.ReadPublicFile(path); perr == nil {
				return nil, fmt.Errorf("--%s %s is a public key file; it needs the secret key file (.qskey)", flag, path)
			}
		}
		return nil, fmt.Errorf("--%s: %s", flag, keyFileError(path, "secret key (.qskey)", err))
	}
	if err := keyfile.CheckPrivateMode(path); err != nil {
		k.Clear()
		return nil, fmt.Errorf("--%s %s: %v", flag, path, err)
	}
	if k.Expired(now) {
		k.Clear()
		return nil, fmt.Errorf("--%s %s: the key expired on %s; generate a new one with 'qsmp keygen'", flag, path, k.ExpirationTime().Format(dateFormat))
	}
	err = withProgress(w, "checking the secret key "+path, k.CheckPair)
	if err != nil {
		k.Clear()
		if errors.Is(err, suite.ErrNotImplemented) {
			return nil, fmt.Errorf("--%s %s: configuration %s is not implemented yet", flag, path, k.Suite.Name)
		}
		return nil, fmt.Errorf("--%s %s is damaged: its signing key does not belong to its verification key; generate a new key with 'qsmp keygen'", flag, path)
	}
	return k, nil
}

// loadPublic reads the public key file given with flag, and checks that it
// has not expired at now.
func loadPublic(flag, path string, now time.Time) (*keyfile.PublicKey, error) {
	if path == "" {
		return nil, fmt.Errorf("--%s is required (a public key file, .qpkey, from 'qsmp keygen')", flag)
	}
	k, err := keyfile.ReadPublicFile(path)
	if err != nil {
		if errors.Is(err, keyfile.ErrMalformed) {
			if sk, perr := keyfile.ReadPrivateFile(path); perr == nil {
				sk.Clear()
				return nil, fmt.Errorf("--%s %s is a secret key file; it needs the public key file (.qpkey)", flag, path)
			}
		}
		return nil, fmt.Errorf("--%s: %s", flag, keyFileError(path, "public key (.qpkey)", err))
	}
	if k.Expired(now) {
		return nil, fmt.Errorf("--%s %s: the key expired on %s", flag, path, k.ExpirationTime().Format(dateFormat))
	}
	return k, nil
}

// keyFileError explains why a key file could not be read.
func keyFileError(path, kind string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s: no such file", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("%s: permission denied", path)
	case errors.Is(err, keyfile.ErrUnknownConfig):
		return fmt.Sprintf("%s names a configuration this program does not know", path)
	case errors.Is(err, keyfile.ErrMalformed):
		return fmt.Sprintf("%s is not a valid QSMP %s file", path, kind)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s: %v", path, pe.Err)
	}
	return err.Error()
}

// keyConfig checks that the keys agree on one configuration, and with the
// --config flag if it was given, and returns it.
func keyConfig(config string, keys ...namedKey) (*suite.Suite, error) {
	var s *suite.Suite
	var from namedKey
	for _, k := range keys {
		if k.key == nil {
			continue
		}
		if s != nil && k.key.Suite != s {
			return nil, fmt.Errorf("the keys are for different configurations: %s is %s, %s is %s", from.name, s.Name, k.name, k.key.Suite.Name)
		}
		if s == nil {
			s, from = k.key.Suite, k
		}
	}
	if s == nil {
		return nil, errors.New("no key given")
	}
	if config != "" && config != s.Name {
		if _, err := suite.Lookup(config); err != nil {
			return nil, fmt.Errorf("--config %q is not a known configuration (%s)", config, configNames())
		}
		return nil, fmt.Errorf("--config %s does not match %s, which is for %s (the configuration comes from the key file; leave out --config)", config, from.name, s.Name)
	}
	return s, nil
}

// namedKey is a key and how to name it in messages.
type namedKey struct {
	name string
	key  *keyfile.PublicKey
}

func configNames() string {
	var names []string
	for _, s := range suite.All() {
		names = append(names, s.Name)
	}
	return "one of " + strings.Join(names, ", ")
}

// lookupConfig returns the suite named by a --config flag.
func lookupConfig(name string) (*suite.Suite, error) {
	s, err := suite.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("--config %q is not a known configuration (%s)", name, configNames())
	}
	if !s.Implemented() {
		return nil, fmt.Errorf("configuration %s is not implemented yet", name)
	}
	return s, nil
}

// describe turns an error into one readable line, without Go package
// prefixes where a plainer word exists.
func describe(err error) string {
	var he *handshake.Error
	var ce *contextError
	switch {
	case err == nil:
		return "no error"
	case errors.As(err, &ce) && error(ce) == err:
		return ce.what + ": " + describe(ce.err)
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the server running, on this address and network?)"
	case isTimeout(err):
		return "timed out"
	case errors.As(err, &he):
		return "handshake failed: " + handshakeReason(he)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Sprintf("cannot resolve %s: %s", dns.Name, dns.Err)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return describe(op.Err)
	}
	return err.Error()
}

// contextError adds what the command was doing to an error.
type contextError struct {
	what string
	err  error
}

func (e *contextError) Error() string { return describe(e) }
func (e *contextError) Unwrap() error { return e.err }

// withContext wraps err with a description of what failed.
func withContext(what string, err error) error {
	if err == nil {
		return nil
	}
	return &contextError{what: what, err: err}
}

// handshakeReason explains a failed handshake stage.
func handshakeReason(he *handshake.Error) string {
	switch {
	case errors.Is(he, handshake.ErrPeer):
		return fmt.Sprintf("the peer refused the handshake (%s); check that it holds the matching key and configuration", he.Code.String())
	case errors.Is(he, handshake.ErrKeyUnknown):
		return "the key id does not match (the server holds another key than the public key given)"
	case errors.Is(he, handshake.ErrConfig):
		return "the peer runs another configuration"
	case errors.Is(he, handshake.ErrKeyExpired):
		return "a key has expired"
	case errors.Is(he, suite.ErrVerify):
		return "the peer's signature does not verify with the public key given (wrong key file?)"
	}
	return fmt.Sprintf("%s at stage %s: %v", he.Code.String(), he.Stage, he.Err)
}
