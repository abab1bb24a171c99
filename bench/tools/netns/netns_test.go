package netns

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// needRoot skips without root, except under TUNNELFTPD_E2E=1 (CI), where
// missing root is a failure.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("TUNNELFTPD_E2E") == "1" {
			t.Fatal("TUNNELFTPD_E2E=1 but not root: the test enters network namespaces")
		}
		t.Skip("not root: the test enters network namespaces")
	}
}

// inNewNamespace runs f on a thread that has left for a new, empty network
// namespace (not even lo is up), and discards that thread afterwards.
func inNewNamespace(t *testing.T, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		f()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestDialInReachesAnotherNamespace: from a thread in a fresh namespace,
// 127.0.0.1 of the host cannot be reached directly, but DialIn into the
// host's namespace gives a socket connected to the host's listener, and
// SendFD/RecvFD hand it over intact.
func TestDialInReachesAnotherNamespace(t *testing.T) {
	needRoot(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("hello from the host"))
		c.Close()
	}()
	host, err := os.Open("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	hostPath := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), host.Fd())

	var direct error
	var fd int = -1
	var dialErr error
	inNewNamespace(t, func() {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err == nil {
			a := l.Addr().(*net.TCPAddr)
			direct = unix.Connect(s, &unix.SockaddrInet4{Port: a.Port, Addr: [4]byte{127, 0, 0, 1}})
			unix.Close(s)
		}
		fd, dialErr = DialIn(hostPath, l.Addr().String())
	})
	if direct == nil {
		t.Fatal("the new namespace reached the host's listener directly: the test proves nothing")
	}
	if dialErr != nil {
		t.Fatal(dialErr)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	if err := SendFD(pair[0], fd); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	got, err := RecvFD(pair[1])
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(got), "passed")
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "hello from the host" {
		t.Fatalf("read %q through the passed socket", b)
	}
}

func TestDialInBadAddress(t *testing.T) {
	if _, err := DialIn("/proc/self/ns/net", "localhost:22"); err == nil {
		t.Fatal("a host name was accepted; DialIn takes literals only")
	}
}
