//go:build !linux

package main

import (
	"errors"
	"net"

	"github.com/circa-ils/circa/store"
)

// peerActor needs the kernel's peer credentials, read here on Linux only.
func peerActor(net.Conn) (store.Actor, error) {
	return store.Actor{}, errors.New("peer credentials are read on Linux only")
}
