package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// staffAgent is who staff commands act as: the command line at a library.
func staffAgent(library string) circ.Agent {
	return circ.Agent{Protocol: "cli", Account: "staff", Library: library}
}

// refusalError turns a circulation refusal into the command's one-line
// error; other errors pass through.
func refusalError(what string, err error) error { return refusalErrorIn(what, err, time.UTC) }

// refusalErrorIn is refusalError with dates shown in a library's zone.
func refusalErrorIn(what string, err error, zone *time.Location) error {
	if err == nil {
		return nil
	}
	var refusal *circ.Error
	if errors.As(err, &refusal) {
		msg := refusal.Code.String()
		if more := append(nonEmpty(refusal.Detail), refusalFacts(refusal.Facts, zone)...); len(more) > 0 {
			msg += " (" + strings.Join(more, "; ") + ")"
		}
		return &exitError{code: 1, err: fmt.Errorf("%s refused: %s", what, msg)}
	}
	return err
}

// refusalFacts says the figures behind a refusal for staff, block note
// included.
func refusalFacts(f circ.Facts, zone *time.Location) []string {
	var out []string
	if f.BlockNote != "" {
		out = append(out, "note: "+strings.Join(strings.Fields(f.BlockNote), " "))
	}
	if f.BalanceLimit > 0 {
		out = append(out, fmt.Sprintf("owes %s %s, limit %s %s", circ.FormatAmount(f.Balance, f.Currency), f.Currency,
			circ.FormatAmount(f.BalanceLimit, f.Currency), f.Currency))
	}
	if f.LoanLimit > 0 {
		out = append(out, fmt.Sprintf("%d loans, limit %d", f.Loans, f.LoanLimit))
	}
	if f.OverdueLimit > 0 {
		out = append(out, fmt.Sprintf("%d overdue, limit %d", f.Overdue, f.OverdueLimit))
	}
	if !f.Expiry.IsZero() {
		out = append(out, "expiry date "+f.Expiry.In(zone).Format("2006-01-02"))
	}
	if !f.Due.IsZero() {
		out = append(out, "due "+showTime(f.Due, zone))
	}
	return out
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func showTime(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(zone).Format("2006-01-02 15:04 MST")
}

func newCheckoutCommand(a *app) *cobra.Command {
	var library string
	cmd := &cobra.Command{
		Use:   "checkout PATRON ITEM",
		Short: "Lend an item to a patron, by the same rules as a kiosk",
		Args:  cobra.ExactArgs(2),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				zone := b.zone(cmd.Context(), library)
				res, err := b.svc.Checkout(cmd.Context(), circ.CheckoutRequest{Agent: staffAgent(library), Patron: args[0], Item: args[1]})
				if err := refusalErrorIn("checkout", err, zone); err != nil {
					return err
				}
				verb := "checked out"
				if res.Renewed {
					verb = "renewed"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s %q to %s, due %s\n", verb, res.Item.Barcode, res.Item.Title, res.Patron.Barcode, showTime(res.Due, zone))
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&library, "library", "MAIN", "library the desk is at")
	return cmd
}

func newCheckinCommand(a *app) *cobra.Command {
	var library string
	cmd := &cobra.Command{
		Use:   "checkin ITEM",
		Short: "Take an item back and say where it goes next",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				res, err := b.svc.Checkin(cmd.Context(), circ.CheckinRequest{Agent: staffAgent(library), Item: args[0]})
				notOnLoan := errors.Is(err, circ.ErrItemNotOnLoan)
				if !notOnLoan {
					if err := refusalError("checkin", err); err != nil {
						return err
					}
				}
				out := cmd.OutOrStdout()
				if notOnLoan {
					fmt.Fprintf(out, "%s was not on loan\n", res.Item.Barcode)
				} else {
					fmt.Fprintf(out, "checked in %s %q from %s\n", res.Item.Barcode, res.Item.Title, res.Patron.Barcode)
				}
				if res.Fine > 0 {
					fmt.Fprintf(out, "overdue fine %s %s\n", circ.FormatAmount(res.Fine, res.Currency), res.Currency)
				}
				switch res.Alert {
				case circ.AlertHoldHere:
					fmt.Fprintf(out, "HOLD SHELF for patron %s\n", res.Waiting.Barcode)
				case circ.AlertHoldElsewere:
					fmt.Fprintf(out, "IN TRANSIT to %s for patron %s\n", res.Destination, res.Waiting.Barcode)
				case circ.AlertTransit:
					fmt.Fprintf(out, "IN TRANSIT to %s\n", res.Destination)
				default:
					fmt.Fprintf(out, "reshelve at %s\n", res.Item.Location)
				}
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&library, "library", "MAIN", "library the item is returned at")
	return cmd
}

func newRenewCommand(a *app) *cobra.Command {
	var library string
	cmd := &cobra.Command{
		Use:   "renew PATRON ITEM",
		Short: "Renew a patron's loan",
		Args:  cobra.ExactArgs(2),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				zone := b.zone(cmd.Context(), library)
				res, err := b.svc.Renew(cmd.Context(), circ.RenewRequest{Agent: staffAgent(library), Patron: args[0], Item: args[1]})
				if err := refusalErrorIn("renewal", err, zone); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "renewed %s for %s, due %s (renewal %d)\n", res.Item.Barcode, res.Patron.Barcode,
					showTime(res.Due, zone), res.Renewals)
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&library, "library", "MAIN", "library the desk is at")
	return cmd
}

func newPatronCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "patron", Short: "Add, change, find, show, block and remove patrons; set, check and unlock their PINs"}
	var asJSON bool
	show := &cobra.Command{
		Use:   "show PATRON",
		Short: "Show a patron's record, standing, loans, requests and fees",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				sum, err := b.svc.PatronStatus(cmd.Context(), circ.PatronQuery{Patron: args[0]})
				if err != nil {
					return err
				}
				if !sum.Valid {
					return &exitError{code: 1, err: fmt.Errorf("no patron %s", args[0])}
				}
				lock, err := b.svc.PINLockOf(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					sum.Patron.PINHash = ""
					return printJSON(cmd.OutOrStdout(), struct {
						circ.PatronSummary
						PINLock circ.PINLock `json:"pin_lock"`
					}{sum, lock})
				}
				zone := b.zone(cmd.Context(), sum.Patron.HomeLibrary)
				printPatron(cmd.OutOrStdout(), &sum, zone)
				fmt.Fprintf(cmd.OutOrStdout(), "PIN: %s\n", pinState(lock, b.svc.Now(), zone))
				return nil
			})
		}),
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var note, typ string
	block := &cobra.Command{
		Use:   "block PATRON",
		Short: "Place a block on a patron",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				_, err := b.svc.Block(cmd.Context(), circ.BlockRequest{Agent: staffAgent(""), Patron: args[0], Type: typ, Note: note})
				if err := refusalError("block", err); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "blocked %s\n", args[0])
				return nil
			})
		}),
	}
	block.Flags().StringVar(&note, "note", "", "reason, shown to staff")
	block.Flags().StringVar(&typ, "type", "manual", "block type")
	var unblockType string
	unblock := &cobra.Command{
		Use:   "unblock PATRON",
		Short: "Lift a patron's blocks (all, or those of --type)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				_, err := b.svc.Unblock(cmd.Context(), circ.BlockRequest{Agent: staffAgent(""), Patron: args[0], Type: unblockType})
				if err := refusalError("unblock", err); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "unblocked %s\n", args[0])
				return nil
			})
		}),
	}
	unblock.Flags().StringVar(&unblockType, "type", "", "only blocks of this type")
	cmd.AddCommand(show, block, unblock)
	cmd.AddCommand(newPatronPINCommands(a)...)
	cmd.AddCommand(newPatronAdminCommands(a)...)
	return cmd
}

func printPatron(w io.Writer, s *circ.PatronSummary, zone *time.Location) {
	p := &s.Patron
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "patron\t%s\n", p.Barcode)
	fmt.Fprintf(tw, "name\t%s\n", p.FullName())
	fmt.Fprintf(tw, "group\t%s\n", p.UserGroup)
	fmt.Fprintf(tw, "home library\t%s\n", p.HomeLibrary)
	fmt.Fprintf(tw, "expires\t%s\n", showTime(p.Expiry, zone))
	if p.External {
		fmt.Fprintf(tw, "external\tyes (student information system)\n")
	}
	for _, id := range p.Identifiers {
		fmt.Fprintf(tw, "identifier\t%s %s\n", id.Type, id.Value)
	}
	for _, c := range p.Contacts {
		v := c.Value
		if c.Kind == "address" {
			v = strings.Join(nonEmpty(c.Line1, c.Line2, c.City, c.Region, c.Postal, c.Country), ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\n", c.Kind, v)
	}
	for _, bl := range p.Blocks {
		fmt.Fprintf(tw, "block\t%s %s (since %s)\n", bl.Type, bl.Note, showTime(bl.Created, zone))
	}
	standing := "may borrow"
	if s.Refusal != circ.OK {
		standing = s.Refusal.String()
	}
	fmt.Fprintf(tw, "standing\t%s\n", standing)
	fmt.Fprintf(tw, "balance\t%s %s\n", circ.FormatAmount(s.Standing.Balance, s.Currency), s.Currency)
	if s.Standing.Credit > 0 {
		fmt.Fprintf(tw, "credit\t%s %s\n", circ.FormatAmount(s.Standing.Credit, s.Currency), s.Currency)
	}
	tw.Flush()
	if len(s.Loans) > 0 {
		fmt.Fprintln(w, "\nloans:")
		printLoans(w, s.Loans, zone)
	}
	if len(s.Holds) > 0 {
		fmt.Fprintln(w, "\nrequests:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tSTATUS\tPOSITION\tPICKUP\tITEM\tTITLE")
		for _, h := range s.Holds {
			fmt.Fprintf(tw, "  %d\t%s\t%d\t%s\t%s\t%s\n", h.ID, h.Status, h.Position, h.Pickup, dash(h.Item), h.Title)
		}
		tw.Flush()
	}
	if len(s.Fees) > 0 {
		fmt.Fprintln(w, "\nfees:")
		printFees(w, s.Fees, zone)
	}
}

func printLoans(w io.Writer, loans []circ.LoanBrief, zone *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ITEM\tDUE\tRENEWALS\tSTATE\tTITLE")
	for _, l := range loans {
		state := ""
		if l.Overdue {
			state = "overdue"
		}
		if l.Recalled {
			state = strings.TrimSpace(state + " recalled")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", l.Item.Barcode, showTime(l.Due, zone), l.Renewals, dash(state), l.Item.Title)
	}
	tw.Flush()
}

func printFees(w io.Writer, fees []store.Fee, zone *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tTYPE\tAMOUNT\tBALANCE\tSTATUS\tCREATED\tDESCRIPTION")
	for _, f := range fees {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.Type, circ.FormatAmount(f.Amount, f.Currency),
			circ.FormatAmount(f.Balance, f.Currency)+" "+f.Currency, f.Status, showTime(f.Created, zone), f.Description)
	}
	tw.Flush()
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newItemCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "item", Short: "Show items"}
	var asJSON bool
	show := &cobra.Command{
		Use:   "show ITEM",
		Short: "Show an item's record, status, loan and hold queue",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				sum, err := b.svc.ItemInfo(cmd.Context(), args[0])
				if err := refusalError("item", err); err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), sum)
				}
				zone := b.zone(cmd.Context(), sum.Item.Library)
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				it := sum.Item
				fmt.Fprintf(tw, "item\t%s\n", it.Barcode)
				fmt.Fprintf(tw, "title\t%s\n", it.Title)
				if it.Author != "" {
					fmt.Fprintf(tw, "author\t%s\n", it.Author)
				}
				fmt.Fprintf(tw, "call number\t%s\n", dash(it.CallNumber))
				fmt.Fprintf(tw, "library/location\t%s / %s\n", it.Library, it.Location)
				fmt.Fprintf(tw, "policy\t%s\n", it.Policy)
				fmt.Fprintf(tw, "media type\t%s (magnetic: %v, pieces: %d)\n", it.MediaType, it.Magnetic, it.Pieces)
				fmt.Fprintf(tw, "status\t%s (SIP2 %s)\n", it.Status, sum.CircStatus)
				if sum.Borrower != nil {
					fmt.Fprintf(tw, "on loan to\t%s, due %s\n", sum.Borrower.Barcode, showTime(sum.Due, zone))
				}
				if sum.HeldFor != nil {
					fmt.Fprintf(tw, "held for\t%s\n", sum.HeldFor.Barcode)
				}
				if sum.Destination != "" {
					fmt.Fprintf(tw, "in transit to\t%s\n", sum.Destination)
				}
				fmt.Fprintf(tw, "hold queue\t%d\n", sum.HoldQueue)
				return tw.Flush()
			})
		}),
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(show)
	return cmd
}

func newLoanCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "loan", Short: "List loans"}
	var patron string
	var overdue, history, asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List a patron's loans (--patron), or every overdue loan (--overdue)",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			if (patron == "") == !overdue {
				return usageError("give --patron PATRON or --overdue")
			}
			return a.withBackend(func(b *backend) error {
				if overdue {
					return listOverdue(cmd.Context(), cmd.OutOrStdout(), b, asJSON)
				}
				loans, err := listLoans(cmd.Context(), b, patron, history)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), loans)
				}
				if len(loans) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no loans")
					return nil
				}
				printLoans(cmd.OutOrStdout(), loans, b.zone(cmd.Context(), ""))
				return nil
			})
		}),
	}
	list.Flags().StringVar(&patron, "patron", "", "patron barcode")
	list.Flags().BoolVar(&overdue, "overdue", false, "every overdue loan")
	list.Flags().BoolVar(&history, "history", false, "with --patron: returned loans instead of open ones")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	return cmd
}

// overdueLoan is one line of the overdue list.
type overdueLoan struct {
	Patron      string    `json:"patron"`
	Item        string    `json:"item"`
	Title       string    `json:"title"`
	Due         time.Time `json:"due"`
	DaysOverdue int       `json:"days_overdue"`
}

// listOverdue prints every overdue loan, most overdue first (the store's
// order), with the due
// date in the library's zone and the started days past it.
func listOverdue(ctx context.Context, w io.Writer, b *backend, asJSON bool) error {
	now := b.svc.Now()
	out := []overdueLoan{}
	err := b.db.View(ctx, func(tx store.Tx) error {
		var loans []store.Loan
		err := tx.OpenLoansDueBefore(now, func(l store.Loan) bool { loans = append(loans, l); return true })
		if err != nil {
			return err
		}
		for _, l := range loans {
			it, err := tx.Item(l.ItemID)
			if err != nil {
				return err
			}
			p, err := tx.Patron(l.PatronID)
			if err != nil {
				return err
			}
			o := overdueLoan{Patron: p.Barcode, Item: it.Barcode, Due: l.Due, DaysOverdue: daysLate(l.Due, now)}
			if bib, err := tx.Bib(it.BibID); err == nil {
				o.Title = bib.Title
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(w, "no overdue loans")
		return nil
	}
	zone := b.zone(ctx, "")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATRON\tITEM\tTITLE\tDUE\tDAYS OVERDUE")
	for _, o := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", o.Patron, o.Item, o.Title, showTime(o.Due, zone), o.DaysOverdue)
	}
	return tw.Flush()
}

// daysLate counts the started days from due to now, as fines do.
func daysLate(due, now time.Time) int {
	late := now.Sub(due)
	if late <= 0 {
		return 0
	}
	return int((late + 24*time.Hour - 1) / (24 * time.Hour))
}

func listLoans(ctx context.Context, b *backend, patron string, history bool) ([]circ.LoanBrief, error) {
	now := b.svc.Now()
	var out []circ.LoanBrief
	err := b.db.View(ctx, func(tx store.Tx) error {
		p, err := tx.PatronByBarcode(patron)
		if errors.Is(err, store.ErrNotFound) {
			return &exitError{code: 1, err: fmt.Errorf("no patron %s", patron)}
		}
		if err != nil {
			return err
		}
		var loans []store.Loan
		if history {
			loans, err = tx.LoanHistoryOfPatron(p.ID)
		} else {
			loans, err = tx.OpenLoansOfPatron(p.ID)
		}
		if err != nil {
			return err
		}
		for _, l := range loans {
			it, err := tx.Item(l.ItemID)
			if err != nil {
				return err
			}
			lb := circ.LoanBrief{LoanID: l.ID, Out: l.Out, Due: l.Due, Renewals: l.Renewals, Recalled: l.Recalled,
				Overdue: l.Open() && now.After(l.Due)}
			lb.Item.Barcode, lb.Item.ID, lb.Item.Library = it.Barcode, it.ID, it.Library
			if bib, err := tx.Bib(it.BibID); err == nil {
				lb.Item.Title = bib.Title
			}
			out = append(out, lb)
		}
		return nil
	})
	return out, err
}

func newFeeCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "fee", Short: "List and pay fees"}
	var all, asJSON bool
	list := &cobra.Command{
		Use:   "list PATRON",
		Short: "List a patron's outstanding fees (--all: every fee)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				var fees []store.Fee
				err := b.db.View(cmd.Context(), func(tx store.Tx) error {
					p, err := tx.PatronByBarcode(args[0])
					if errors.Is(err, store.ErrNotFound) {
						return &exitError{code: 1, err: fmt.Errorf("no patron %s", args[0])}
					}
					if err != nil {
						return err
					}
					fs, err := tx.FeesOfPatron(p.ID)
					for _, f := range fs {
						if all || f.Outstanding() {
							fees = append(fees, f)
						}
					}
					return err
				})
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), fees)
				}
				if len(fees) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no fees")
					return nil
				}
				printFees(cmd.OutOrStdout(), fees, b.zone(cmd.Context(), ""))
				return nil
			})
		}),
	}
	list.Flags().BoolVar(&all, "all", false, "include settled fees")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var feeID, txnID, currency, payType string
	var waive bool
	pay := &cobra.Command{
		Use:   "pay PATRON AMOUNT",
		Short: "Pay (or --waive) an amount: a named fee (--fee) or the oldest fees first",
		Args:  cobra.ExactArgs(2),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				cur := currency
				if cur == "" {
					cur = b.svc.Rules().Currency
				}
				amount, err := circ.ParseAmount(args[1], cur)
				if err != nil {
					return usageError("%v", err)
				}
				var id uint64
				if feeID != "" {
					if id, err = strconv.ParseUint(feeID, 10, 64); err != nil {
						return usageError("--fee %q is not a fee id", feeID)
					}
				}
				res, err := b.svc.PayFee(cmd.Context(), circ.PayRequest{Agent: staffAgent(""), Patron: args[0], FeeID: id,
					Amount: amount, Currency: cur, PaymentType: payType, TransactionID: txnID, Waive: waive})
				if err := refusalError("payment", err); err != nil {
					return err
				}
				if res.Replayed {
					fmt.Fprintf(cmd.OutOrStdout(), "payment %s already recorded, nothing charged\n", res.TransactionID)
				}
				for _, ap := range res.Applied {
					fmt.Fprintf(cmd.OutOrStdout(), "fee %d: %s applied, %s left\n", ap.FeeID,
						circ.FormatAmount(ap.Amount, res.Currency), circ.FormatAmount(ap.Balance, res.Currency))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "outstanding %s %s\n", circ.FormatAmount(res.Remaining, res.Currency), res.Currency)
				return nil
			})
		}),
	}
	pay.Flags().StringVar(&feeID, "fee", "", "fee id to pay (default: oldest first)")
	pay.Flags().StringVar(&txnID, "transaction", "", "external transaction id; a repeat with the same id pays nothing twice")
	pay.Flags().StringVar(&currency, "currency", "", "currency (default: the installation's)")
	pay.Flags().StringVar(&payType, "payment-type", "00", "SIP2 payment type: 00 cash, 01 VISA, 02 credit card")
	pay.Flags().BoolVar(&waive, "waive", false, "waive instead of pay")
	cmd.AddCommand(list, pay)
	return cmd
}
