package tlsproxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func TestAcceptDoesNotWaitForHandshake(t *testing.T) {
	pki := newPKI(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, pki.serverConfig(t, ClientCertNone).TLSConfig(), time.Minute)
	defer l.Close()

	// A client that connects and says nothing.
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	first, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, ok := first.(*tls.Conn); !ok {
		t.Fatalf("Accept returned %T, want *tls.Conn", first)
	}

	// Accept still hands over the next connection at once, and its handshake completes.
	done := make(chan error, 1)
	ccfg := pki.clientConfig(t, nil)
	go func() {
		c, err := tls.Dial("tcp", l.Addr().String(), ccfg)
		if err == nil {
			_, err = c.Write([]byte("x"))
			c.Close()
		}
		done <- err
	}()
	second, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := Handshake(second, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The silent client's handshake fails by its deadline instead of hanging.
	if err := Handshake(first, 50*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("handshake with a silent client: %v, want a deadline error", err)
	}
}

func TestAcceptedConnCarriesHandshakeDeadline(t *testing.T) {
	pki := newPKI(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, pki.serverConfig(t, ClientCertNone).TLSConfig(), 50*time.Millisecond)
	defer l.Close()
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A server that reads without calling Handshake is still bounded by the listener's deadline.
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a silent client: %v, want a deadline error", err)
	}
}

func TestHandshakeClearsDeadline(t *testing.T) {
	pki := newPKI(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const hs = 20 * time.Millisecond
	l := NewListener(inner, pki.serverConfig(t, ClientCertNone).TLSConfig(), hs)
	defer l.Close()
	send := make(chan struct{})
	clientErr := make(chan error, 1)
	ccfg := pki.clientConfig(t, nil)
	go func() {
		c, err := tls.Dial("tcp", l.Addr().String(), ccfg)
		if err != nil {
			clientErr <- err
			return
		}
		defer c.Close()
		<-send
		_, err = c.Write([]byte("9900302.00\r"))
		clientErr <- err
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := Handshake(c, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Let both the listener's and a would-be stale deadline pass; the read must still wait for the client.
	time.Sleep(5 * hs)
	close(send)
	line, err := bufio.NewReader(c).ReadString('\r')
	if err != nil || line != "9900302.00\r" {
		t.Fatalf("read after handshake: %q, %v", line, err)
	}
	if err := <-clientErr; err != nil {
		t.Fatal(err)
	}
}

func TestHandshakePlainConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := Handshake(a, time.Second); err != nil {
		t.Fatalf("plain conn: %v", err)
	}
}
