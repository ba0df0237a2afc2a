//go:build linux

package sip2

import (
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// TestScanBytesStaysInPage puts frames of every length up to 48 at the very
// end of a page followed by an inaccessible one, and at the start of a page
// that follows an inaccessible one: reading past either edge would fault.
func TestScanBytesStaysInPage(t *testing.T) {
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip(err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Skip(err)
	}
	if err := syscall.Mprotect(mem[2*page:], syscall.PROT_NONE); err != nil {
		t.Skip(err)
	}
	body := mem[page : 2*page]
	text := strings.Repeat("AB01|\x7f\x1fé|", 10)
	for n := 0; n <= 48; n++ {
		for _, at := range []int{0, len(body) - n} {
			copy(body[at:], text[:n])
			s := ""
			if n > 0 {
				s = unsafe.String(&body[at], n)
			}
			var want uint32
			for i := 0; i < n; i++ {
				want += uint32(s[i])
			}
			sum, clean, pipes := scanText(UTF8, s)
			if sum != want || clean != (n <= 5) || pipes != strings.Count(s, "|") {
				t.Fatalf("len %d at %d: %d %v %d", n, at, sum, clean, pipes)
			}
			var m Message
			m.scanFrame(s, 0, n, UTF8)
			var w Message
			w.splitFields(s)
			if !equalFields(m.Fields, w.Fields) {
				t.Fatalf("len %d at %d: fields %q, want %q", n, at, m.Fields, w.Fields)
			}
		}
	}
}

func equalFields(a, b []Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
