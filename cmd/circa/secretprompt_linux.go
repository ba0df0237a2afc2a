package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// promptWithoutEcho turns the terminal's echo off before it shows the
// prompt, so nothing typed once the prompt is visible is ever echoed, then
// reads one line and restores the terminal.
func promptWithoutEcho(f *os.File, w io.Writer, prompt string) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprintf(w, "%s: ", prompt)
	line, err := readSecretLine(f)
	fmt.Fprintln(w)
	return line, err
}
