package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/ncip"
	"github.com/circa-ils/circa/profiles/initiator"
	"github.com/circa-ils/circa/schemas"
	"github.com/circa-ils/circa/tlsproxy"
)

func newNCIPCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "ncip", Short: "Send NCIP messages and check them against the schema"}
	cmd.AddCommand(newNCIPSendCommand(a), newNCIPCheckCommand(a))
	return cmd
}

// ncipSendOptions are the flags of `circa ncip send`.
type ncipSendOptions struct {
	url     string
	key     string
	service string
	timeout time.Duration
	ca      string // CA bundle the server must chain to
	cert    string // client certificate and its key, for a partner that requires one
	certKey string
}

func newNCIPSendCommand(a *app) *cobra.Command {
	o := &ncipSendOptions{}
	cmd := &cobra.Command{
		Use:   "send --url URL [--key-file PATH] [--ca CA --cert CERT --cert-key KEY] (FILE | --service NAME [field=value]…)",
		Short: "Send an NCIP message and print the response",
		Long: "Send an NCIP message from FILE (- for standard input), or build one with --service from key=value fields:\n" +
			"  from, to, from-auth, profile, on-behalf-of, user, barcode, pin, password, item, request, request-type,\n" +
			"  scope, action, bib, bib-code, isbn, title, author, call-number, pickup, due, amount, currency,\n" +
			"  fiscal-action, fiscal-type, description, elements, loans, requests, account, agency, and for ItemShipped\n" +
			"  shipped (RFC 3339, default now), address (where it went, lines joined by ;) and note. LookupItemSet takes\n" +
			"  bib= or item= (each as often as needed), max (MaximumItemsCount) and token (the NextItemToken of the last\n" +
			"  answer); without elements= it asks for description, status, hold queue, call number, location and due date.\n" +
			"The response is printed as received; a Problem in it makes the exit status 1. Over https:// the server is\n" +
			"verified against --ca (default: the system's CAs) and --cert/--cert-key are presented when given.",
		Example: "  circa ncip send --url http://127.0.0.1:8080/ncip --key demo-ncip-key --service LookupUser from=DEMO-BROKER user=21000000000001\n" +
			"  circa ncip send --url http://127.0.0.1:8080/ncip/demo-ncip-key request.xml\n" +
			"  circa ncip send --key demo-ncip-key --service LookupItemSet from=DEMO-BROKER bib=1 bib=2 max=20\n" +
			"  circa ncip send --key demo-annex-key --service ItemShipped from=DEMO-ANNEX request=42 address=MAIN\n" +
			"  circa ncip send --url https://127.0.0.1:8443/ncip --ca data/tls/ca.pem --cert data/tls/DEMO-BROKER.pem --cert-key data/tls/DEMO-BROKER-key.pem request.xml",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNCIPSend(cmd.Context(), a, o, args, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "http://127.0.0.1:8080/ncip", "the NCIP endpoint")
	f.StringVar(&o.key, "key", os.Getenv("CIRCA_NCIP_KEY"), "API key sent as X-API-Key (env CIRCA_NCIP_KEY, or --key-file)")
	addSecretFile(f, "key", "the API key", setFlag(f, "key"))
	f.StringVar(&o.service, "service", "", "build a request of this service from key=value arguments")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long")
	f.StringVar(&o.ca, "ca", "", "CA bundle the server's certificate must chain to (default: the system's)")
	f.StringVar(&o.cert, "cert", "", "client certificate presented over HTTPS (from circa tls issue)")
	f.StringVar(&o.certKey, "cert-key", "", "private key of --cert")
	return cmd
}

func runNCIPSend(ctx context.Context, a *app, o *ncipSendOptions, args []string, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client := &ncip.Client{URL: o.url, APIKey: o.key}
	if o.ca != "" || o.cert != "" || o.certKey != "" {
		if !strings.HasPrefix(strings.ToLower(o.url), "https://") {
			return usageError("--ca, --cert and --cert-key need an https:// --url")
		}
		cfg, err := tlsproxy.ClientConfig(a.path(o.ca), a.path(o.cert), a.path(o.certKey))
		if err != nil {
			return usageError("%v", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg
		defer tr.CloseIdleConnections()
		client.HTTP = &http.Client{Transport: tr}
	}
	var res *ncip.Result
	var err error
	switch {
	case o.service != "":
		req, berr := ncip.BuildRequest(o.service, args)
		if berr != nil {
			return usageError("%v", berr)
		}
		res, err = client.Do(ctx, req)
	case len(args) == 1:
		var msg []byte
		if args[0] == "-" {
			msg, err = io.ReadAll(a.in)
		} else {
			msg, err = os.ReadFile(a.path(args[0]))
		}
		if err != nil {
			return err
		}
		res, err = client.Send(ctx, msg)
	default:
		return usageError("give one message FILE, or --service NAME with key=value fields")
	}
	if err != nil {
		return err
	}
	out.Write(res.Body)
	if len(res.Body) > 0 && res.Body[len(res.Body)-1] != '\n' {
		fmt.Fprintln(out)
	}
	switch {
	case res.Problem != nil:
		msg := "NCIP Problem: " + res.Problem.Type.Value
		if res.Problem.Detail != "" {
			msg += " (" + res.Problem.Detail + ")"
		}
		return &exitError{code: 1, err: errors.New(msg)}
	case res.Status != 200:
		return &exitError{code: 1, err: fmt.Errorf("HTTP status %d", res.Status)}
	case res.Response == nil:
		return &exitError{code: 1, err: errors.New("the answer is not an NCIP message")}
	}
	return nil
}

// ncipCheckOptions are the flags of `circa ncip check`.
type ncipCheckOptions struct {
	schema string
}

func newNCIPCheckCommand(a *app) *cobra.Command {
	o := &ncipCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check FILE…",
		Short: "Validate NCIP messages against ncip_v2_02.xsd",
		Long: "Validate NCIP messages against the NCIP 2.02 schema with xmllint (Debian package libxml2-utils), offline.\n" +
			"The schema is --schema, or the official ncip_v2_02.xsd built into circa. Each file is also read the\n" +
			"way circa reads messages, which names the service. The exit status is 1 when a file is invalid or\n" +
			"cannot be checked.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNCIPCheck(a, o, args, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.schema, "schema", "", "path of an NCIP schema (default: the official ncip_v2_02.xsd built into circa)")
	return cmd
}

func runNCIPCheck(a *app, o *ncipCheckOptions, files []string, out io.Writer) error {
	// A wrong --schema is the user's to fix whatever is installed, so it is
	// reported before a missing xmllint.
	var cannot, schema string
	if o.schema != "" {
		schema = a.path(o.schema)
		if _, err := os.Stat(schema); err != nil {
			cannot = "schema " + schema + " not found"
		}
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil && cannot == "" {
		cannot = "xmllint is not on PATH (install libxml2-utils)"
	}
	if cannot == "" && schema == "" {
		dir, remove, err := schemas.WriteTemp()
		if err != nil {
			return err
		}
		defer remove()
		schema = filepath.Join(dir, schemas.NCIP)
	}
	bad := 0
	for _, f := range files {
		path := a.path(f)
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(out, "%s: %v\n", f, err)
			bad++
			continue
		}
		what := readableAs(b)
		if cannot != "" {
			fmt.Fprintf(out, "%s: not validated (%s)\n", f, what)
			continue
		}
		msg, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", schema, path).CombinedOutput()
		if err != nil {
			bad++
			fmt.Fprintf(out, "%s: INVALID (%s)\n", f, what)
			for _, line := range strings.Split(strings.TrimSpace(string(msg)), "\n") {
				if line != "" && !strings.HasSuffix(line, " fails to validate") {
					fmt.Fprintf(out, "  %s\n", line)
				}
			}
			continue
		}
		fmt.Fprintf(out, "%s: valid (%s)\n", f, what)
	}
	switch {
	case bad > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d of %d files invalid or unreadable", bad, len(files))}
	case cannot != "":
		return &exitError{code: 1, err: errors.New("not validated: " + cannot)}
	}
	return nil
}

// readableAs says what circa's own lenient reader makes of a message.
func readableAs(b []byte) string {
	if m, err := ncip.DecodeRequest(b, ncip.DecodeOptions{}); err == nil {
		return m.Service + " request"
	}
	if m, err := ncip.DecodeResponse(b, ncip.DecodeOptions{}); err == nil {
		if m.Service == "" {
			return "Problem response"
		}
		return m.Service + " response"
	}
	return "unreadable by circa"
}

func newStorageCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "storage", Short: "Remote-storage facilities: reconciliation report"}
	cmd.AddCommand(newStorageReportCommand(a))
	return cmd
}

// storageReportOptions are the flags of `circa storage report`.
type storageReportOptions struct {
	facility string
	days     int
	json     bool
}

func newStorageReportCommand(a *app) *cobra.Command {
	o := &storageReportOptions{}
	cmd := &cobra.Command{
		Use:   "report [--facility F] [--days N]",
		Short: "List mismatches between circulation and remote-storage facilities",
		Long: "List retrievals requested but not done after N days, items retrieved but not received after N days,\n" +
			"items at rest while a request waits for them, items reported not found yet shown available, and items\n" +
			"in remote-storage locations without a storage history. For a facility that takes requests online, a\n" +
			"retrieval's line says what became of its RequestItem (\"sent\", \"refused: <Problem>\", \"not yet delivered: N\n" +
			"attempts, last error …\"), and messages not yet delivered or refused have lines of their own.\n" +
			"--facility takes a facility or storage profile code; --days defaults to that profile's stale_days, else 3.",
		Args: cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				return runStorageReport(cmd.Context(), b, o, cmd.Flags().Changed("days"), cmd.OutOrStdout())
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.facility, "facility", "", "only this facility (or storage profile) code")
	f.IntVar(&o.days, "days", 3, "how many days make a retrieval or a transit overdue")
	f.BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runStorageReport(ctx context.Context, b *backend, o *storageReportOptions, daysGiven bool, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.days < 0 {
		return usageError("--days must be ≥ 0")
	}
	ro := circ.StorageReportOptions{Facility: o.facility, Days: o.days}
	reg, err := b.registry(ctx)
	if err != nil {
		return err
	}
	if o.facility != "" {
		if p, ok := reg.Current().Storage[o.facility]; ok {
			ro.Facility = p.Facility
			if !daysGiven && p.StaleDays > 0 {
				ro.Days = p.StaleDays
			}
		}
	}
	ms, err := b.svc.StorageReport(ctx, ro)
	if err != nil {
		return err
	}
	if ms, err = initiator.Annotate(ctx, b.db, reg.Current(), ro.Facility, ms); err != nil {
		return err
	}
	if o.json {
		if ms == nil {
			ms = []circ.Mismatch{}
		}
		return printJSON(out, ms)
	}
	if len(ms) == 0 {
		fmt.Fprintf(out, "no mismatches (%s, %d days)\n", orAll(ro.Facility), ro.Days)
		return nil
	}
	zone := b.zone(ctx, "")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tFACILITY\tITEM\tREQUEST\tSINCE\tDETAIL\tTITLE")
	for _, m := range ms {
		req := "-"
		if m.Request != 0 {
			req = circ.RequestKey(m.Request)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Kind, m.Facility, m.Item, req, showTime(m.Since, zone), m.Detail, m.Title)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d mismatches (%s, %d days)\n", len(ms), orAll(ro.Facility), ro.Days)
	return nil
}

func orAll(facility string) string {
	if facility == "" {
		return "all facilities"
	}
	return "facility " + facility
}
