package main

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/importer"
)

// matchModes are the values of --match.
var matchModes = map[string]circ.MatchBy{"001": circ.MatchControlNumber, "035": circ.MatchSystemNumber, "isbn": circ.MatchISBN}

func newImportMARCCommand(a *app) *cobra.Command {
	var f importFlags
	var items, match string
	cmd := &cobra.Command{
		Use:   "marc FILE… --items koha|evergreen|sierra|symphony|alma|MAPPING.yaml [--match 001|035|isbn]",
		Short: "Import catalogue records with their items from MARC files (ISO 2709, MARC-8 or UTF-8, or MARCXML)",
		Long: `Import catalogue records with their items from an ILS's MARC export.

A record whose 001 matches a bib updates it (with --match 035 or isbn, a bib
with the same 035 $a or ISBN, before the 001); any other creates a bib (a record
without 001 gets one derived from its content, so importing it again finds it).
Items come from the item fields the export carries: --items names a preset for
Koha (952), Evergreen (852), Sierra (949), Symphony (999) or Alma publishing
(852 holdings with 876 items), or a YAML mapping file for anything else. Items
are matched by barcode; an item on loan, on the hold shelf or in transit keeps
its status.

A record with a problem (unknown library, location or item policy, an item
without a barcode, a barcode another record's item holds …) is reported with
its number and nothing of it is imported.`,
		Args: cobra.MinimumNArgs(1),
		// It runs in this process, not through the admin socket, and is
		// audited all the same.
		RunE: a.audited(func(cmd *cobra.Command, args []string) error {
			if items == "" {
				return usageError("--items is required: a preset (%s) or a mapping file", strings.Join(importer.PresetNames(), ", "))
			}
			by, ok := matchModes[match]
			if !ok {
				return usageError("--match %q: one of 001, 035 or isbn", match)
			}
			mappingArg := items
			if _, err := os.Stat(a.path(items)); err == nil {
				mappingArg = a.path(items)
			}
			m, err := importer.LoadItemMapping(mappingArg)
			if err != nil {
				return usageError("%v", err)
			}
			canonical, err := yaml.Marshal(m)
			if err != nil {
				return err
			}
			files := make([]string, len(args))
			for i, name := range args {
				files[i] = a.path(name)
			}
			job := importJob{
				what:     "import marc",
				files:    files,
				settings: "match " + match + "\x00" + string(canonical),
				open: func() (importer.Source, io.Closer, error) {
					src := importer.NewMARCSource(files...)
					return src, src, nil
				},
				apply: func(*backend) (importer.Apply, error) { return importer.MARCApply(m, by), nil },
				batch: importer.MARCBatch,
			}
			return a.runImport(cmd, job, f)
		}),
	}
	f.register(cmd)
	cmd.Flags().StringVar(&items, "items", "", "where the records carry their items: "+strings.Join(importer.PresetNames(), ", ")+", or a mapping YAML file")
	cmd.Flags().StringVar(&match, "match", "001", "how a record finds the bib it updates: 001, 035 (its 035 $a, then its 001) or isbn (its first 020 $a, then its 001)")
	return cmd
}
