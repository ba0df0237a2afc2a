package sip2

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeACS answers each request read from c with the next scripted reply;
// "" in the script echoes a signed 94 with the request's sequence number.
func fakeACS(t *testing.T, c net.Conn, script []string) <-chan []string {
	got := make(chan []string, 1)
	go func() {
		defer c.Close()
		br := bufio.NewReader(c)
		var reqs []string
		for _, reply := range script {
			line, err := br.ReadString('\r')
			if err != nil {
				break
			}
			reqs = append(reqs, line)
			if reply == "" {
				m, _ := Decode([]byte(line), DecodeOptions{})
				reply = string(AppendResponse(nil, &LoginResponse{OK: true}, m.Seq, &EncodeOptions{Checksum: true})) + "\r"
			}
			c.Write([]byte(reply))
		}
		got <- reqs
	}()
	return got
}

func loginMsg(t *testing.T) *Message {
	m, err := ParseFieldSpec("93", []string{"CN=kiosk", "CO=pw"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClientResendsAfter96(t *testing.T) {
	a, b := net.Pipe()
	reqs := fakeACS(t, b, []string{"96AZFEF6\r", ""})
	c := NewClient(a, ClientOptions{})
	reply, err := c.Send(context.Background(), loginMsg(t))
	if err != nil || reply.Code != "94" || reply.Seq != "0" {
		t.Fatalf("%v %v", reply, err)
	}
	c.Close()
	r := <-reqs
	if len(r) != 2 || r[0] != r[1] || !strings.HasPrefix(r[0], "9300CNkiosk|COpw|AY0AZ") {
		t.Fatalf("requests: %q", r)
	}
}

func TestClientAsksResendOnBadChecksum(t *testing.T) {
	a, b := net.Pipe()
	reqs := fakeACS(t, b, []string{"941AY0AZ0000\r", ""})
	c := NewClient(a, ClientOptions{})
	if _, err := c.Send(context.Background(), loginMsg(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if r := <-reqs; len(r) != 2 || r[1] != "97AZFEF5\r" {
		t.Fatalf("requests: %q", r)
	}
}

func TestClientErrors(t *testing.T) {
	t.Run("sequence mismatch", func(t *testing.T) {
		a, b := net.Pipe()
		reqs := fakeACS(t, b, []string{"941AY3AZFDFA\r"})
		c := NewClient(a, ClientOptions{})
		if _, err := c.Send(context.Background(), loginMsg(t)); !errors.Is(err, ErrSeqMismatch) {
			t.Fatalf("err = %v", err)
		}
		c.Close()
		<-reqs
	})
	t.Run("resend forever", func(t *testing.T) {
		a, b := net.Pipe()
		reqs := fakeACS(t, b, []string{"96\r", "96\r"})
		c := NewClient(a, ClientOptions{Retries: 1, NoChecksum: true, Terminator: CRLF})
		if _, err := c.Send(context.Background(), loginMsg(t)); !errors.Is(err, ErrResend) {
			t.Fatalf("err = %v", err)
		}
		c.Close()
		if r := <-reqs; r[0] != "9300CNkiosk|COpw|\r" {
			t.Fatalf("unsigned request: %q", r)
		}
	})
	t.Run("context", func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := NewClient(a, ClientOptions{})
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			br := bufio.NewReader(b)
			br.ReadString('\r')
			cancel()
		}()
		if _, err := c.Send(ctx, loginMsg(t)); err == nil {
			t.Fatal("no error after cancel")
		}
	})
}
