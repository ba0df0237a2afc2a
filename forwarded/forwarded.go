// Package forwarded takes a request's client address and scheme from the
// headers a reverse proxy adds (Forwarded, RFC 7239, or else
// X-Forwarded-For and X-Forwarded-Proto), but only when the peer that sent
// the request is a configured proxy. From anyone else the headers are
// dropped: a partner could otherwise pick the address an allow-list or a
// log sees.
package forwarded

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the addresses and prefixes whose forwarding headers are
// believed. The zero value trusts nobody.
type Proxies []netip.Prefix

// ParseProxies reads IP addresses and CIDR prefixes, as given on the
// command line.
func ParseProxies(entries []string) (Proxies, error) {
	var p Proxies
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			pre, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an IP address or prefix", e)
			}
			p = append(p, pre.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an IP address or prefix", e)
		}
		a = a.Unmap().WithZone("")
		p = append(p, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// Contains reports whether a is one of the proxies.
func (p Proxies) Contains(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, pre := range p {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// headers are the request headers a proxy adds.
var headers = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Proto"}

type schemeKey struct{}

// Handler serves next with the proxy rule applied. For a request from one
// of proxies, RemoteAddr becomes the client's address (port 0 unless
// Forwarded gave one) and Scheme reports the scheme the client used; from
// any other peer the forwarding headers are removed before next sees them.
func Handler(proxies Proxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !proxies.Contains(peer.Addr()) {
			for _, h := range headers {
				r.Header.Del(h)
			}
			next.ServeHTTP(w, r)
			return
		}
		client, scheme := Client(peer.Addr(), r.Header, proxies)
		ctx := r.Context()
		if scheme != "" {
			ctx = context.WithValue(ctx, schemeKey{}, scheme)
		}
		r = r.WithContext(ctx)
		if client.Addr() != peer.Addr() {
			r.RemoteAddr = client.String()
		}
		next.ServeHTTP(w, r)
	})
}

// Scheme is "https" when the client reached us over TLS, directly or
// through a trusted proxy that says so, and "http" otherwise.
func Scheme(r *http.Request) string {
	if s, ok := r.Context().Value(schemeKey{}).(string); ok {
		return s
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// hop is one client a proxy names: its address (port 0 when not given)
// and the scheme it used, "" when not said.
type hop struct {
	addr   netip.AddrPort
	scheme string
}

// Client reads the forwarding headers of a request that peer, a trusted
// proxy, sent. Going back from the nearest hop, it skips the proxies and
// returns the first address that is not one, with the scheme that client
// used ("" when not said). A hop that is not an IP address (unknown, an
// obfuscated name, junk, none) ends the walk at the last address believed.
// Without addresses the client is peer itself, with the scheme the
// nearest proxy gives.
func Client(peer netip.Addr, h http.Header, proxies Proxies) (netip.AddrPort, string) {
	var hops []hop
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		hops = parseForwarded(fw)
	} else {
		hops = parseXForwarded(h.Values("X-Forwarded-For"), h.Values("X-Forwarded-Proto"))
	}
	client, scheme := netip.AddrPortFrom(peer, 0), ""
	for i := len(hops) - 1; i >= 0; i-- {
		if !hops[i].addr.IsValid() {
			if i == len(hops)-1 {
				// The nearest proxy names no client but may say the scheme.
				scheme = hops[i].scheme
			}
			break
		}
		client, scheme = hops[i].addr, hops[i].scheme
		if !proxies.Contains(client.Addr()) {
			break
		}
	}
	return client, scheme
}

// parseForwarded reads the elements of Forwarded headers (RFC 7239,
// section 4): for= and proto= of each; other parameters are ignored.
func parseForwarded(values []string) []hop {
	var hops []hop
	for _, v := range values {
		for _, elem := range splitQuoted(v, ',') {
			var hp hop
			for _, pair := range splitQuoted(elem, ';') {
				name, val, ok := strings.Cut(pair, "=")
				if !ok {
					continue
				}
				val = unquote(strings.TrimSpace(val))
				switch strings.ToLower(strings.TrimSpace(name)) {
				case "for":
					hp.addr = parseNode(val)
				case "proto":
					hp.scheme = parseScheme(val)
				}
			}
			hops = append(hops, hp)
		}
	}
	return hops
}

// parseXForwarded reads X-Forwarded-For with the schemes of
// X-Forwarded-Proto: one per address when the lists are as long, else
// the first (the original client's, as proxies that pass it on keep it).
func parseXForwarded(fors, protos []string) []hop {
	var addrs, schemes []string
	for _, v := range fors {
		addrs = append(addrs, strings.Split(v, ",")...)
	}
	for _, v := range protos {
		schemes = append(schemes, strings.Split(v, ",")...)
	}
	if len(addrs) == 0 && len(schemes) > 0 {
		return []hop{{scheme: parseScheme(schemes[0])}}
	}
	hops := make([]hop, len(addrs))
	for i, a := range addrs {
		hops[i].addr = parseNode(strings.TrimSpace(a))
		switch {
		case len(schemes) == len(addrs):
			hops[i].scheme = parseScheme(schemes[i])
		case len(schemes) > 0:
			hops[i].scheme = parseScheme(schemes[0])
		}
	}
	return hops
}

// parseNode reads an address as proxies write it: 192.0.2.1,
// 192.0.2.1:4711, 2001:db8::1, [2001:db8::1] or [2001:db8::1]:4711.
// Anything else (unknown, _hidden) is the zero value.
func parseNode(s string) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap().WithZone(""), 0)
	}
	return netip.AddrPort{}
}

func parseScheme(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "http" || s == "https" {
		return s
	}
	return ""
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote undoes a quoted-string (RFC 9110, section 5.6.4); a token is
// returned as it is.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
