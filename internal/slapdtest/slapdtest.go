// Package slapdtest runs Debian's OpenLDAP server, slapd, for tests: a
// directory of a campus with a service account and a few people, on
// loopback, with TLS from a test CA (ldaps:// and StartTLS on ldap://).
// Where slapd is missing the test skips, or under `make conformance`
// (internal/conformance) fails.
package slapdtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/circa-ils/circa/internal/conformance"
	"github.com/circa-ils/circa/tlsproxy"
)

// The directory's names and the people in it.
const (
	BaseDN          = "ou=people,dc=campus,dc=example"
	BindDN          = "cn=circa,ou=services,dc=campus,dc=example"
	BindPassword    = "service-secret"
	suffix          = "dc=campus,dc=example"
	rootDN          = "cn=admin,dc=campus,dc=example"
	rootPassword    = "root-secret"
	schemaDirectory = "/etc/ldap/schema"
	moduleDirectory = "/usr/lib/ldap"
)

// Person is an entry under BaseDN.
type Person struct {
	UID            string // uid, for (uid={user})
	EmployeeNumber string // for (employeeNumber={barcode})
	Password       string
}

// People are the entries every directory holds. Two share a surname, so
// a filter that a wildcard could widen would find more than one.
var People = []Person{
	{UID: "astudent", EmployeeNumber: "29000000000001", Password: "campus pass 1"},
	{UID: "bstudent", EmployeeNumber: "29000000000002", Password: "campus pass 2"},
}

// Server is a running slapd.
type Server struct {
	tb     testing.TB
	people []Person
	dir    string
	bin    string
	cmd    *exec.Cmd
	done   chan struct{}

	// LDAPS is its ldaps:// URL, LDAP its ldap:// URL (StartTLS offered).
	LDAPS, LDAP string
	// CAFile is the PEM of the CA its certificate chains to.
	CAFile string
	// BindPasswordFile holds BindPassword.
	BindPasswordFile string
}

// Start configures slapd in a temporary directory holding People and more,
// and starts it; it is stopped when the test ends.
func Start(tb testing.TB, more ...Person) *Server {
	tb.Helper()
	return start(tb, true, more)
}

// StartWithoutTLS starts a slapd that offers neither ldaps:// nor StartTLS:
// only LDAP is set.
func StartWithoutTLS(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, false, nil)
}

func start(tb testing.TB, withTLS bool, more []Person) *Server {
	tb.Helper()
	bin := conformance.Tool(tb, "slapd", "/usr/sbin/slapd") // /usr/sbin is often off a user's PATH
	dir := tb.TempDir()
	certs, err := tlsproxy.InitCA(filepath.Join(dir, "tls"), []string{"127.0.0.1", "localhost"})
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, people: append(append([]Person(nil), People...), more...), dir: dir, bin: bin, CAFile: certs.CACert, BindPasswordFile: filepath.Join(dir, "bind-password")}
	if err := os.WriteFile(s.BindPasswordFile, []byte(BindPassword+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		tb.Fatal(err)
	}
	conf := fmt.Sprintf(`include %[1]s/core.schema
include %[1]s/cosine.schema
include %[1]s/inetorgperson.schema
pidfile %[2]s/slapd.pid
argsfile %[2]s/slapd.args
modulepath %[3]s
moduleload back_mdb
%[8]sdatabase mdb
maxsize 16777216
suffix "%[4]s"
rootdn "%[5]s"
rootpw %[6]s
directory %[2]s/db
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="%[7]s" read by * none
`, schemaDirectory, dir, moduleDirectory, suffix, rootDN, rootPassword, BindDN, tlsSettings(withTLS, certs))
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	ldif := s.entries()
	add := exec.Command(filepath.Join(filepath.Dir(bin), "slapadd"), "-f", confFile, "-b", suffix)
	add.Stdin = strings.NewReader(ldif)
	if out, err := add.CombinedOutput(); err != nil {
		tb.Fatalf("slapadd: %v\n%s", err, out)
	}
	s.LDAP = "ldap://127.0.0.1:" + strconv.Itoa(freePort(tb))
	if withTLS {
		s.LDAPS = "ldaps://127.0.0.1:" + strconv.Itoa(freePort(tb))
	}
	s.Restart()
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) entries() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: campus\no: Campus\n\n", suffix)
	fmt.Fprintf(&b, "dn: ou=services,%s\nobjectClass: organizationalUnit\nou: services\n\n", suffix)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n", BaseDN)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: circa\nsn: circa\nuserPassword: %s\n\n",
		BindDN, BindPassword)
	for _, p := range s.people {
		fmt.Fprintf(&b, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: Student\nemployeeNumber: %s\nuserPassword: %s\n\n",
			p.UID, BaseDN, p.UID, p.UID, p.EmployeeNumber, p.Password)
	}
	return b.String()
}

// Restart starts slapd again on the same ports after Stop.
func (s *Server) Restart() {
	s.tb.Helper()
	listen := []string{s.LDAP + "/"}
	if s.LDAPS != "" {
		listen = append(listen, s.LDAPS+"/")
	}
	s.cmd = exec.Command(s.bin, "-f", filepath.Join(s.dir, "slapd.conf"), "-h", strings.Join(listen, " "), "-d", "0")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log, err := os.Create(filepath.Join(s.dir, "slapd.log"))
	if err != nil {
		s.tb.Fatal(err)
	}
	defer log.Close()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(10 * time.Second)
	for _, u := range listen {
		addr := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(u, "ldaps://"), "ldap://"), "/")
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-s.done:
				out, _ := os.ReadFile(filepath.Join(s.dir, "slapd.log"))
				s.tb.Fatalf("slapd exited at start:\n%s", out)
			default:
			}
			if time.Now().After(deadline) {
				s.tb.Fatalf("slapd does not listen on %s", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Stop stops slapd and waits for it to exit; a stopped server is left as it is.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	s.cmd = nil
}

// tlsSettings are the lines of slapd.conf that give it its certificate.
func tlsSettings(withTLS bool, certs tlsproxy.Paths) string {
	if !withTLS {
		return ""
	}
	return fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n", certs.CACert, certs.Cert, certs.Key)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
