package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/importer"
)

// csvImport describes one of the CSV importers to the command code they
// share.
type csvImport struct {
	name, short, long string
	// mapping resolves --mapping: the settings that change the outcome and
	// the parser of a file with the source's header.
	mapping func(name string) (settings any, parser func(src *importer.CSVSource) (func(importer.Row) (string, any, error), error), err error)
	unique  string // the key's name when a key may appear once
	apply   importer.Apply
	// prepare, when set, is importJob.prepare.
	prepare func(ctx context.Context, b *backend) func(*importer.Record) error
	// order, when set, reorders the records before the import (holds take
	// their queue order).
	order func(importer.Source) (importer.Source, error)
}

func newImportPatronsCommand(a *app) *cobra.Command {
	return csvImportCommand(a, csvImport{
		name: "patrons", short: "Import patrons from a CSV file (Koha's patron import file, an Alma report, or any layout a mapping describes)",
		long: `The mapping says which column is which field: koha (Koha's patron import
columns: cardnumber, surname, firstname, branchcode, categorycode, dateexpiry,
dateofbirth, email, phone, address, address2, city, state, zipcode, country,
password, lang, userid), alma (an Alma Analytics users report), or a YAML file:

  preset: koha                      # optional
  columns: {cardnumber: barcode, student_no: "identifier:university_id"}
  codes: {group: {PT: UNDERGRAD}, library: {CPL: MAIN}, language: {en: eng}}
  defaults: {home_library: MAIN, expiry: 2027-06-30}

A patron is matched on its barcode: a new one is created, a known one updated
where the file differs (an empty cell changes nothing). PINs are stored hashed.`,
		mapping: func(name string) (any, func(*importer.CSVSource) (func(importer.Row) (string, any, error), error), error) {
			m, err := importer.LoadPatronMapping(name)
			return m, m.PatronParser, err
		},
		unique: "barcode",
		apply:  importer.ApplyPatron,
		prepare: func(ctx context.Context, b *backend) func(*importer.Record) error {
			return importer.PreparePINs(ctx, b.svc)
		},
	})
}

func newImportLoansCommand(a *app) *cobra.Command {
	return csvImportCommand(a, csvImport{
		name: "loans", short: "Import open loans from a CSV file (patron, item, checkout_date, due_date, renewals; or Koha's issues)",
		long: `Columns (any case; Koha's names in brackets): patron [cardnumber], item [barcode],
checkout_date [issuedate], due_date [date_due], renewals [renewals_count].
Dates are YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] in the item's library's time zone.
The item becomes on loan; a past due date is kept, and the loan is overdue.`,
		mapping: func(name string) (any, func(*importer.CSVSource) (func(importer.Row) (string, any, error), error), error) {
			m, err := importer.LoadCircMapping(name)
			return m, m.LoanParser, err
		},
		unique: "item barcode",
		apply:  importer.ApplyLoan,
	})
}

func newImportHoldsCommand(a *app) *cobra.Command {
	return csvImportCommand(a, csvImport{
		name: "holds", short: "Import waiting holds from a CSV file, keeping each title's queue order (or Koha's reserves)",
		long: `Columns (any case; Koha's names in brackets): patron [cardnumber], item [barcode]
or bib [biblionumber] (the title's 001, or id:N), pickup [branchcode],
placed [reservedate], expires [expirationdate], priority. Rows are queued by
priority when the file has one, in file order otherwise.`,
		mapping: func(name string) (any, func(*importer.CSVSource) (func(importer.Row) (string, any, error), error), error) {
			m, err := importer.LoadCircMapping(name)
			return m, m.HoldParser, err
		},
		apply: importer.ApplyHold,
		order: importer.QueueOrder,
	})
}

func newImportFeesCommand(a *app) *cobra.Command {
	return csvImportCommand(a, csvImport{
		name: "fees", short: "Import open fees from a CSV file (patron, amount, type, date; or Koha's accountlines)",
		long: `Columns (any case; Koha's names in brackets): patron [cardnumber], amount,
outstanding [amountoutstanding], type [debit_type_code, accounttype], date,
description, item [barcode], library [branchcode]. Amounts are decimals in the
library's currency; more decimals than it has is refused. A type is a SIP2 fee
type 01–16, a name (overdue, damage, replacement, …) or a Koha debit type.`,
		mapping: func(name string) (any, func(*importer.CSVSource) (func(importer.Row) (string, any, error), error), error) {
			m, err := importer.LoadCircMapping(name)
			return m, m.FeeParser, err
		},
		apply: importer.ApplyFee,
	})
}

// csvImportCommand builds "circa import NAME FILE.csv".
func csvImportCommand(a *app, imp csvImport) *cobra.Command {
	var f importFlags
	var mapping, encoding string
	cmd := &cobra.Command{
		Use:   imp.name + " FILE.csv",
		Short: imp.short,
		Long:  imp.long + "\n\nThe file is UTF-8 (a byte-order mark is fine) unless --encoding says otherwise.",
		Args:  cobra.ExactArgs(1),
	}
	if imp.name == "patrons" {
		cmd.Flags().StringVar(&mapping, "mapping", "", "koha, alma or a MAPPING.yaml (required)")
		cmd.MarkFlagRequired("mapping")
	} else {
		cmd.Flags().StringVar(&mapping, "mapping", "", "koha or a MAPPING.yaml (default: circa's and Koha's column names)")
	}
	cmd.Flags().StringVar(&encoding, "encoding", "utf-8", "the file's encoding: utf-8, windows-1252 or latin-1")
	f.register(cmd)
	cmd.RunE = a.admin(func(cmd *cobra.Command, args []string) error {
		name := mapping
		if strings.ContainsAny(name, "./") {
			name = a.path(name) // a file, not a preset
		}
		m, parser, err := imp.mapping(name)
		if err != nil {
			return usageError("%w", err)
		}
		file := a.path(args[0])
		settings, err := json.Marshal(struct {
			Mapping  any
			Encoding string
		}{m, encoding})
		if err != nil {
			return err
		}
		job := importJob{
			what:     "import " + imp.name,
			files:    []string{file},
			settings: string(settings),
			open: func() (importer.Source, io.Closer, error) {
				fh, err := os.Open(file)
				if err != nil {
					return nil, nil, err
				}
				src, err := openCSV(fh, encoding, imp, parser)
				if err != nil {
					fh.Close()
					return nil, nil, fmt.Errorf("%s: %w", args[0], err)
				}
				return src, fh, nil
			},
			apply:   func(*backend) (importer.Apply, error) { return imp.apply, nil },
			prepare: imp.prepare,
		}
		return a.runImport(cmd, job, f)
	})
	return cmd
}

func openCSV(r io.Reader, encoding string, imp csvImport, parser func(*importer.CSVSource) (func(importer.Row) (string, any, error), error)) (importer.Source, error) {
	o := importer.CSVOptions{Encoding: encoding, UniqueKey: imp.unique}
	src, err := importer.NewCSVSource(r, o)
	if err != nil {
		return nil, err
	}
	parse, err := parser(src)
	if err != nil {
		return nil, err
	}
	src.SetParse(parse)
	if imp.order != nil {
		return imp.order(src)
	}
	return src, nil
}
