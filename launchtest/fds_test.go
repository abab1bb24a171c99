package launchtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestOutOfFileDescriptors runs the daemon under a low RLIMIT_NOFILE (set on
// the running process with prlimit(2)) and opens three times more
// connections than it has descriptors, some of them logged in and trying
// transfers. The daemon must not crash; once the connections close it
// serves a new client completely (login, upload, download), and its open
// descriptors come back to where they were.
// Guards: the accept loop backing off on EMFILE instead of returning (which
// would end the daemon), and every failure path of a session releasing what
// it holds.
func TestOutOfFileDescriptors(t *testing.T) {
	testutil.Privileged(t, "sets the resource limits of another process (prlimit)")
	f := newFixture(t, busyOptions(testutil.DaemonOptions{MaxSessions: 1000, Wait: "1s"}))
	d := f.Serve()

	// Warm up (a session and a transfer) so the baseline holds what the
	// daemon keeps open anyway (the xferlog, the runtime's pipes). The
	// session has released its descriptors once it logs its end.
	if err := roundTrip(f, []byte("warm")); err != nil {
		t.Fatal(err)
	}
	f.WaitLog(regexp.MustCompile(`msg="session ended" session=1 `), 10*time.Second)
	base := ownFDs(t, d.Pid())

	// Sessions logged in before the limit, which then need descriptors for
	// their transfers (a passive socket, a data connection, a file).
	var ctls []*testutil.RawConn
	for range 6 {
		rc := f.Client()
		rc.Timeout = time.Minute
		ctls = append(ctls, rc)
	}
	limit := uint64(openFDs(t, d.Pid()) + 4)
	if err := unix.Prlimit(d.Pid(), unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	began := time.Now()

	// More connections than descriptors: the first few are accepted, the
	// rest wait in the listen backlog (or are refused when it is full).
	const conns = 40
	var raw []net.Conn
	for range conns {
		if c, err := net.DialTimeout("tcp", f.Addr, 5*time.Second); err == nil {
			raw = append(raw, c)
		}
	}
	// Count the greetings that come within a second (a measurement for the
	// log, not a condition: the rest are queued, which is the point).
	greeted := 0
	greetBy := time.Now().Add(time.Second)
	for _, c := range raw {
		c.SetReadDeadline(greetBy)
		if line, err := bufio.NewReader(c).ReadString('\n'); err == nil && strings.HasPrefix(line, "220") {
			greeted++
		}
	}
	// Transfers on the sessions logged in before: each fails or works, but
	// gets an answer.
	replies := map[int]int{}
	for _, rc := range ctls {
		data, err := rc.TryOpenData()
		if err != nil {
			replies[425]++ // EPSV refused (no descriptor for the passive socket)
			continue
		}
		raw = append(raw, data)
		if err := rc.TrySend("STOR x"); err != nil {
			t.Fatal(err)
		}
		code, msg, err := rc.TryReply()
		if err != nil {
			t.Errorf("STOR out of descriptors: no reply: %v", err)
			continue
		}
		if code == 150 {
			data.Close()
			code, msg, err = rc.TryReply()
		}
		if err != nil || code == 226 && !strings.Contains(msg, "Closing") {
			t.Errorf("STOR out of descriptors: %d %q %v", code, msg, err)
		}
		replies[code]++
	}
	loggedIn, transfers := len(ctls), fmt.Sprint(replies)
	if d.Exited() {
		t.Fatalf("the daemon died out of descriptors: %v", d.Err())
	}
	f.WaitLog(regexp.MustCompile(`msg="accept failed, retrying".*too many open files`), 10*time.Second)
	t.Logf("%v: connections opened", time.Since(began).Round(time.Millisecond))
	for _, c := range raw {
		c.Close()
	}
	for _, rc := range ctls {
		rc.Close()
	}

	// The daemon serves again: the queued connections are accepted and
	// end, then a new client gets everything.
	var err error
	testutil.Poll(30*time.Second, 200*time.Millisecond, func() bool {
		err = roundTrip(f, bytes.Repeat([]byte("after"), 1000))
		return err == nil
	})
	if err != nil {
		t.Fatalf("no complete session after the descriptors were freed: %v", err)
	}
	t.Logf("%v: a new session works", time.Since(began).Round(time.Millisecond))
	if d.Exited() {
		t.Fatalf("the daemon exited: %v", d.Err())
	}
	after := settleFDs(t, d.Pid(), base, 20*time.Second)
	if after > base {
		t.Errorf("daemon fds: %d before, %d after", base, after)
		if out, err := exec.Command("ls", "-l", fmt.Sprintf("/proc/%d/fd", d.Pid())).CombinedOutput(); err == nil {
			t.Logf("daemon fds now:\n%s", out)
		}
	}
	t.Logf("out of descriptors: limit %d, %d more connections (%d greeted), STOR on %d sessions logged in before: replies %s; "+
		"daemon fds %d before, %d after; it kept serving", limit, conns, greeted, loggedIn, transfers, base, after)
}

// roundTrip logs in, uploads body, downloads it back and compares.
func roundTrip(f *testutil.Daemon, body []byte) error {
	rc, err := f.TryClient(nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := rc.TryStor("rt.bin", body); err != nil {
		return err
	}
	got, err := rc.TryRetr("rt.bin")
	if err != nil {
		return err
	}
	if !bytes.Equal(got, body) {
		return fmt.Errorf("RETR: %d bytes, want %d", len(got), len(body))
	}
	_, err = rc.TryExpect(221, "QUIT")
	return err
}

// settleFDs waits up to timeout until process pid has at most max open
// files of its own (ownFDs), and returns the last count.
func settleFDs(t *testing.T, pid, max int, timeout time.Duration) int {
	t.Helper()
	var n int
	testutil.Poll(timeout, 50*time.Millisecond, func() bool {
		n = ownFDs(t, pid)
		return n <= max
	})
	return n
}

// openFDs is the number of open fds of process pid.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// ownFDs counts pid's open files except pipes. The daemon opens no pipe
// itself; the Go runtime keeps the pipes it splices uploads through in a
// pool that only a garbage collection empties, so their number after a
// burst of uploads says nothing about a leak.
func ownFDs(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "pipe:") {
			continue
		}
		n++
	}
	return n
}
