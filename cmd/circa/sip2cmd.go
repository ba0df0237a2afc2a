package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/profiles"
	"github.com/circa-ils/circa/sip2"
	"github.com/circa-ils/circa/sip2/selfcheck"
)

// newSIP2Commands returns the screen-message commands and the SIP2 client
// tools.
func newSIP2Commands(a *app) []*cobra.Command {
	msgs := newMessagesCommand(a)
	msgs.GroupID = "admin"
	client := newSIP2ClientCommand(a)
	client.GroupID = "server"
	return []*cobra.Command{msgs, client}
}

func newMessagesCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "messages",
		Short: "Show and change the screen messages kiosks display",
		Long: `Screen and print texts of the self-check service. Each has a code; circa ships
English, French, German and Spanish texts, and a self-check profile may override
any text per language (ISO 639-2: eng, fre, ger, spa, …). Texts may hold
placeholders such as {title}, {due} and {amount}: those the code's built-in
text uses (messages set lists them when another is given).`,
	}
	var listProfile, listLang string
	list := &cobra.Command{
		Use:   "list",
		Short: "List every message code with its text (* marks a profile's override)",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			lang, err := messageLanguage(listLang)
			if err != nil {
				return err
			}
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				var p *profiles.SelfCheck
				if listProfile != "" {
					var ok bool
					if p, ok = reg.Current().SelfCheck[listProfile]; !ok {
						return &exitError{code: 1, err: fmt.Errorf("no self-check profile %s", listProfile)}
					}
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				for _, code := range selfcheck.MessageCodes() {
					mark := ""
					if p != nil {
						if _, ok := p.Message(lang, code); ok {
							mark = " *"
						}
					}
					fmt.Fprintf(tw, "%s\t%s%s\n", code, selfcheck.Message(p, lang, code), mark)
				}
				return tw.Flush()
			})
		}),
	}
	list.Flags().StringVar(&listProfile, "profile", "", "self-check profile whose overrides apply")
	list.Flags().StringVar(&listLang, "lang", selfcheck.DefaultLanguage, "language (ISO 639-2)")

	var setProfile, setLang string
	set := &cobra.Command{
		Use:   "set --profile P [--lang L] CODE TEXT",
		Short: "Override a message for one self-check profile (an empty TEXT removes the override)",
		Args:  cobra.ExactArgs(2),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			code, text := args[0], args[1]
			if setProfile == "" {
				return usageError("--profile is required")
			}
			lang, err := messageLanguage(setLang)
			if err != nil {
				return err
			}
			if _, ok := selfcheck.BuiltinMessage(selfcheck.DefaultLanguage, code); !ok {
				return usageError("unknown message code %q (see circa messages list)", code)
			}
			if err := selfcheck.CheckPlaceholders(code, text); err != nil {
				return usageError("%v", err)
			}
			return a.withProfiles(func(b *backend, reg *profiles.Registry) error {
				cur, ok := reg.Current().SelfCheck[setProfile]
				if !ok {
					return &exitError{code: 1, err: fmt.Errorf("no self-check profile %s", setProfile)}
				}
				p := *cur
				p.Messages = map[string]map[string]string{}
				for l, m := range cur.Messages {
					p.Messages[l] = maps.Clone(m)
				}
				if p.Messages[lang] == nil {
					p.Messages[lang] = map[string]string{}
				}
				if text == "" {
					delete(p.Messages[lang], code)
					if len(p.Messages[lang]) == 0 {
						delete(p.Messages, lang)
					}
				} else {
					p.Messages[lang][code] = text
				}
				if err := reg.Save(cmd.Context(), &p); err != nil {
					return &exitError{code: 1, err: err}
				}
				if text == "" {
					fmt.Fprintf(cmd.OutOrStdout(), "removed the %s override of %s from self-check profile %s\n", lang, code, setProfile)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "set %s (%s) for self-check profile %s\n", code, lang, setProfile)
				}
				return nil
			})
		}),
	}
	set.Flags().StringVar(&setProfile, "profile", "", "self-check profile to change")
	set.Flags().StringVar(&setLang, "lang", selfcheck.DefaultLanguage, "language (ISO 639-2)")
	cmd.AddCommand(list, set)
	return cmd
}

// checkProfileMessages refuses self-check overrides of unknown message codes
// or with placeholders their code does not fill, as messages set does.
func checkProfileMessages(ps []profiles.Profile) error {
	var errs []error
	for _, p := range ps {
		sc, ok := p.(*profiles.SelfCheck)
		if !ok {
			continue
		}
		for _, lang := range sortedKeys(sc.Messages) {
			for _, code := range sortedKeys(sc.Messages[lang]) {
				if _, ok := selfcheck.BuiltinMessage(selfcheck.DefaultLanguage, code); !ok {
					errs = append(errs, fmt.Errorf("profile %s (%s): unknown message code %q", sc.Code, lang, code))
				} else if err := selfcheck.CheckPlaceholders(code, sc.Messages[lang][code]); err != nil {
					errs = append(errs, fmt.Errorf("profile %s (%s): %w", sc.Code, lang, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func messageLanguage(l string) (string, error) {
	lang := selfcheck.NormalizeLanguage(l)
	if len(lang) != 3 || strings.Trim(lang, "abcdefghijklmnopqrstuvwxyz") != "" {
		return "", usageError("--lang %q: want a three-letter ISO 639-2 code such as eng, fre, ger or spa", l)
	}
	return lang, nil
}

// sip2ClientOptions say how the client tools reach a server.
type sip2ClientOptions struct {
	addr       string
	useTLS     bool
	ca         string
	cert, key  string
	login      string
	password   string
	location   string
	charset    string
	crlf       bool
	noChecksum bool
	timeout    time.Duration
}

func (o *sip2ClientOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:6001", "server address (host:port)")
	f.BoolVar(&o.useTLS, "tls", false, "connect with TLS")
	f.StringVar(&o.ca, "ca", "", "CA certificate (PEM) to verify the server with; default: the system's")
	f.StringVar(&o.cert, "cert", "", "client certificate (PEM) for servers that identify kiosks by certificate")
	f.StringVar(&o.key, "key", "", "private key of --cert")
	f.StringVar(&o.login, "login", "", "USER:PASSWORD to log in with (message 93) before anything else; USER alone with --password-file")
	addSecretFile(f, "password", "the login password", func(v string) error { o.password = v; return nil })
	f.StringVar(&o.location, "location", "", "location code (CP) sent with the login")
	f.StringVar(&o.charset, "charset", "utf-8", "character set: utf-8, cp850 or iso-8859-1")
	f.BoolVar(&o.crlf, "crlf", false, "end messages with CR LF instead of CR")
	f.BoolVar(&o.noChecksum, "no-checksum", false, "send no sequence numbers and checksums")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "time allowed per exchange")
}

// connect dials the server and logs in when --login was given.
func (o *sip2ClientOptions) connect(ctx context.Context, out io.Writer, path func(string) string) (*sip2.Client, error) {
	cs, err := sip2.ParseCharset(o.charset)
	if err != nil {
		return nil, usageError("%v", err)
	}
	user, pass, ok := strings.Cut(o.login, ":")
	if o.password != "" {
		user, pass, ok = o.login, o.password, !ok
	}
	if o.login != "" && (!ok || user == "") {
		return nil, usageError("--login wants USER:PASSWORD, or USER with --password-file")
	}
	dctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var nc net.Conn
	if o.useTLS {
		cfg, err := o.tlsConfig(path)
		if err != nil {
			return nil, err
		}
		nc, err = (&tls.Dialer{Config: cfg}).DialContext(dctx, "tcp", o.addr)
		if err != nil {
			return nil, err
		}
	} else {
		if o.ca != "" || o.cert != "" {
			return nil, usageError("--ca and --cert need --tls")
		}
		var d net.Dialer
		if nc, err = d.DialContext(dctx, "tcp", o.addr); err != nil {
			return nil, err
		}
	}
	co := sip2.ClientOptions{Charset: cs, NoChecksum: o.noChecksum, Timeout: o.timeout}
	if o.crlf {
		co.Terminator = sip2.CRLF
	}
	c := sip2.NewClient(nc, co)
	if o.login == "" {
		return c, nil
	}
	m := sip2.NewMessage("93")
	m.Fixed = "00"
	m.Add("CN", user)
	m.Add("CO", pass)
	if o.location != "" {
		m.Add("CP", o.location)
	}
	reply, err := c.Send(ctx, m)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("login: %w", err)
	}
	if reply.Code != "94" || !strings.HasPrefix(reply.Fixed, "1") {
		c.Close()
		return nil, &exitError{code: 1, err: fmt.Errorf("login as %s refused (%s%s)", user, reply.Code, reply.Fixed)}
	}
	fmt.Fprintf(out, "logged in to %s as %s\n", o.addr, user)
	return c, nil
}

func (o *sip2ClientOptions) tlsConfig(path func(string) string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return nil, usageError("--addr %q: %v", o.addr, err)
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if o.ca != "" {
		pem, err := os.ReadFile(path(o.ca))
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", o.ca)
		}
	}
	if (o.cert == "") != (o.key == "") {
		return nil, usageError("--cert and --key go together")
	}
	if o.cert != "" {
		c, err := tls.LoadX509KeyPair(path(o.cert), path(o.key))
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

func newSIP2ClientCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sip2",
		Short: "Talk SIP2 to a server, as a kiosk would",
	}
	so := &sip2ClientOptions{}
	send := &cobra.Command{
		Use:   "send --login USER:PASSWORD MESSAGE...",
		Short: "Send SIP2 messages and print the decoded replies",
		Long: `Log in with 93, send each MESSAGE and print the reply field by field.
A MESSAGE is a code followed by named fields, e.g.

  circa sip2 send --login kiosk1:kiosk1pass '23 AO=MAIN AA=21000000000001 AC= AD=1234'
  circa sip2 send --login kiosk1:kiosk1pass '63 summary="  Y       " AO=MAIN AA=21000000000001 AD=1234'

(two-letter names are variable fields; fixed fields go by name, see 'circa sip2 shell'
and its help; dates default to now), or a raw line such as
'9900402.00'. Sequence numbers and checksums are added and the replies'
checked unless --no-checksum.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if so.login == "" {
				return usageError("--login is required")
			}
			msgs := make([]*sip2.Message, len(args))
			for i, arg := range args {
				m, err := parseSIP2Arg(arg, time.Now())
				if err != nil {
					return usageError("%v", err)
				}
				msgs[i] = m
			}
			out := cmd.OutOrStdout()
			c, err := so.connect(cmd.Context(), out, a.path)
			if err != nil {
				return err
			}
			defer c.Close()
			for _, m := range msgs {
				if err := exchange(cmd.Context(), c, m, out); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			return nil
		},
	}
	so.bind(send)

	ho := &sip2ClientOptions{}
	shell := &cobra.Command{
		Use:   "shell",
		Short: "Send SIP2 messages typed one per line (help lists them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			c, err := ho.connect(cmd.Context(), out, a.path)
			if err != nil {
				return err
			}
			defer c.Close()
			return runShell(cmd.Context(), c, cmd.InOrStdin(), out)
		},
	}
	ho.bind(shell)
	cmd.AddCommand(send, shell)
	return cmd
}

// exchange sends one message and prints both sides; the request with its
// secrets masked.
func exchange(ctx context.Context, c *sip2.Client, m *sip2.Message, out io.Writer) error {
	req := m.Pretty(true)
	reply, err := c.Send(ctx, m)
	fmt.Fprint(out, prefixLines("> ", req))
	if err != nil {
		return fmt.Errorf("message %s: %w", m.Code, err)
	}
	fmt.Fprint(out, prefixLines("< ", reply.Pretty(false)))
	if reply.Checksum != "" {
		fmt.Fprintf(out, "< checksum %s verified\n", reply.Checksum)
	}
	return nil
}

func prefixLines(p, s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if line != "" {
			b.WriteString(p + line)
		}
	}
	return b.String()
}

// parseSIP2Arg reads "CODE NAME=VALUE ..." (values may be double-quoted)
// or a raw message line.
func parseSIP2Arg(s string, now time.Time) (*sip2.Message, error) {
	s = strings.TrimSpace(s)
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, errors.New("empty message")
	}
	if code := words[0]; len(code) == 2 && code[0] >= '0' && code[0] <= '9' && code[1] >= '0' && code[1] <= '9' {
		return sip2.ParseFieldSpec(code, words[1:], now)
	}
	m, err := sip2.Decode([]byte(s), sip2.DecodeOptions{Checksum: sip2.ChecksumOff})
	if err != nil {
		return nil, fmt.Errorf("%q is neither CODE NAME=VALUE… nor a SIP2 line: %w", s, err)
	}
	m.Seq = "" // the client numbers and signs it afresh
	return m, nil
}

// splitWords splits at blanks outside double quotes and drops the quotes.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unbalanced double quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

var sip2Requests = []string{"93", "99", "23", "63", "11", "09", "29", "65", "17", "19", "37", "15", "01", "25", "35", "97"}

func runShell(ctx context.Context, c *sip2.Client, in io.Reader, out io.Writer) error {
	fmt.Fprintln(out, `type a message ("23 AO=MAIN AA=21000000000001 AD=1234" or a raw line), help, or quit`)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case line == "quit" || line == "exit":
			return nil
		case line == "help" || strings.HasPrefix(line, "help "):
			shellHelp(out, strings.TrimSpace(strings.TrimPrefix(line, "help")))
		default:
			m, err := parseSIP2Arg(line, time.Now())
			if err != nil {
				fmt.Fprintln(out, "error:", err)
				continue
			}
			if err := exchange(ctx, c, m, out); err != nil {
				return &exitError{code: 1, err: err}
			}
		}
	}
	return sc.Err()
}

func shellHelp(out io.Writer, topic string) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch {
	case topic == "":
		fmt.Fprintln(tw, "Requests (help CODE shows its fixed fields; help fields lists field ids):")
		for _, code := range sip2Requests {
			fmt.Fprintf(tw, "  %s\t%s\n", code, sip2.MessageName(code))
		}
		fmt.Fprintln(tw, "Write CODE NAME=VALUE…: two-letter names are variable fields (AA=…), others set fixed fields by name.")
	case topic == "fields":
		for a := 'A'; a <= 'Z'; a++ {
			for b := 'A'; b <= 'Z'; b++ {
				tag := string([]rune{a, b})
				if n := sip2.FieldName(tag); n != "" {
					fmt.Fprintf(tw, "  %s\t%s\n", tag, n)
				}
			}
		}
	default:
		name := sip2.MessageName(topic)
		if name == "" {
			fmt.Fprintf(tw, "no message %q\n", topic)
			return
		}
		fmt.Fprintf(tw, "%s %s, fixed fields:\n", topic, name)
		for _, f := range sip2.FixedFields(topic) {
			def := f.Default
			if def == "" {
				def = "now"
			}
			fmt.Fprintf(tw, "  %s\t%d characters\tdefault %q\n", f.Name, f.Len, def)
		}
	}
}
