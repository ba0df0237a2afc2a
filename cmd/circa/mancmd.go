package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCommand writes a man page per command, from the same text as
// --help, so that the pages installed by the Debian package never drift
// from the binary beside them. Hidden: it is for the package build.
func newManCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages of every command to DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := a.path(args[0])
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			// The pages' date comes from SOURCE_DATE_EPOCH when set (cobra
			// reads it), so a rebuild of one commit gives the same package.
			disableAutoGenTag(root)
			header := &doc.GenManHeader{Section: "1", Source: "circa " + version, Manual: "circa manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			return nil
		},
	}
}

// disableAutoGenTag leaves out the "Auto generated" history section, which
// would date each page with the build rather than the release.
func disableAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGenTag(sub)
	}
}
