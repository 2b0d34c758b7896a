package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/qsmp-go/qsmp/crypto/suite"
	"github.com/qsmp-go/qsmp/keyfile"
)

// progressAfter is how long key generation runs before a progress line
// appears on standard error.
var progressAfter = time.Second

// keyRole is one key pair keygen writes, with the C applications' names.
type keyRole struct {
	role            string
	variant         keyfile.Variant
	public, private string
}

var (
	serverRole   = keyRole{"server", keyfile.QSMS, keyfile.ServerPublicFile, keyfile.ServerPrivateFile}
	listenerRole = keyRole{"listener", keyfile.QSMD, keyfile.ListenerPublicFile, keyfile.ListenerPrivateFile}
	senderRole   = keyRole{"sender", keyfile.QSMD, keyfile.SenderPublicFile, keyfile.SenderPrivateFile}
)

func runKeygen(e *env, args []string) int {
	f := newFlags("keygen", "[--config STRING] [--out DIR] [--duplex [--role listener|sender|both]] [--force]", `
Generate a QSMP identity key: a public key file (.qpkey, to give to peers)
and a secret key file (.qskey, mode 0600), in the formats of the C
implementation. The key expires after 365 days.

Simplex (QSMS) keys are written as server_public_key.qpkey and
server_secret_key.qskey. With --duplex (QSMD) both peers need a key: the
listener's (listener_*_key) and the sender's (sender_*_key); --role picks one.
The other commands read the configuration from the key file.`)
	config := f.String("config", suite.Default, "configuration `string` (one of the 14 QSMP configurations)")
	out := f.String("out", ".", "`directory` to write the key files to")
	duplex := f.Bool("duplex", false, "write QSMD (duplex) keys: listener and sender")
	role := f.String("role", "both", "with --duplex, which `role` to write: listener, sender or both")
	force := f.Bool("force", false, "overwrite existing key files")
	pos, status, done := f.parse(e, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return f.usageError(e, "unexpected argument %q", pos[0])
	}
	s, err := lookupConfig(*config)
	if err != nil {
		return f.usageError(e, "%v", err)
	}
	var roles []keyRole
	switch {
	case !*duplex && f.isSet("role"):
		return f.usageError(e, "--role needs --duplex (a simplex key is always the server's)")
	case !*duplex:
		roles = []keyRole{serverRole}
	case *role == "both":
		roles = []keyRole{listenerRole, senderRole}
	case *role == "listener":
		roles = []keyRole{listenerRole}
	case *role == "sender":
		roles = []keyRole{senderRole}
	default:
		return f.usageError(e, "--role %q: use listener, sender or both", *role)
	}
	if st, err := os.Stat(*out); errors.Is(err, fs.ErrNotExist) {
		return f.fail(e, fmt.Errorf("--out %s: no such directory", *out))
	} else if err != nil || !st.IsDir() {
		return f.fail(e, fmt.Errorf("--out %s is not a directory", *out))
	}
	if !*force {
		for _, r := range roles {
			for _, name := range []string{r.public, r.private} {
				p := filepath.Join(*out, name)
				if _, err := os.Lstat(p); err == nil {
					return f.fail(e, fmt.Errorf("%s already exists (use --force to overwrite it)", p))
				} else if !errors.Is(err, fs.ErrNotExist) {
					return f.fail(e, err)
				}
			}
		}
	}
	for i, r := range roles {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if err := writeKey(e, s, r, *out); err != nil {
			return f.fail(e, err)
		}
	}
	return exitOK
}

// writeKey generates one key pair and writes its two files.
func writeKey(e *env, s *suite.Suite, r keyRole, dir string) error {
	what := fmt.Sprintf("generating the %s key (%s)", r.role, s.SignatureName)
	var k *keyfile.PrivateKey
	err := withProgress(e.stderr, what, func() error {
		var err error
		k, err = keyfile.Generate(s, r.variant, nil, time.Now())
		return err
	})
	if err != nil {
		return withContext("key generation", err)
	}
	defer k.Clear()
	pub := filepath.Join(dir, r.public)
	priv := filepath.Join(dir, r.private)
	if err := keyfile.WritePrivateFile(priv, k); err != nil {
		return withContext("writing the secret key", err)
	}
	if err := keyfile.WritePublicFile(pub, k.Public()); err != nil {
		return withContext("writing the public key", err)
	}
	fmt.Fprintf(e.stdout, "%s key (%s)\n", r.role, r.variant)
	fmt.Fprintf(e.stdout, "  configuration  %s (%s, %s)\n", s.Name, s.SignatureName, s.KEMName)
	fmt.Fprintf(e.stdout, "  key id         %x\n", k.KeyID)
	fmt.Fprintf(e.stdout, "  expires        %s\n", k.ExpirationTime().Format(dateFormat))
	fmt.Fprintf(e.stdout, "  public key     %s (give it to peers)\n", pub)
	fmt.Fprintf(e.stdout, "  secret key     %s (mode 0600, keep it private)\n", priv)
	return nil
}

// withProgress runs fn, and if it takes longer than progressAfter shows
// that it is working on w: a spinner with the elapsed time on a terminal,
// otherwise one line when it starts being slow and one when it ends.
func withProgress(w io.Writer, what string, fn func() error) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	tty := isTerminal(w)
	go func() {
		defer wg.Done()
		t := time.NewTimer(progressAfter)
		defer t.Stop()
		select {
		case <-done:
			return
		case <-t.C:
		}
		if !tty {
			fmt.Fprintf(w, "qsmp: %s...\n", what)
			<-done
			fmt.Fprintf(w, "qsmp: done in %.1fs\n", time.Since(start).Seconds())
			return
		}
		spin := `|/-\`
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%c %s... %.1fs", spin[i%len(spin)], what, time.Since(start).Seconds())
			select {
			case <-done:
				fmt.Fprintf(w, "\r%s: done in %.1fs\n", what, time.Since(start).Seconds())
				return
			case <-tick.C:
			}
		}
	}()
	err := fn()
	close(done)
	wg.Wait()
	return err
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
