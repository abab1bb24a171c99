// Package netns lets a client in one network namespace reach a server in
// another without any network interface between them: a socket belongs to
// the namespace it was created in, whoever uses it later. DialIn creates and
// connects a TCP socket inside a given namespace; SendFD hands it to another
// process over a Unix socket, which is how OpenSSH's ProxyUseFdpass takes
// its connection from a ProxyCommand.
//
// The WAN benchmark uses it so that ssh, lftp and the load generator run in
// a namespace of their own (where the tunnel's forwards can use the servers'
// own port numbers) while their SSH connection reaches the relay on the
// host's loopback. Nothing here is used by the daemon.
package netns

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// DialIn returns a blocking TCP socket connected to addr (an IPv4 or IPv6
// "host:port" literal) from inside the network namespace nsPath (for example
// /proc/PID/ns/net). The calling goroutine's OS thread enters the namespace
// for the socket and connect calls only, and is discarded afterwards (it
// stays locked, so the Go runtime ends it instead of reusing it).
func DialIn(nsPath, addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return -1, fmt.Errorf("netns: address %q: %w", addr, err)
	}
	ns, err := os.Open(nsPath)
	if err != nil {
		return -1, fmt.Errorf("netns: %w", err)
	}
	defer ns.Close()
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{-1, fmt.Errorf("netns: entering %s: %w", nsPath, err)}
			return
		}
		fd, err := connect(ap)
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

func connect(ap netip.AddrPort) (int, error) {
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("netns: socket: %w", err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("netns: connecting to %s: %w", ap, err)
	}
	return fd, nil
}

// SendFD sends fd over the Unix socket sock as SCM_RIGHTS, with one byte of
// data (a message must carry some).
func SendFD(sock, fd int) error {
	if err := unix.Sendmsg(sock, []byte{0}, unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("netns: passing the socket: %w", err)
	}
	return nil
}

// RecvFD receives one file descriptor sent by SendFD.
func RecvFD(sock int) (int, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(sock, make([]byte, 1), oob, 0)
	if err != nil {
		return -1, fmt.Errorf("netns: receiving a socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("netns: no socket in the message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("netns: no socket in the message (%v)", err)
	}
	return fds[0], nil
}
