package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles/delivery"
	"github.com/circa-ils/circa/profiles/oai"
	"github.com/circa-ils/circa/profiles/publishing"
	"github.com/circa-ils/circa/schemas"
	"github.com/circa-ils/circa/store"
)

// addCatalogCommands adds the catalogue and publishing commands: bib, the
// add, move and delete subcommands of item, publish and oai.
func addCatalogCommands(root *cobra.Command, a *app) {
	for _, c := range root.Commands() {
		if c.Name() == "item" {
			c.Short = "Show, find, add, move and delete items"
			c.AddCommand(newItemCatalogCommands(a)...)
			c.AddCommand(newItemSearchCommand(a))
		}
	}
	for _, c := range []*cobra.Command{newBibCommand(a), newPublishCommand(a), newOAICommand(a)} {
		c.GroupID = "admin"
		root.AddCommand(c)
	}
}

func newBibCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "bib", Short: "Show, find, add, replace, delete and suppress bibliographic records"}
	add := &cobra.Command{
		Use:   "add FILE.xml",
		Short: "Add MARCXML records (a record or a collection); a record whose 001 is known replaces it",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			data, err := readInput(a, cmd, args[0])
			if err != nil {
				return err
			}
			recs, err := circ.ParseMARCXML(data)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			return a.withBackend(func(b *backend) error {
				changes, err := b.svc.PutBibs(cmd.Context(), staffAgent(""), recs)
				out := cmd.OutOrStdout()
				for _, c := range changes {
					what := "replaced"
					switch {
					case c.Created:
						what = "added"
					case c.Restored:
						what = "restored"
					}
					fmt.Fprintf(out, "%s bib %d %s: %s\n", what, c.Bib.ID, dash(c.Bib.ControlNumber), c.Bib.Title)
				}
				return refusalError("bib add", err)
			})
		}),
	}
	del := &cobra.Command{
		Use:   "delete BIB",
		Short: "Delete a record: its items go, a tombstone stays for harvesters",
		Long:  "Delete a record: its items go, a tombstone stays for harvesters. " + bibArg + ".",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				bib, err := resolveBib(cmd.Context(), b, args[0])
				if err != nil {
					return err
				}
				id := bib.ID
				c, err := b.svc.DeleteBib(cmd.Context(), staffAgent(""), id)
				if err := refusalError("bib delete", err); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted bib %d %s: %s\n", id, dash(c.Bib.ControlNumber), c.Bib.Title)
				return nil
			})
		}),
	}
	suppress := func(use, short string, on bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " BIB",
			Short: short,
			Long:  short + ". " + bibArg + ".",
			Args:  cobra.ExactArgs(1),
			RunE: a.admin(func(cmd *cobra.Command, args []string) error {
				return a.withBackend(func(b *backend) error {
					bib, err := resolveBib(cmd.Context(), b, args[0])
					if err != nil {
						return err
					}
					id := bib.ID
					c, err := b.svc.SuppressBib(cmd.Context(), staffAgent(""), id, on)
					if err := refusalError("bib "+use, err); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%sed bib %d: %s\n", use, id, c.Bib.Title)
					return nil
				})
			}),
		}
	}
	cmd.AddCommand(newBibQueryCommands(a)...)
	cmd.AddCommand(add, del,
		suppress("suppress", "Hide a record from publishing (published as deleted); its items stay", true),
		suppress("unsuppress", "Publish a suppressed record again", false))
	return cmd
}

// readInput reads a file argument, or stdin for "-".
func readInput(a *app, cmd *cobra.Command, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	return os.ReadFile(a.path(name))
}

func newItemCatalogCommands(a *app) []*cobra.Command {
	var n circ.NewItem
	var bib, status string
	add := &cobra.Command{
		Use:   "add BARCODE --bib BIB --location LOCATION",
		Short: "Add an item to a record, at its holding for the location",
		Long:  "Add an item to a record, at its holding for the location. " + bibArg + ".",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				rec, err := resolveBib(cmd.Context(), b, bib)
				if err != nil {
					return err
				}
				item := n
				item.BibID, item.Barcode, item.Status = rec.ID, args[0], store.ItemStatus(status)
				it, err := b.svc.AddItem(cmd.Context(), staffAgent(""), item)
				if err := refusalError("item add", err); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added item %s to bib %d at %s / %s\n", it.Barcode, it.BibID, it.Library, it.Location)
				return nil
			})
		}),
	}
	f := add.Flags()
	f.StringVar(&bib, "bib", "", "the record the item belongs to: its 001, its id, or id:N")
	f.StringVar(&n.Location, "location", "", "shelving location code")
	f.StringVar(&n.Policy, "policy", "BOOK", "item policy (the column of the loan rules; it must exist, see circa policy)")
	f.StringVar(&n.MediaType, "media-type", "", "SIP2 media type, 000–010 (default: the policy's, then 001)")
	f.StringVar(&n.CallNumber, "call-number", "", "call number (default: the holding's, then the record's)")
	f.StringVar(&status, "status", string(store.ItemAvailable), "item status")
	f.IntVar(&n.Pieces, "pieces", 1, "number of pieces")
	add.MarkFlagRequired("bib")
	add.MarkFlagRequired("location")

	var moveCall string
	move := &cobra.Command{
		Use:   "move BARCODE LOCATION",
		Short: "Shelve an item at another location",
		Args:  cobra.ExactArgs(2),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				it, err := b.svc.MoveItem(cmd.Context(), staffAgent(""), args[0], args[1], moveCall)
				if err := refusalError("item move", err); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "moved item %s to %s / %s\n", it.Barcode, it.Library, it.Location)
				return nil
			})
		}),
	}
	move.Flags().StringVar(&moveCall, "call-number", "", "new call number")

	del := &cobra.Command{
		Use:   "delete BARCODE",
		Short: "Delete an item (not while it is on loan)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				it, err := b.svc.RemoveItem(cmd.Context(), staffAgent(""), args[0])
				if err := refusalError("item delete", err); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted item %s of bib %d\n", it.Barcode, it.BibID)
				return nil
			})
		}),
	}
	return []*cobra.Command{add, move, del}
}

// publisher returns the file publisher of a backend: files are built in
// DATA-DIR/publishing until delivered.
func publisherOf(b *backend) (*publishing.Publisher, error) {
	return publishing.NewPublisher(b.db, publishing.PublisherOptions{Dir: filepath.Join(b.dataDir, "publishing")})
}

func newPublishCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "publish", Short: "Manage publishing profiles and deliver catalogue files"}
	runKind := func(use, short string, full bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " CODE",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: a.admin(func(cmd *cobra.Command, args []string) error {
				return a.withBackend(func(b *backend) error {
					p, err := publisherOf(b)
					if err != nil {
						return err
					}
					run := p.Incremental
					if full {
						run = p.Full
					}
					res, err := run(cmd.Context(), args[0])
					if errors.Is(err, store.ErrNotFound) {
						return &exitError{code: 1, err: err}
					}
					if err != nil {
						return err
					}
					out := cmd.OutOrStdout()
					if len(res.Files) == 0 {
						fmt.Fprintf(out, "%s: nothing changed up to %s\n", res.Profile, res.Through.Format("2006-01-02T15:04:05Z"))
						return nil
					}
					resumed := ""
					if res.Resumed {
						resumed = " (finished an interrupted delivery)"
					}
					fmt.Fprintf(out, "%s: delivered %s: %d records, %d deleted%s\n", res.Profile, strings.Join(res.Files, ", "), res.Records, res.Deleted, resumed)
					return nil
				})
			}),
		}
	}
	profile := &cobra.Command{Use: "profile", Short: "Import, list and remove publishing profiles"}
	imp := &cobra.Command{
		Use:   "import FILE.yaml",
		Short: "Add or replace publishing profiles from YAML (one profile or a list)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			data, err := readInput(a, cmd, args[0])
			if err != nil {
				return err
			}
			profs, err := parseProfiles(data)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			return a.withBackend(func(b *backend) error {
				if skip, _ := cmd.Flags().GetBool("no-check"); !skip {
					if err := checkPublishingTargets(cmd.Context(), b, profs); err != nil {
						return &exitError{code: 1, err: fmt.Errorf("%s: %w\n(--no-check imports them anyway)", args[0], err)}
					}
				}
				if err := publishing.SaveProfiles(cmd.Context(), b.db, profs...); err != nil {
					return &exitError{code: 1, err: err}
				}
				for _, p := range profs {
					fmt.Fprintf(cmd.OutOrStdout(), "saved publishing profile %s (OAI set %s)\n", p.Code, publishing.ProfileSet(p.Code))
				}
				return nil
			})
		}),
	}
	imp.Flags().Bool("no-check", false, noCheckHelp)
	list := &cobra.Command{
		Use:   "list",
		Short: "List publishing profiles",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				profs, err := publishing.LoadProfiles(cmd.Context(), b.db)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CODE\tSET\tEVERY\tFORMAT\tTARGET")
				for _, p := range profs {
					every, target, format := "on demand", "-", p.Format
					if p.Every > 0 {
						every = p.Every.String()
					}
					if p.Target != nil {
						target = p.Target.String()
					}
					if format == "" {
						format = publishing.FormatMARCXML
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Code, publishing.ProfileSet(p.Code), every, format, target)
				}
				return tw.Flush()
			})
		}),
	}
	remove := &cobra.Command{
		Use:   "remove CODE",
		Short: "Remove a publishing profile and its run state",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				if err := publishing.RemoveProfile(cmd.Context(), b.db, args[0]); err != nil {
					return &exitError{code: 1, err: err}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed publishing profile %s\n", args[0])
				return nil
			})
		}),
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show each publishing profile's progress: delivered up to, files, pending delivery, last error",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				profs, err := publishing.LoadProfiles(cmd.Context(), b.db)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CODE	DELIVERED UP TO	FILES	RECORDS HELD	PENDING	LAST ERROR")
				for _, p := range profs {
					s, err := publishing.LoadStatus(cmd.Context(), b.db, p.Code)
					if err != nil {
						return err
					}
					through, pending := "-", "-"
					if !s.Through.IsZero() {
						through = s.Through.Format("2006-01-02T15:04:05Z")
					}
					if s.Pending != "" {
						pending = s.Pending + " (" + string(s.Step) + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", p.Code, through, s.Runs, s.Held, pending, dash(oneLine(s.Failed)))
				}
				return tw.Flush()
			})
		}),
	}
	profile.AddCommand(imp, list, remove)
	cmd.AddCommand(status)
	cmd.AddCommand(profile,
		runKind("full", "Deliver every live record of the profile's selection (the first load)", true),
		runKind("run", "Deliver the records changed since the profile's last run", false))
	return cmd
}

// checkPublishingTargets checks the delivery target of every profile that
// has one, unless the profile is saved already with that target: a run
// marks records published only into files that can be delivered. A
// profile that does not validate is left to SaveProfiles to refuse.
func checkPublishingTargets(ctx context.Context, b *backend, profs []publishing.Profile) error {
	saved, err := publishing.LoadProfiles(ctx, b.db)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range profs {
		if p.Target == nil || p.Validate() != nil {
			continue
		}
		i := slices.IndexFunc(saved, func(s publishing.Profile) bool { return s.Code == p.Code })
		if i >= 0 && saved[i].Target != nil && *saved[i].Target == *p.Target {
			continue
		}
		if err := delivery.CheckTarget(ctx, *p.Target); err != nil {
			errs = append(errs, fmt.Errorf("publishing profile %s: %w", p.Code, err))
		}
	}
	return errors.Join(errs...)
}

// parseProfiles reads one profile or a list of them.
func parseProfiles(data []byte) ([]publishing.Profile, error) {
	var list []publishing.Profile
	if err := yaml.Unmarshal(data, &list); err == nil && len(list) > 0 {
		return list, nil
	}
	var one publishing.Profile
	if err := yaml.Unmarshal(data, &one); err != nil {
		return nil, err
	}
	if one.Code == "" {
		return nil, errors.New("no publishing profile found (a mapping with code, or a list of them)")
	}
	return []publishing.Profile{one}, nil
}

type harvestOptions struct {
	prefix, from, until, set string
	identifiers, validate    bool
}

func newOAICommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "oai", Short: "Harvest OAI-PMH repositories"}
	o := &harvestOptions{}
	harvest := &cobra.Command{
		Use:   "harvest URL --prefix PREFIX",
		Short: "Harvest a repository to the end of its list and print a summary",
		Long: `Harvest lists a repository with ListRecords (or ListIdentifiers), following
resumptionTokens, and checks that every page is well-formed OAI-PMH. With
--validate each page is also validated against the official OAI-PMH, oai_dc
and MARC21slim schemas built into circa, with xmllint (Debian package
libxml2-utils), offline.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHarvest(cmd.Context(), cmd.OutOrStdout(), args[0], o)
		},
	}
	f := harvest.Flags()
	f.StringVar(&o.prefix, "prefix", "oai_dc", "metadataPrefix")
	f.StringVar(&o.from, "from", "", "from datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)")
	f.StringVar(&o.until, "until", "", "until datestamp")
	f.StringVar(&o.set, "set", "", "setSpec")
	f.BoolVar(&o.identifiers, "identifiers", false, "list headers only (ListIdentifiers)")
	f.BoolVar(&o.validate, "validate", false, "validate every page with xmllint against the OAI-PMH schemas")
	cmd.AddCommand(harvest)
	return cmd
}

func runHarvest(ctx context.Context, out io.Writer, url string, o *harvestOptions) error {
	ho := oai.HarvestOptions{Prefix: o.prefix, From: o.from, Until: o.until, Set: o.set, IdentifiersOnly: o.identifiers}
	if o.validate {
		dir, remove, err := schemas.WriteTemp()
		if err != nil {
			return err
		}
		defer remove()
		v, err := oai.XMLLintValidator(filepath.Join(dir, schemas.OAIDir))
		if err != nil {
			return err
		}
		ho.Validate = v
	}
	sum, err := oai.Harvest(ctx, url, ho, func(oai.HarvestedRecord) error { return nil })
	fmt.Fprintf(out, "pages\t%d\nrecords\t%d\ndeleted\t%d\n", sum.Pages, sum.Records, sum.Deleted)
	if sum.CompleteListSize > 0 {
		fmt.Fprintf(out, "list size\t%d\n", sum.CompleteListSize)
	}
	if sum.ResponseDate != "" {
		fmt.Fprintf(out, "response date\t%s (the from of the next incremental harvest)\n", sum.ResponseDate)
	}
	if o.validate && err == nil {
		fmt.Fprintf(out, "validated\t%d pages\n", sum.Pages)
	}
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("harvest %s: %w", url, err)}
	}
	return nil
}
