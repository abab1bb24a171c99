package launchtest

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// notifySocket is a test NOTIFY_SOCKET: a unixgram socket collecting the
// daemon's sd_notify messages.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	n := &notifySocket{path: path, msgs: make(chan string, 1000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, _, err := c.ReadFromUnix(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// next returns the next message that is not only a watchdog ping or a
// status update, recording those on the way.
func (n *notifySocket) next(t *testing.T, seen *[]string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatal("notify socket closed")
			}
			*seen = append(*seen, m)
			if m == "WATCHDOG=1" || strings.HasPrefix(m, "STATUS=") {
				continue
			}
			return m
		case <-timeout:
			t.Fatalf("no sd_notify message within 15s (so far %q)", *seen)
		}
	}
}

// TestSdNotify: under systemd Accept=no with NOTIFY_SOCKET and WATCHDOG_USEC
// set, the daemon sends READY=1 with STATUS= once serving, RELOADING=1 (with
// MONOTONIC_USEC=) then READY=1 around a SIGHUP reload, STOPPING=1 on
// SIGTERM, and watchdog pings.
func TestSdNotify(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{})
	ns := newNotifySocket(t)
	p := socketActivate(t, f, []string{"NOTIFY_SOCKET=" + ns.path, "WATCHDOG_USEC=200000"}, nil, binary, "serve", "-c", f.Config)
	c := dial(t, f.Addr) // the first connection starts the daemon
	var seen []string
	statusRe := regexp.MustCompile(`(?m)^STATUS=\d+ sessions?; passive ports \d+-\d+: \d+ of \d+ busy$`)

	ready := ns.next(t, &seen)
	if !strings.Contains(ready, "READY=1") || !statusRe.MatchString(ready) {
		t.Errorf("first message %q, want READY=1 with STATUS=", ready)
	}

	p.Signal(syscall.SIGHUP)
	reloading := ns.next(t, &seen)
	if !strings.Contains(reloading, "RELOADING=1") || !regexp.MustCompile(`(?m)^MONOTONIC_USEC=\d+$`).MatchString(reloading) {
		t.Errorf("after SIGHUP: %q, want RELOADING=1 and MONOTONIC_USEC=", reloading)
	}
	if again := ns.next(t, &seen); !strings.Contains(again, "READY=1") || !statusRe.MatchString(again) {
		t.Errorf("after the reload: %q, want READY=1 with STATUS=", again)
	}
	f.WaitLog(regexp.MustCompile(`msg="config reloaded for new sessions"`), 5*time.Second)

	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGTERM)
	if stopping := ns.next(t, &seen); !strings.Contains(stopping, "STOPPING=1") {
		t.Errorf("after SIGTERM: %q, want STOPPING=1", stopping)
	}
	if code := p.Wait(20 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	watchdog := false
	for _, m := range seen {
		watchdog = watchdog || m == "WATCHDOG=1"
	}
	if !watchdog {
		t.Errorf("no WATCHDOG=1 with WATCHDOG_USEC set; messages: %q", seen)
	}
	t.Logf("sd_notify messages: %q", seen)
}
