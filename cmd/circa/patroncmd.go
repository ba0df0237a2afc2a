package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// patronFlags are the flags of patron add and edit.
type patronFlags struct {
	first, last, group, library, expiry, birthdate, language, email, phone, sms, address string
	jobTitle, campus, shareLib                                                           string
	ids                                                                                  []string
}

func (pf *patronFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&pf.last, "last", "", "last name")
	fs.StringVar(&pf.first, "first", "", "first name")
	fs.StringVar(&pf.group, "group", "", "user group (a column of the loan rules)")
	fs.StringVar(&pf.library, "library", "", "home library")
	fs.StringVar(&pf.expiry, "expiry", "", "last day the card is valid, YYYY-MM-DD in the home library's zone (empty: never expires)")
	fs.StringVar(&pf.birthdate, "birthdate", "", "date of birth, YYYY-MM-DD")
	fs.StringVar(&pf.language, "language", "", "ISO 639-2 language code (eng, fre, ger, …)")
	fs.StringVar(&pf.jobTitle, "job-title", "", "job title")
	fs.StringVar(&pf.campus, "campus", "", "campus code")
	fs.StringVar(&pf.shareLib, "rs-library", "", "resource-sharing library")
	fs.StringVar(&pf.email, "email", "", "e-mail address")
	fs.StringVar(&pf.phone, "phone", "", "phone number")
	fs.StringVar(&pf.sms, "sms", "", "number for SMS notices, e.g. +1 607 555 0142 (empty: none)")
	fs.StringVar(&pf.address, "address", "", `postal address, "line1, city, postal"`)
	fs.StringArrayVar(&pf.ids, "id", nil, "identifier TYPE=VALUE (repeatable); TYPE= removes that type")
}

// form turns the flags given into a circ.PatronForm.
func (pf *patronFlags) form(fs *pflag.FlagSet, barcode string) (circ.PatronForm, error) {
	f := circ.PatronForm{Barcode: barcode}
	given := func(name string, v string) *string {
		if fs.Changed(name) {
			return &v
		}
		return nil
	}
	f.LastName, f.FirstName = given("last", pf.last), given("first", pf.first)
	f.UserGroup, f.HomeLibrary = given("group", pf.group), given("library", pf.library)
	f.Expiry, f.Birthdate, f.Language = given("expiry", pf.expiry), given("birthdate", pf.birthdate), given("language", pf.language)
	f.Email, f.Phone, f.Address = given("email", pf.email), given("phone", pf.phone), given("address", pf.address)
	f.SMS = given("sms", pf.sms)
	f.JobTitle, f.Campus, f.ShareLib = given("job-title", pf.jobTitle), given("campus", pf.campus), given("rs-library", pf.shareLib)
	for _, id := range pf.ids {
		typ, v, ok := strings.Cut(id, "=")
		if !ok || strings.TrimSpace(typ) == "" {
			return f, usageError("--id %q: give TYPE=VALUE", id)
		}
		f.Identifiers = append(f.Identifiers, store.Identifier{Type: typ, Value: v})
	}
	return f, nil
}

// newPatronAdminCommands are patron add, edit, remove, search and pin set.
func newPatronAdminCommands(a *app) []*cobra.Command {
	var addFlags patronFlags
	add := &cobra.Command{
		Use:   "add BARCODE --group G --library L --last NAME",
		Short: "Add a patron",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			f, err := addFlags.form(cmd.Flags(), args[0])
			if err != nil {
				return err
			}
			return a.withBackend(func(b *backend) error {
				if _, err := b.svc.AddPatron(cmd.Context(), f, staffAgent(addFlags.library)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added patron %s\n", args[0])
				return nil
			})
		}),
	}
	addFlags.bind(add.Flags())
	for _, name := range []string{"group", "library", "last"} {
		add.MarkFlagRequired(name)
	}

	var editFlags patronFlags
	edit := &cobra.Command{
		Use:   "edit BARCODE",
		Short: "Change a patron (only the flags given; an empty value clears a field)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			if err := needSetting(cmd); err != nil {
				return err
			}
			f, err := editFlags.form(cmd.Flags(), args[0])
			if err != nil {
				return err
			}
			return a.withBackend(func(b *backend) error {
				if _, err := b.svc.EditPatron(cmd.Context(), f, staffAgent("")); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "changed patron %s\n", args[0])
				return nil
			})
		}),
	}
	editFlags.bind(edit.Flags())

	remove := &cobra.Command{
		Use:   "remove BARCODE",
		Short: "Remove a patron with no open loans, requests or outstanding fees",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				if err := b.svc.RemovePatron(cmd.Context(), args[0], staffAgent("")); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed patron %s\n", args[0])
				return nil
			})
		}),
	}

	var asJSON bool
	var limit int
	search := &cobra.Command{
		Use:   "search QUERY",
		Short: "Find patrons by barcode, any identifier, the start of a name (Lovelace, Ada Love, \"Lovelace, A\") or e-mail",
		Args:  cobra.MinimumNArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				hits, err := b.svc.SearchPatrons(cmd.Context(), strings.Join(args, " "), limit)
				if err != nil {
					return usageError("%v", err)
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), hits)
				}
				printPatronHits(cmd.OutOrStdout(), hits, func(lib string) *time.Location { return b.zone(cmd.Context(), lib) })
				return nil
			})
		}),
	}
	search.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	search.Flags().IntVar(&limit, "limit", circ.SearchLimit, "most patrons to list")

	return []*cobra.Command{add, edit, remove, search, newPatronPINSetCommand(a)}
}

func printPatronHits(w io.Writer, hits circ.PatronHits, zone func(library string) *time.Location) {
	if len(hits.Patrons) == 0 {
		fmt.Fprintln(w, "no patrons found")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BARCODE\tNAME\tGROUP\tLIBRARY\tEXPIRES\tE-MAIL")
	for _, p := range hits.Patrons {
		expires := "never"
		if !p.Expiry.IsZero() {
			expires = p.Expiry.In(zone(p.HomeLibrary)).Format("2006-01-02")
		}
		email, _ := p.ContactOf("email")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Barcode, patronSortName(&p), p.UserGroup, p.HomeLibrary, expires, dash(email.Value))
	}
	tw.Flush()
	printMore(w, hits.More, len(hits.Patrons))
}

func patronSortName(p *store.Patron) string {
	if p.FirstName == "" {
		return p.LastName
	}
	return p.LastName + ", " + p.FirstName
}

// newPatronPINSetCommand is `patron pin set`: the PIN comes from a file,
// standard input or, on a terminal, a prompt without echo, never from the
// command line.
func newPatronPINSetCommand(a *app) *cobra.Command {
	var pin string
	set := &cobra.Command{
		Use:   "set BARCODE [--pin-file PATH|-]",
		Short: "Give a patron a new PIN (prompted without echo, or the first line of standard input or --pin-file) and end any PIN lock",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				if err := b.svc.SetPIN(cmd.Context(), args[0], pin, staffAgent("")); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "PIN of %s set\n", args[0])
				return nil
			})
		}),
	}
	addSecretFile(set.Flags(), "pin", "the new PIN", func(v string) error { pin = v; return nil })
	// Standard input (or the prompt) unless --pin-file names a file.
	set.Flags().Set("pin-file", "-")
	cmd := &cobra.Command{Use: "pin", Short: "Set patrons' PINs"}
	cmd.AddCommand(set)
	return cmd
}
