package selfcheck

import (
	"strings"
	"testing"

	"github.com/circa-ils/circa/fixtures"
)

// BenchmarkPatronStatus measures a 23/24 exchange over loopback TCP with a
// PIN check (cached after the first verification).
func BenchmarkPatronStatus(b *testing.B) {
	e := newEnv(b).start()
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	line := "23001" + D + "AOMAIN|AA21000000000001|AC|AD1234|"
	for b.Loop() {
		if got := k.send(line); !strings.HasPrefix(got, "24 ") {
			b.Fatal(got)
		}
	}
}

// BenchmarkCheckoutCheckin measures a checkout and a checkin over loopback
// TCP, each a durable (fsynced) store transaction.
func BenchmarkCheckoutCheckin(b *testing.B) {
	e := newEnv(b).start()
	k := e.dial()
	k.login(fixtures.KioskLogin, fixtures.KioskPassword)
	out := "11YN" + D + B + "AOMAIN|AA21000000000001|AB31000000000001|AC|AD1234|"
	in := "09N" + D + D + "APMAIN|AOMAIN|AB31000000000001|AC|"
	for b.Loop() {
		if got := k.send(out); !strings.HasPrefix(got, "121") {
			b.Fatal(got)
		}
		if got := k.send(in); !strings.HasPrefix(got, "101") {
			b.Fatal(got)
		}
	}
}
