package launchtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"golang.org/x/sys/unix"
)

// netnsPair is two network namespaces joined by a veth pair: the daemon
// runs in one, the client's sockets live in the other. Taking the client's
// link down makes the client vanish for real: no FIN, no RST, no ACK, every
// packet the server sends is lost.
type netnsPair struct {
	t                *testing.T
	srv, cli         string // namespace names
	srvIf, cliIf     string // veth ends
	srvAddr, cliAddr string
}

func newNetnsPair(t *testing.T) *netnsPair {
	t.Helper()
	testutil.Privileged(t, "creates network namespaces")
	testutil.RequireTool(t, "ip")
	id := os.Getpid() % 100000
	n := &netnsPair{t: t, srv: fmt.Sprintf("tftpd-rs-%d", id), cli: fmt.Sprintf("tftpd-rc-%d", id),
		srvIf: fmt.Sprintf("trs%d", id), cliIf: fmt.Sprintf("trc%d", id),
		srvAddr: "10.213.0.1", cliAddr: "10.213.0.2"}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", n.srv).Run()
		exec.Command("ip", "netns", "del", n.cli).Run()
	})
	n.ip("netns", "add", n.srv)
	n.ip("netns", "add", n.cli)
	// Both ends are created directly in their namespaces: nothing touches
	// the host's own network namespace.
	n.ip("link", "add", n.srvIf, "netns", n.srv, "type", "veth", "peer", "name", n.cliIf, "netns", n.cli)
	for _, side := range [][3]string{{n.srv, n.srvIf, n.srvAddr}, {n.cli, n.cliIf, n.cliAddr}} {
		n.ip("-n", side[0], "addr", "add", side[2]+"/30", "dev", side[1])
		n.ip("-n", side[0], "link", "set", side[1], "up")
		n.ip("-n", side[0], "link", "set", "lo", "up")
	}
	return n
}

func (n *netnsPair) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// clientLink takes the client's end of the link down or up.
func (n *netnsPair) clientLink(up bool) {
	n.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	n.ip("-n", n.cli, "link", "set", n.cliIf, state)
}

// dial connects from inside the client namespace. The socket is created on
// an OS thread switched into that namespace; a socket belongs for good to
// the namespace it was created in. The thread stays locked and is discarded
// when the goroutine ends, so it never returns to the pool.
func (n *netnsPair) dial(addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+n.cli, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns: %w", err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// TestClientVanishesWithoutFIN: the client's host disappears in the middle
// of a download, then of an upload (its network link goes down: no FIN, no
// RST, nothing). The data connection moves nothing, so the stall watchdog
// closes it after data_timeout; the transfer is logged as incomplete; the
// control connection is closed after idle_timeout; the partial upload is
// kept. Without the watchdog the download would wait for TCP's own timeout
// (about 15 minutes of retransmissions) and the upload forever.
// Guards: watchStall (server/passive/dataconn.go) for a peer that is gone rather than slow
// (TestDataStallWatchdog in package server covers a peer that stops reading).
func TestClientVanishesWithoutFIN(t *testing.T) {
	n := newNetnsPair(t)
	const dataTimeout, idleTimeout = 2 * time.Second, 4 * time.Second
	f := newFixture(t, busyOptions(testutil.DaemonOptions{
		Listen:      n.srvAddr + ":2121",
		Ports:       [2]int{30000, 30004},
		Address:     "control", // PASV names the address the client reached
		DataTimeout: dataTimeout.String(),
		IdleTimeout: idleTimeout.String(),
		Wait:        "1s",
	}))
	f.Serve("ip", "netns", "exec", n.srv)
	big := bytes.Repeat([]byte("v"), 64<<20)
	if err := os.WriteFile(filepath.Join(f.Root, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}

	for i, upload := range []bool{false, true} {
		what, article := "download", "a"
		if upload {
			what, article = "upload", "an"
		}
		n.clientLink(true)
		rc, err := f.TryClient(n.dial)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		data, err := rc.TryOpenData() // dialled from the client namespace too
		if err != nil {
			t.Fatal(err)
		}
		defer data.Close()
		if upload {
			if _, err := rc.TryExpect(150, "STOR part.bin"); err != nil {
				t.Fatal(err)
			}
			data.Write(big[:1<<20])
			part := filepath.Join(f.Root, "part.bin")
			testutil.WaitFor(t, 10*time.Second, 10*time.Millisecond, "the first MiB of the upload to arrive", func() bool {
				fi, err := os.Stat(part)
				return err == nil && fi.Size() >= 1<<20
			})
		} else {
			if _, err := rc.TryExpect(150, "RETR big.bin"); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(data, make([]byte, 1<<20)); err != nil {
				t.Fatal(err)
			}
		}

		gone := time.Now()
		n.clientLink(false) // the client vanishes: nothing more reaches the server, nothing comes back
		re := regexp.MustCompile(`msg="transfer incomplete" .*direction=` + what)
		f.WaitLog(re, dataTimeout+10*time.Second)
		cut := time.Since(gone)
		if cut < dataTimeout {
			t.Errorf("%s cut %v after the client vanished, before data_timeout (%v)", what, cut, dataTimeout)
		}
		if !strings.Contains(f.Logs(), `msg="data connection stalled, closing it"`) {
			t.Errorf("%s: not cut by the stall watchdog", what)
		}
		ended := regexp.MustCompile(fmt.Sprintf(`msg="session ended" session=%d `, i+1))
		f.WaitLog(ended, idleTimeout+10*time.Second)
		t.Logf("client vanished during %s %s: transfer cut after %v, session ended after %v",
			article, what, cut.Round(100*time.Millisecond), time.Since(gone).Round(100*time.Millisecond))
	}
	st := f.Xfer()
	if strings.Join(st, " ") != "i i" {
		t.Errorf("xferlog statuses %v, want [i i]: nothing the vanished client did is complete", st)
	}
	if fi, err := os.Stat(filepath.Join(f.Root, "part.bin")); err != nil || fi.Size() != 1<<20 {
		t.Errorf("partial upload: %v %v, want it kept with the 1 MiB that arrived", fi, err)
	}
}
