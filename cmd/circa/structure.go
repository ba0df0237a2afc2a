package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// structureKind describes libraries, locations, desks, patron groups or
// item policies to the five commands every one of them has; the rules live in circ, these only
// translate flags and print.
type structureKind[T any] struct {
	name, plural string
	// bind binds the flags of add and edit to a record.
	bind func(fs *pflag.FlagSet, r *T)
	// apply copies the flags given from src to dst.
	apply  func(fs *pflag.FlagSet, dst, src *T)
	add    func(b *backend, cmd *cobra.Command, r T) error
	edit   func(b *backend, cmd *cobra.Command, code string, change func(*T)) error
	remove func(b *backend, cmd *cobra.Command, code string) error
	code   func(r *T) *string
	get    func(tx store.Tx, code string) (T, error)
	all    func(tx store.Tx) ([]T, error)
	row    func(r *T) []string // list columns, the code first
	header []string
	fields func(r *T) [][2]string // show's lines
}

func newLibraryCommand(a *app) *cobra.Command {
	return structureCommands(a, structureKind[store.Library]{
		name: "library", plural: "libraries",
		bind: func(fs *pflag.FlagSet, r *store.Library) {
			fs.StringVar(&r.Name, "name", "", "name shown to staff and patrons")
			fs.StringVar(&r.Timezone, "timezone", "", "IANA time zone times are shown in (e.g. Europe/Berlin)")
			fs.StringVar(&r.Currency, "currency", "", "ISO 4217 currency of its fees (e.g. EUR)")
			fs.StringVar(&r.Address, "address", "", "postal address")
		},
		apply: func(fs *pflag.FlagSet, dst, src *store.Library) {
			set(fs, "name", &dst.Name, src.Name)
			set(fs, "timezone", &dst.Timezone, src.Timezone)
			set(fs, "currency", &dst.Currency, src.Currency)
			set(fs, "address", &dst.Address, src.Address)
		},
		add: func(b *backend, cmd *cobra.Command, r store.Library) error {
			return b.svc.AddLibrary(cmd.Context(), r, staffAgent(r.Code))
		},
		edit: func(b *backend, cmd *cobra.Command, code string, change func(*store.Library)) error {
			return b.svc.EditLibrary(cmd.Context(), code, change, staffAgent(code))
		},
		remove: func(b *backend, cmd *cobra.Command, code string) error {
			return b.svc.RemoveLibrary(cmd.Context(), code, staffAgent(""))
		},
		code:   func(r *store.Library) *string { return &r.Code },
		get:    func(tx store.Tx, code string) (store.Library, error) { return tx.Library(code) },
		all:    func(tx store.Tx) ([]store.Library, error) { return tx.Libraries() },
		header: []string{"CODE", "NAME", "TIME ZONE", "CURRENCY"},
		row: func(r *store.Library) []string {
			return []string{r.Code, r.Name, r.Timezone, r.Currency}
		},
		fields: func(r *store.Library) [][2]string {
			return [][2]string{{"code", r.Code}, {"name", r.Name}, {"time zone", r.Timezone}, {"currency", r.Currency}, {"address", r.Address}}
		},
	})
}

func newLocationCommand(a *app) *cobra.Command {
	return structureCommands(a, structureKind[store.Location]{
		name: "location", plural: "locations",
		bind: func(fs *pflag.FlagSet, r *store.Location) {
			fs.StringVar(&r.Library, "library", "", "library the location belongs to")
			fs.StringVar(&r.Name, "name", "", "name shown to staff and patrons")
			fs.BoolVar(&r.NotCirculating, "not-circulating", false, "items stay in the building (reference, reading room); =false to circulate again")
			fs.StringVar(&r.CallNumberType, "call-number-type", "", "call-number scheme of its shelves (lc, dewey, local, …)")
			fs.BoolVar(&r.RemoteStorage, "remote-storage", false, "items are kept at a remote-storage facility; =false for on-site shelves")
			fs.StringVar(&r.Facility, "facility", "", "remote-storage facility holding its items")
		},
		apply: func(fs *pflag.FlagSet, dst, src *store.Location) {
			set(fs, "library", &dst.Library, src.Library)
			set(fs, "name", &dst.Name, src.Name)
			set(fs, "not-circulating", &dst.NotCirculating, src.NotCirculating)
			set(fs, "call-number-type", &dst.CallNumberType, src.CallNumberType)
			set(fs, "remote-storage", &dst.RemoteStorage, src.RemoteStorage)
			set(fs, "facility", &dst.Facility, src.Facility)
		},
		add: func(b *backend, cmd *cobra.Command, r store.Location) error {
			return b.svc.AddLocation(cmd.Context(), r, staffAgent(r.Library))
		},
		edit: func(b *backend, cmd *cobra.Command, code string, change func(*store.Location)) error {
			return b.svc.EditLocation(cmd.Context(), code, change, staffAgent(""))
		},
		remove: func(b *backend, cmd *cobra.Command, code string) error {
			return b.svc.RemoveLocation(cmd.Context(), code, staffAgent(""))
		},
		code:   func(r *store.Location) *string { return &r.Code },
		get:    func(tx store.Tx, code string) (store.Location, error) { return tx.Location(code) },
		all:    func(tx store.Tx) ([]store.Location, error) { return tx.Locations() },
		header: []string{"CODE", "LIBRARY", "NAME", "CIRCULATES", "STORAGE"},
		row: func(r *store.Location) []string {
			return []string{r.Code, r.Library, r.Name, yesNo(!r.NotCirculating), orDash(r.Facility)}
		},
		fields: func(r *store.Location) [][2]string {
			return [][2]string{{"code", r.Code}, {"library", r.Library}, {"name", r.Name}, {"circulates", yesNo(!r.NotCirculating)},
				{"call-number type", r.CallNumberType}, {"remote storage", yesNo(r.RemoteStorage)}, {"facility", r.Facility}}
		},
	})
}

func newDeskCommand(a *app) *cobra.Command {
	return structureCommands(a, structureKind[store.Desk]{
		name: "desk", plural: "desks",
		bind: func(fs *pflag.FlagSet, r *store.Desk) {
			fs.StringVar(&r.Library, "library", "", "library the desk is at")
			fs.StringVar(&r.Name, "name", "", "name shown to staff")
			fs.StringSliceVar(&r.Locations, "locations", nil, "locations of its library whose items it serves (comma-separated)")
		},
		apply: func(fs *pflag.FlagSet, dst, src *store.Desk) {
			set(fs, "library", &dst.Library, src.Library)
			set(fs, "name", &dst.Name, src.Name)
			set(fs, "locations", &dst.Locations, src.Locations)
		},
		add: func(b *backend, cmd *cobra.Command, r store.Desk) error {
			return b.svc.AddDesk(cmd.Context(), r, staffAgent(r.Library))
		},
		edit: func(b *backend, cmd *cobra.Command, code string, change func(*store.Desk)) error {
			return b.svc.EditDesk(cmd.Context(), code, change, staffAgent(""))
		},
		remove: func(b *backend, cmd *cobra.Command, code string) error {
			return b.svc.RemoveDesk(cmd.Context(), code, staffAgent(""))
		},
		code:   func(r *store.Desk) *string { return &r.Code },
		get:    func(tx store.Tx, code string) (store.Desk, error) { return tx.Desk(code) },
		all:    func(tx store.Tx) ([]store.Desk, error) { return tx.Desks() },
		header: []string{"CODE", "LIBRARY", "NAME", "LOCATIONS"},
		row: func(r *store.Desk) []string {
			return []string{r.Code, r.Library, orDash(r.Name), orDash(strings.Join(r.Locations, ","))}
		},
		fields: func(r *store.Desk) [][2]string {
			return [][2]string{{"code", r.Code}, {"library", r.Library}, {"name", r.Name}, {"locations", strings.Join(r.Locations, ", ")}}
		},
	})
}

func structureCommands[T any](a *app, k structureKind[T]) *cobra.Command {
	cmd := &cobra.Command{Use: k.name, Short: "Add, change, list, show and remove " + k.plural}

	addScratch := new(T)
	add := &cobra.Command{
		Use:   "add CODE",
		Short: "Add a " + k.name,
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				r := new(T)
				k.apply(cmd.Flags(), r, addScratch)
				*k.code(r) = args[0]
				if err := k.add(b, cmd, *r); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s %s\n", k.name, args[0])
				return nil
			})
		}),
	}
	k.bind(add.Flags(), addScratch)

	editScratch := new(T)
	edit := &cobra.Command{
		Use:   "edit CODE",
		Short: "Change a " + k.name + " (only the flags given)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			if err := needSetting(cmd); err != nil {
				return err
			}
			return a.withBackend(func(b *backend) error {
				err := k.edit(b, cmd, args[0], func(r *T) { k.apply(cmd.Flags(), r, editScratch) })
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "changed %s %s\n", k.name, args[0])
				return nil
			})
		}),
	}
	k.bind(edit.Flags(), editScratch)

	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List " + k.plural,
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				var all []T
				err := b.db.View(cmd.Context(), func(tx store.Tx) error {
					var err error
					all, err = k.all(tx)
					return err
				})
				if err != nil {
					return err
				}
				if listJSON {
					if all == nil {
						all = []T{}
					}
					return printJSON(cmd.OutOrStdout(), all)
				}
				if len(all) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "no %s\n", k.plural)
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, strings.Join(k.header, "\t"))
				for i := range all {
					fmt.Fprintln(tw, strings.Join(k.row(&all[i]), "\t"))
				}
				return tw.Flush()
			})
		}),
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	var showJSON bool
	show := &cobra.Command{
		Use:   "show CODE",
		Short: "Show a " + k.name + " and what names it",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				var r T
				var hint string
				err := b.db.View(cmd.Context(), func(tx store.Tx) error {
					var err error
					r, err = k.get(tx, args[0])
					if errors.Is(err, store.ErrNotFound) {
						all, _ := k.all(tx)
						codes := make([]string, len(all))
						for i := range all {
							codes[i] = *k.code(&all[i])
						}
						hint = store.DidYouMean(args[0], codes)
					}
					return err
				})
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no %s %s%s", k.name, args[0], hint)
				}
				if err != nil {
					return err
				}
				refs, err := b.svc.References(cmd.Context(), k.name, args[0])
				if err != nil {
					return err
				}
				if showJSON {
					return printJSON(cmd.OutOrStdout(), struct {
						Record T              `json:"record"`
						UsedBy map[string]int `json:"used_by"`
					}{r, refs.Counts})
				}
				printFields(cmd.OutOrStdout(), append(k.fields(&r), [2]string{"in use", inUse(refs)}))
				return nil
			})
		}),
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")

	remove := &cobra.Command{
		Use:   "remove CODE",
		Short: "Remove a " + k.name + " nothing refers to",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				if err := k.remove(b, cmd, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s %s\n", k.name, args[0])
				return nil
			})
		}),
	}
	cmd.AddCommand(add, edit, list, show, remove)
	return cmd
}

// set copies a flag's value when the flag was given.
func set[V any](fs *pflag.FlagSet, name string, dst *V, v V) {
	if fs.Changed(name) {
		*dst = v
	}
}

func printFields(w io.Writer, fields [][2]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], orDash(f[1]))
	}
	tw.Flush()
}

func inUse(refs *circ.Referrers) string {
	if len(refs.Counts) == 0 {
		return "no"
	}
	return refs.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// needSetting refuses an edit given none of its own flags.
func needSetting(cmd *cobra.Command) error {
	given := false
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) { given = given || f.Changed })
	if !given {
		return usageError("no setting given to change")
	}
	return nil
}
