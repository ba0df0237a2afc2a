package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/fixtures"
	"github.com/circa-ils/circa/profiles"
)

// storedHash is the hash a profile export holds for field (password_hash,
// api_key_hash…) of profile code.
func storedHash(t *testing.T, dir, typ, code, field string) string {
	t.Helper()
	r := run(t, "profile", typ, "export", "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("export: %+v", r)
	}
	_, after, ok := strings.Cut(r.out, "code: "+code+"\n")
	if !ok {
		t.Fatalf("no profile %s in\n%s", code, r.out)
	}
	m := regexp.MustCompile(field + `: (\S+)`).FindStringSubmatch(after)
	if m == nil {
		t.Fatalf("no %s for %s in\n%s", field, code, after)
	}
	return m[1]
}

func verified(t *testing.T, hash, secret string) bool {
	t.Helper()
	ok, err := circ.VerifySecret(hash, secret)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// Secrets come from a file or standard input, never needing the command
// line, and appear in no output or log line.
func TestSecretsFromFileAndStandardInput(t *testing.T) {
	dir := seededDir(t)
	const pw, key, shared = "file-secret-6aQ", "stdin-key-Zr81", "shared-from-file-p3"
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sharedFile := filepath.Join(t.TempDir(), "shared")
	if err := os.WriteFile(sharedFile, []byte(shared+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noLeak := func(r result) {
		t.Helper()
		for _, s := range []string{pw, key, shared} {
			if strings.Contains(r.out+r.errOut, s) {
				t.Errorf("secret %q in output: %+v", s, r)
			}
		}
	}
	d := []string{"--data-dir", dir, "--log-level", "debug"}

	r := run(t, append([]string{"profile", "selfcheck", "add", "k9", "--password-file", file, "--institution", "MAIN", "--library", "MAIN"}, d...)...)
	if r.code != 0 {
		t.Fatalf("add with --password-file: %+v", r)
	}
	noLeak(r)
	if !verified(t, storedHash(t, dir, "selfcheck", "k9", "password_hash"), pw) {
		t.Error("the password stored is not the file's")
	}

	r = runIn(t, key+"\n", append([]string{"profile", "ncip", "edit", fixtures.PartnerCode, "--api-key-file", "-", "--shared-secret-file", sharedFile}, d...)...)
	if r.code != 0 {
		t.Fatalf("edit with --api-key-file -: %+v", r)
	}
	noLeak(r)
	if storedHash(t, dir, "ncip", fixtures.PartnerCode, "api_key_hash") != profiles.KeyHash(key) ||
		storedHash(t, dir, "ncip", fixtures.PartnerCode, "shared_secret_hash") != profiles.KeyHash(shared) {
		t.Error("the key or shared secret stored is not the one read")
	}

	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"profile", "selfcheck", "edit", "k9", "--password", "x", "--password-file", file}},         // both
		{"a\nb\n", []string{"profile", "ncip", "edit", "p", "--api-key-file", "-", "--shared-secret-file", "-"}}, // stdin twice
		{"\n", []string{"profile", "selfcheck", "edit", "k9", "--password-file", "-"}},                           // empty
		{"", []string{"sip2", "send", "--addr", "127.0.0.1:1", "--login", "k:p", "--password-file", file, "99"}}, // password twice
	} {
		if r := runIn(t, c.stdin, append(c.args, d...)...); r.code != 2 {
			t.Errorf("%v: %+v", c.args, r)
		}
	}
	if r := run(t, append([]string{"profile", "selfcheck", "edit", "k9", "--password-file", file + ".missing"}, d...)...); r.code != 1 {
		t.Errorf("missing file: %+v", r)
	}
}

func TestSIP2AndNCIPClientsReadSecrets(t *testing.T) {
	addr := sip2Server(t)
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte(fixtures.KioskPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "sip2", "send", "--addr", addr, "--login", fixtures.KioskLogin, "--password-file", file, "9900402.00")
	if r.code != 0 || !strings.Contains(r.out, "logged in") || strings.Contains(r.out+r.errOut, fixtures.KioskPassword) {
		t.Fatalf("sip2 send with --password-file: %+v", r)
	}
	// The shell's messages follow the password on standard input.
	r = runIn(t, fixtures.KioskPassword+"\n9900402.00\n", "sip2", "shell", "--addr", addr, "--login", fixtures.KioskLogin, "--password-file", "-")
	if r.code != 0 || !strings.Contains(r.out, "< 98 ACS Status") {
		t.Fatalf("sip2 shell with --password-file -: %+v", r)
	}

	_, url := ncipServer(t)
	r = runIn(t, fixtures.PartnerKey+"\n", "ncip", "send", "--url", url, "--key-file", "-", "--service", "LookupVersion")
	if r.code != 0 || strings.Contains(r.out+r.errOut, fixtures.PartnerKey) {
		t.Fatalf("ncip send with --key-file -: %+v", r)
	}
}

// A command forwarded to a running server carries the secret its client
// read: the server neither reads the file nor logs the secret.
func TestSecretReachesRunningServer(t *testing.T) {
	dir := seededDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- execute(ctx, []string{"serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--sip2-addr", "127.0.0.1:0",
			"--sip2-tls-addr", "", "--https-addr", "", "--log-level", "debug"}, nil, out, logs)
	}()
	waitServing(t, out, done)
	const pw = "through-the-socket-Q7"
	r := runIn(t, pw+"\n", "profile", "selfcheck", "add", "k8", "--password-file", "-", "--institution", "MAIN", "--library", "MAIN", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "added") {
		t.Fatalf("add through the server: %+v", r)
	}
	hash := storedHash(t, dir, "selfcheck", "k8", "password_hash")
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !verified(t, hash, pw) {
		t.Error("the password stored is not the one read")
	}
	if strings.Contains(logs.String()+out.String()+r.errOut, pw) {
		t.Error("the password reached a log or output")
	}
	if !strings.Contains(logs.String(), "admin command") {
		t.Errorf("the add did not go through the server:\n%s", logs.String())
	}
}

// On a terminal, --password-file - prompts and the typed secret is not
// echoed. script(1) gives the child a real pseudo-terminal.
func TestSecretPromptOnTerminalDoesNotEcho(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux) not installed")
	}
	bin, dir := circaBinary(t), seededDir(t)
	const pw = "typed-at-the-prompt-K2"
	cmd := exec.Command(scriptBin, "-qec", bin+" profile selfcheck add k6 --password-file - --institution MAIN --library MAIN --data-dir "+dir, "/dev/null")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Type only once the prompt shows, when echo is already off.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "the login password: ") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no prompt: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	io.WriteString(stdin, pw+"\r")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if strings.Contains(out.String(), pw) || !strings.Contains(out.String(), "added selfcheck profile k6") {
		t.Fatalf("output: %q", out.String())
	}
	if !verified(t, storedHash(t, dir, "selfcheck", "k6", "password_hash"), pw) {
		t.Error("the password stored is not the one typed")
	}
}
