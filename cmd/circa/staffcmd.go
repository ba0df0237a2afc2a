package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/circa-ils/circa/statuspage"
)

// newStaffCommand manages the staff accounts that sign in to the status
// page. Passwords come from a prompt without echo, the first line of
// standard input or --password-file, never from the command line.
func newStaffCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "staff", Short: "Staff accounts that sign in to the status page (/status)"}
	withPassword := func(c *cobra.Command, password *string) *cobra.Command {
		addSecretFile(c.Flags(), "password", "the password", func(v string) error { *password = v; return nil })
		// Standard input (or the prompt) unless --password-file names a file.
		c.Flags().Set("password-file", "-")
		return c
	}
	var addPassword, newPassword string
	add := withPassword(&cobra.Command{
		Use:   "add NAME [--password-file PATH|-]",
		Short: fmt.Sprintf("Add a staff account (password of at least %d characters: prompted without echo, or the first line of standard input or --password-file)", statuspage.MinPasswordLen),
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				if err := statuspage.AddStaff(cmd.Context(), b.db, args[0], addPassword, b.svc.Now()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "staff account %s added\n", args[0])
				return nil
			})
		}),
	}, &addPassword)
	passwd := withPassword(&cobra.Command{
		Use:   "passwd NAME [--password-file PATH|-]",
		Short: "Give a staff account a new password; its browsers are signed out",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				if err := statuspage.SetStaffPassword(cmd.Context(), b.db, args[0], newPassword, b.svc.Now()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %s set\n", args[0])
				return nil
			})
		}),
	}, &newPassword)
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a staff account; its browsers are signed out at their next page view",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				if err := statuspage.RemoveStaff(cmd.Context(), b.db, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "staff account %s removed\n", args[0])
				return nil
			})
		}),
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the staff accounts",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				accounts, err := statuspage.ListStaff(cmd.Context(), b.db)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				type shown struct {
					Name        string `json:"name"`
					Created     string `json:"created"`
					PasswordSet string `json:"password_set"`
				}
				zone := b.zone(cmd.Context(), "")
				rows := make([]shown, 0, len(accounts))
				for _, s := range accounts {
					rows = append(rows, shown{Name: s.Name, Created: showTime(s.Created, zone), PasswordSet: showTime(s.PasswordSet, zone)})
				}
				if asJSON {
					return printJSON(out, rows)
				}
				if len(rows) == 0 {
					fmt.Fprintln(out, "no staff accounts (circa staff add NAME makes one)")
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tCREATED\tPASSWORD SET")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Created, r.PasswordSet)
				}
				return tw.Flush()
			})
		}),
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(add, passwd, remove, list)
	return cmd
}
