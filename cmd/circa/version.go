package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set at build time (make build does): go build -ldflags "-X main.version=…
// -X main.commit=… -X main.buildDate=…". A build without them falls back to
// what the Go toolchain recorded in the binary.
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

// buildInfo says which circa a binary is.
type buildInfo struct {
	Version   string
	Commit    string
	Modified  bool   // built from a tree with uncommitted changes
	Date      string // when it was built, or else its commit's time
	DateIsVCS bool   // Date is the commit's time
	Go        string // toolchain and platform: go1.26.8 linux/amd64
}

// currentBuild describes this binary.
func currentBuild() buildInfo {
	info, _ := debug.ReadBuildInfo()
	return describeBuild(info)
}

// describeBuild fills what -ldflags left unset from info (nil when the
// binary records none): the module version of a go install, the commit and
// its time of a go build in a git checkout.
func describeBuild(info *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: buildDate, Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if info == nil {
		return b
	}
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	vcs := map[string]string{}
	for _, s := range info.Settings {
		vcs[s.Key] = s.Value
	}
	if b.Commit == "" {
		b.Commit, b.Modified = vcs["vcs.revision"], vcs["vcs.modified"] == "true"
	}
	if b.Date == "" && vcs["vcs.time"] != "" {
		b.Date, b.DateIsVCS = vcs["vcs.time"], true
	}
	return b
}

// String is what circa version and circa --version print.
func (b buildInfo) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "circa %s\n", b.Version)
	commit, date := b.Commit, b.Date
	if commit == "" {
		commit = "unknown"
	} else if b.Modified {
		commit += " (with uncommitted changes)"
	}
	if date == "" {
		date = "unknown"
	} else if b.DateIsVCS {
		date += " (the commit's time)"
	}
	fmt.Fprintf(&s, "  commit  %s\n  built   %s\n  go      %s\n", commit, date, b.Go)
	return s.String()
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), currentBuild())
			return err
		},
	}
}
