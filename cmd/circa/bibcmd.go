package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// bibArg is how commands describe the BIB argument.
const bibArg = "BIB is the record's 001, its internal id, or id:N for the internal id alone"

// resolveBib finds the record a command line names (circ.ResolveBib): a
// name that is ambiguous is a bad argument, one that names nothing fails.
func resolveBib(ctx context.Context, b *backend, name string) (store.Bib, error) {
	var bib store.Bib
	err := b.db.View(ctx, func(tx store.Tx) error {
		var err error
		bib, err = circ.ResolveBib(tx, name)
		return err
	})
	var amb *circ.AmbiguousBibError
	var nf *circ.NotFoundError
	switch {
	case errors.As(err, &amb):
		return bib, usageError("%v", err)
	case errors.As(err, &nf):
		return bib, &exitError{code: 1, err: err}
	case err != nil && strings.HasPrefix(strings.TrimSpace(name), "id:"):
		return bib, usageError("%v", err)
	}
	return bib, err
}

// bibRecord is what bib show prints: the record, its holdings and items.
type bibRecord struct {
	Bib      store.Bib       `json:"bib"`
	Holdings []store.Holding `json:"holdings"`
	Items    []store.Item    `json:"items"`
}

func newBibQueryCommands(a *app) []*cobra.Command {
	var showJSON bool
	show := &cobra.Command{
		Use:   "show BIB",
		Short: "Show a bibliographic record with its holdings and items",
		Long:  "Show a bibliographic record with its holdings and items. " + bibArg + ".",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				bib, err := resolveBib(cmd.Context(), b, args[0])
				if err != nil {
					return err
				}
				rec := bibRecord{Bib: bib, Holdings: []store.Holding{}, Items: []store.Item{}}
				err = b.db.View(cmd.Context(), func(tx store.Tx) error {
					hs, err := tx.HoldingsOfBib(bib.ID)
					if err != nil {
						return err
					}
					its, err := tx.ItemsOfBib(bib.ID)
					rec.Holdings, rec.Items = append(rec.Holdings, hs...), append(rec.Items, its...)
					return err
				})
				if err != nil {
					return err
				}
				if showJSON {
					return printJSON(cmd.OutOrStdout(), rec)
				}
				printBib(cmd.OutOrStdout(), &rec)
				return nil
			})
		}),
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")

	var searchJSON bool
	var limit int
	search := &cobra.Command{
		Use:   "search QUERY",
		Short: "Find records by 001, id:N, ISBN, or the start of words of the title and author",
		Args:  cobra.MinimumNArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				hits, err := b.svc.SearchBibs(cmd.Context(), strings.Join(args, " "), limit)
				if err != nil {
					return usageError("%v", err)
				}
				if searchJSON {
					return printJSON(cmd.OutOrStdout(), hits)
				}
				w := cmd.OutOrStdout()
				if len(hits.Bibs) == 0 {
					fmt.Fprintln(w, "no records found")
					return nil
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\t001\tTITLE\tAUTHOR\tISBN")
				for _, bib := range hits.Bibs {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", bib.ID, dash(bib.ControlNumber), bib.Title, dash(bib.Author), dash(bib.ISBN))
				}
				tw.Flush()
				printMore(w, hits.More, len(hits.Bibs))
				return nil
			})
		}),
	}
	search.Flags().BoolVar(&searchJSON, "json", false, "print JSON")
	search.Flags().IntVar(&limit, "limit", circ.SearchLimit, "most records to list")
	return []*cobra.Command{show, search}
}

func printBib(w io.Writer, rec *bibRecord) {
	b := &rec.Bib
	var state []string
	for _, s := range []struct {
		on   bool
		name string
	}{{b.Deleted, "deleted"}, {b.Suppressed, "suppressed"}, {b.Temporary, "temporary (ILL)"}} {
		if s.on {
			state = append(state, s.name)
		}
	}
	printFields(w, [][2]string{{"id", fmt.Sprint(b.ID)}, {"001", b.ControlNumber}, {"title", b.Title}, {"author", b.Author},
		{"ISBN", b.ISBN}, {"call number", b.CallNumber}, {"material", b.MaterialType}, {"state", strings.Join(state, ", ")}})
	if len(rec.Items) == 0 {
		fmt.Fprintln(w, "\nno items")
		return
	}
	fmt.Fprintln(w, "\nitems:")
	printItems(w, "  ", rec.Items)
}

// printItems prints items as a table, each line after indent.
func printItems(w io.Writer, indent string, items []store.Item) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, indent+"BARCODE\tBIB\tLIBRARY\tLOCATION\tCALL NUMBER\tPOLICY\tSTATUS")
	for _, it := range items {
		fmt.Fprintf(tw, "%s%s\t%d\t%s\t%s\t%s\t%s\t%s\n", indent, it.Barcode, it.BibID, it.Library, it.Location, dash(it.CallNumber), it.Policy, it.Status)
	}
	tw.Flush()
}

func printMore(w io.Writer, more bool, shown int) {
	if more {
		fmt.Fprintf(w, "more… (the first %d shown; narrow the search or raise --limit)\n", shown)
	}
}

func newItemSearchCommand(a *app) *cobra.Command {
	var asJSON bool
	var limit int
	search := &cobra.Command{
		Use:   "search QUERY",
		Short: "Find items by barcode, the start of a call number, or their record's 001 or id",
		Args:  cobra.MinimumNArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				hits, err := b.svc.SearchItems(cmd.Context(), strings.Join(args, " "), limit)
				if err != nil {
					return usageError("%v", err)
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), hits)
				}
				w := cmd.OutOrStdout()
				if len(hits.Items) == 0 {
					fmt.Fprintln(w, "no items found")
					return nil
				}
				printItems(w, "", hits.Items)
				printMore(w, hits.More, len(hits.Items))
				return nil
			})
		}),
	}
	search.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	search.Flags().IntVar(&limit, "limit", circ.SearchLimit, "most items to list")
	return search
}
