package passive

import (
	"net"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBindToLoopback(t *testing.T) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := bindToLoopback(l); err != nil {
		t.Fatalf("bindToLoopback: %v", err)
	}
	raw, _ := l.SyscallConn()
	var dev string
	raw.Control(func(fd uintptr) { dev, err = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE) })
	if err != nil || strings.TrimRight(dev, "\x00") != "lo" {
		t.Fatalf("SO_BINDTODEVICE = %q, %v", dev, err)
	}
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("loopback connect refused: %v", err)
	}
	c.Close()
}
