package delivery

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Kind names the sort of place files go to.
type Kind string

// The target kinds.
const (
	KindSFTP  Kind = "sftp"
	KindLocal Kind = "local"
)

// DefaultPort is the SSH port used when Target.Port is zero.
const DefaultPort = 22

// DefaultTimeout bounds connecting and any stall in an SFTP transfer when
// Target.Timeout is zero.
const DefaultTimeout = time.Minute

// Target says where files go to and come from.
type Target struct {
	// Kind is KindSFTP or KindLocal.
	Kind Kind `json:"kind" yaml:"kind"`

	// Host and Port locate the SFTP server; Port defaults to 22.
	Host string `json:"host,omitempty" yaml:"host,omitempty"`
	Port int    `json:"port,omitempty" yaml:"port,omitempty"`
	// User is the SSH login name.
	User string `json:"user,omitempty" yaml:"user,omitempty"`
	// PrivateKey is the client key: either the PEM text itself or the path
	// of a file holding it. Passphrase-protected keys are not supported.
	PrivateKey string `json:"private_key,omitempty" yaml:"private_key,omitempty"`
	// KnownHosts holds one or more lines in OpenSSH known_hosts form that
	// pin the server's host key. The host key is always verified; a server
	// whose key is not listed is refused.
	KnownHosts string `json:"known_hosts,omitempty" yaml:"known_hosts,omitempty"`
	// RemoteDir is the directory on the server that files are delivered to
	// and picked up from.
	RemoteDir string `json:"remote_dir,omitempty" yaml:"remote_dir,omitempty"`

	// LocalDir is the directory a KindLocal target writes to and reads
	// from. It must be absolute.
	LocalDir string `json:"local_dir,omitempty" yaml:"local_dir,omitempty"`

	// Timeout bounds connecting and any period in which a transfer makes no
	// progress; zero means DefaultTimeout.
	Timeout time.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// Addr returns host:port of an SFTP target.
func (t Target) Addr() string {
	port := t.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(port))
}

// String describes the target for logs and messages; it never includes key
// material.
func (t Target) String() string {
	switch t.Kind {
	case KindSFTP:
		return "sftp://" + t.User + "@" + t.Addr() + path.Join("/", t.RemoteDir)
	case KindLocal:
		return "file://" + t.LocalDir
	default:
		return "target(" + string(t.Kind) + ")"
	}
}

func (t Target) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return DefaultTimeout
}

// Validate reports every problem with the target at once. For an SFTP
// target it parses the private key (reading it from disk when PrivateKey is
// a path) and checks that KnownHosts pins a key for Host and Port.
func (t Target) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if t.Timeout < 0 {
		bad("timeout %s is negative", t.Timeout)
	}
	switch t.Kind {
	case KindSFTP:
		if t.Host == "" {
			bad("host is required")
		} else if strings.ContainsAny(t.Host, " \t\r\n/@") {
			bad("host %q is not a host name or address", t.Host)
		}
		if t.Port < 0 || t.Port > 65535 {
			bad("port %d is out of range", t.Port)
		}
		if t.User == "" {
			bad("user is required")
		}
		if t.RemoteDir == "" {
			bad("remote_dir is required")
		} else if strings.ContainsRune(t.RemoteDir, 0) {
			bad("remote_dir contains a NUL byte")
		}
		if t.LocalDir != "" {
			bad("local_dir is set on an sftp target")
		}
		if t.PrivateKey == "" {
			bad("private_key is required")
		} else if _, err := loadSigner(t.PrivateKey); err != nil {
			errs = append(errs, err)
		}
		if t.KnownHosts == "" {
			bad("known_hosts is required: host keys are always verified")
		} else if t.Host != "" && t.Port >= 0 && t.Port <= 65535 {
			if _, err := newHostKeyChecker(t.KnownHosts, t.Addr()); err != nil {
				errs = append(errs, err)
			}
		}
	case KindLocal:
		if t.LocalDir == "" {
			bad("local_dir is required")
		} else if !filepath.IsAbs(t.LocalDir) {
			bad("local_dir %q must be an absolute path", t.LocalDir)
		}
		for name, v := range map[string]string{"host": t.Host, "user": t.User, "private_key": t.PrivateKey,
			"known_hosts": t.KnownHosts, "remote_dir": t.RemoteDir} {
			if v != "" {
				bad("%s is set on a local target", name)
			}
		}
	case "":
		bad("kind is required (sftp or local)")
	default:
		bad("kind %q is unknown (want sftp or local)", t.Kind)
	}
	return errors.Join(errs...)
}

// loadSigner parses the private key given as PEM text or as a file path.
// Errors never quote the key.
func loadSigner(keyOrPath string) (ssh.Signer, error) {
	pemBytes := []byte(keyOrPath)
	if !strings.HasPrefix(strings.TrimSpace(keyOrPath), "-----BEGIN") {
		b, err := os.ReadFile(keyOrPath)
		if err != nil {
			return nil, fmt.Errorf("private_key: %w", err)
		}
		pemBytes = b
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, errors.New("private_key is passphrase-protected; give an unencrypted key kept in a 0600 file")
		}
		return nil, fmt.Errorf("private_key does not parse: %w", err)
	}
	return signer, nil
}

// hostKeyChecker verifies a server's host key against pinned known_hosts
// lines, with OpenSSH's matching rules (hashed names, [host]:port,
// @revoked).
type hostKeyChecker struct {
	callback ssh.HostKeyCallback
	algos    []string
}

// newHostKeyChecker parses lines and checks that they pin at least one key
// for addr.
func newHostKeyChecker(lines, addr string) (*hostKeyChecker, error) {
	var algos []string
	seen := map[string]bool{}
	rest := []byte(lines)
	for len(rest) > 0 {
		marker, _, key, _, r, err := ssh.ParseKnownHosts(rest)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("known_hosts does not parse: %w", err)
		}
		rest = r
		if marker == "cert-authority" {
			return nil, errors.New("known_hosts: @cert-authority lines are not supported; pin the host key itself")
		}
		if marker != "" {
			continue
		}
		for _, a := range algorithmsFor(key) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	if len(algos) == 0 {
		return nil, errors.New("known_hosts holds no host key")
	}

	// knownhosts reads files only; hand it a private copy and remove it
	// at once, since the database is read eagerly.
	f, err := os.CreateTemp("", "circa-known-hosts-*")
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(lines + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("known_hosts: %w", werr)
	}
	cb, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, fmt.Errorf("known_hosts does not parse: %w", err)
	}

	// Ask about a key nobody holds: a KeyError that lists wanted keys
	// means the host is pinned; an empty list means it is not.
	probe, _ := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	tcp := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	var ke *knownhosts.KeyError
	if err := cb(addr, tcp, probe); errors.As(err, &ke) && len(ke.Want) == 0 {
		return nil, fmt.Errorf("known_hosts pins no key for %s", knownhosts.Normalize(addr))
	}
	return &hostKeyChecker{callback: cb, algos: algos}, nil
}

// algorithmsFor lists the host key algorithms that can prove possession of
// key, so the handshake asks the server for a key we have pinned.
func algorithmsFor(key ssh.PublicKey) []string {
	if key.Type() == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{key.Type()}
}
