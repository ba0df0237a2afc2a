package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/store"
)

// Patron groups and item policies have the same five commands as the
// library's structure; circ checks them and refuses removing one in use.

func newGroupCommand(a *app) *cobra.Command {
	return structureCommands(a, structureKind[store.Group]{
		name: "group", plural: "groups",
		bind: func(fs *pflag.FlagSet, r *store.Group) {
			fs.StringVar(&r.Name, "name", "", "name shown to staff")
			fs.StringVar(&r.Auth, "auth", circ.AuthLocal, "how the group's patrons prove who they are: local (their PIN) or ldap:CODE (their password, checked by LDAP profile CODE)")
		},
		apply: func(fs *pflag.FlagSet, dst, src *store.Group) {
			set(fs, "name", &dst.Name, src.Name)
			set(fs, "auth", &dst.Auth, src.Auth)
		},
		add: func(b *backend, cmd *cobra.Command, r store.Group) error {
			return b.svc.AddGroup(cmd.Context(), r, staffAgent(""))
		},
		edit: func(b *backend, cmd *cobra.Command, code string, change func(*store.Group)) error {
			return b.svc.EditGroup(cmd.Context(), code, change, staffAgent(""))
		},
		remove: func(b *backend, cmd *cobra.Command, code string) error {
			return b.svc.RemoveGroup(cmd.Context(), code, staffAgent(""))
		},
		code:   func(r *store.Group) *string { return &r.Code },
		get:    func(tx store.Tx, code string) (store.Group, error) { return tx.Group(code) },
		all:    func(tx store.Tx) ([]store.Group, error) { return tx.Groups() },
		header: []string{"CODE", "NAME", "AUTH"},
		row:    func(r *store.Group) []string { return []string{r.Code, r.Name, authOrLocal(r.Auth)} },
		fields: func(r *store.Group) [][2]string {
			return [][2]string{{"code", r.Code}, {"name", r.Name}, {"auth", authOrLocal(r.Auth)}}
		},
	})
}

// authOrLocal names a group's auth, local when it names none.
func authOrLocal(auth string) string {
	if auth == "" {
		return circ.AuthLocal
	}
	return auth
}

func newPolicyCommand(a *app) *cobra.Command {
	return structureCommands(a, structureKind[store.Policy]{
		name: "policy", plural: "item policies",
		bind: func(fs *pflag.FlagSet, r *store.Policy) {
			fs.StringVar(&r.Name, "name", "", "name shown to staff")
			fs.StringVar(&r.MediaType, "media-type", "", "SIP2 media type (000–010) given to new items of the policy that name none")
		},
		apply: func(fs *pflag.FlagSet, dst, src *store.Policy) {
			set(fs, "name", &dst.Name, src.Name)
			set(fs, "media-type", &dst.MediaType, src.MediaType)
		},
		add: func(b *backend, cmd *cobra.Command, r store.Policy) error {
			return b.svc.AddPolicy(cmd.Context(), r, staffAgent(""))
		},
		edit: func(b *backend, cmd *cobra.Command, code string, change func(*store.Policy)) error {
			return b.svc.EditPolicy(cmd.Context(), code, change, staffAgent(""))
		},
		remove: func(b *backend, cmd *cobra.Command, code string) error {
			return b.svc.RemovePolicy(cmd.Context(), code, staffAgent(""))
		},
		code:   func(r *store.Policy) *string { return &r.Code },
		get:    func(tx store.Tx, code string) (store.Policy, error) { return tx.Policy(code) },
		all:    func(tx store.Tx) ([]store.Policy, error) { return tx.Policies() },
		header: []string{"CODE", "NAME", "MEDIA TYPE"},
		row:    func(r *store.Policy) []string { return []string{r.Code, r.Name, orDash(r.MediaType)} },
		fields: func(r *store.Policy) [][2]string {
			return [][2]string{{"code", r.Code}, {"name", r.Name}, {"media type", r.MediaType}}
		},
	})
}

// newInstitutionCommand shows and sets the institution code that published
// holdings (852 $a) and bursar files carry.
func newInstitutionCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "institution", Short: "Show or set the institution code files and published records carry"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the institution (the first library's code until one is set)",
		Args:  cobra.NoArgs,
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				var in store.Institution
				err := b.db.View(cmd.Context(), func(tx store.Tx) error {
					var err error
					in, err = tx.Institution()
					return err
				})
				if errors.Is(err, store.ErrNotFound) {
					return errors.New("no institution set and no library yet: circa institution set CODE")
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "code\t%s\nname\t%s\n", in.Code, in.Name)
				return nil
			})
		}),
	}
	var name string
	set := &cobra.Command{
		Use:   "set CODE",
		Short: "Set the institution code (and --name)",
		Args:  cobra.ExactArgs(1),
		RunE: a.admin(func(cmd *cobra.Command, args []string) error {
			return a.withBackend(func(b *backend) error {
				if err := b.svc.SetInstitution(cmd.Context(), store.Institution{Code: args[0], Name: name}, staffAgent("")); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "institution %s\n", args[0])
				return nil
			})
		}),
	}
	set.Flags().StringVar(&name, "name", "", "the institution's name")
	cmd.AddCommand(show, set)
	return cmd
}
