//go:build unix

package main

import "syscall"

// umask sets the process file-creation mask and returns the previous one,
// so the admin socket is created owner-only with no window of wider access.
func umask(mask int) int { return syscall.Umask(mask) }
