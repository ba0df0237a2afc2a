package main

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/circa-ils/circa/store"
)

// peerActor is the user at the other end of an admin socket connection,
// from the kernel's credentials of the connecting process (SO_PEERCRED).
func peerActor(conn net.Conn) (store.Actor, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return store.Actor{}, fmt.Errorf("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return store.Actor{}, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return store.Actor{}, err
	}
	if credErr != nil {
		return store.Actor{}, credErr
	}
	return actorOfUID(int(cred.Uid), store.ViaAdminSocket), nil
}
