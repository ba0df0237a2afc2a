//go:build !linux

package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// promptWithoutEcho shows the prompt and reads one line with echo off.
func promptWithoutEcho(f *os.File, w io.Writer, prompt string) (string, error) {
	fmt.Fprintf(w, "%s: ", prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(w)
	return string(b), err
}
