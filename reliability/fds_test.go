package reliability

import (
	"bytes"
	"fmt"
	"io"
	"net"
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
	f := newFixture(t, settings{maxSessions: 1000, wait: "1s"})
	d := f.startDaemon()

	// Warm up (a session and a transfer) so the baseline holds what the
	// daemon keeps open anyway (the xferlog, the runtime's pipes).
	if err := roundTrip(f, []byte("warm")); err != nil {
		t.Fatal(err)
	}
	base := settleFDs(t, d.pid(), 0, time.Second)

	// Sessions logged in before the limit, which then need descriptors for
	// their transfers (a passive socket, a data connection, a file).
	var ctls []*ctl
	for range 6 {
		k, _, err := login(loopback, f.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer k.c.Close()
		ctls = append(ctls, k)
	}
	limit := uint64(openFDs(t, d.pid()) + 4)
	if err := unix.Prlimit(d.pid(), unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	began := time.Now()

	// More connections than descriptors: the first few are accepted, the
	// rest wait in the listen backlog (or are refused when it is full).
	const conns = 40
	var raw []net.Conn
	for range conns {
		if c, err := net.DialTimeout("tcp", f.addr, 5*time.Second); err == nil {
			raw = append(raw, c)
		}
	}
	greeted := 0
	greetBy := time.Now().Add(time.Second)
	for _, c := range raw {
		c.SetReadDeadline(greetBy)
		if line, err := newReader(c).ReadString('\n'); err == nil && strings.HasPrefix(line, "220") {
			greeted++
		}
	}
	// Transfers on the sessions logged in before: each fails or works, but
	// gets an answer.
	replies := map[int]int{}
	for _, k := range ctls {
		data, err := k.dataConn(loopback, "127.0.0.1")
		if err != nil {
			replies[425]++ // EPSV refused (no descriptor for the passive socket)
			continue
		}
		raw = append(raw, data)
		if err := k.send("STOR x"); err != nil {
			t.Fatal(err)
		}
		code, msg, err := k.reply()
		if err != nil {
			t.Errorf("STOR out of descriptors: no reply: %v", err)
			continue
		}
		if code == 150 {
			data.Close()
			code, msg, err = k.reply()
		}
		if err != nil || code == 226 && !strings.Contains(msg, "Closing") {
			t.Errorf("STOR out of descriptors: %d %q %v", code, msg, err)
		}
		replies[code]++
	}
	loggedIn, transfers := len(ctls), fmt.Sprint(replies)
	if d.exited() {
		t.Fatalf("the daemon died out of descriptors: %v", d.err)
	}
	f.waitLog(regexp.MustCompile(`msg="accept failed, retrying".*too many open files`), 10*time.Second)
	t.Logf("%v: connections opened", time.Since(began).Round(time.Millisecond))
	for _, c := range raw {
		c.Close()
	}
	for _, k := range ctls {
		k.c.Close()
	}

	// The daemon serves again: the queued connections are accepted and
	// end, then a new client gets everything.
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err = roundTrip(f, bytes.Repeat([]byte("after"), 1000)); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no complete session after the descriptors were freed: %v", err)
	}
	t.Logf("%v: a new session works", time.Since(began).Round(time.Millisecond))
	if d.exited() {
		t.Fatalf("the daemon exited: %v", d.err)
	}
	after := settleFDs(t, d.pid(), base, 20*time.Second)
	if after > base {
		t.Errorf("daemon fds: %d before, %d after", base, after)
		if out, err := exec.Command("ls", "-l", fmt.Sprintf("/proc/%d/fd", d.pid())).CombinedOutput(); err == nil {
			t.Logf("daemon fds now:\n%s", out)
		}
	}
	t.Logf("out of descriptors: limit %d, %d more connections (%d greeted), STOR on %d sessions logged in before: replies %s; "+
		"daemon fds %d before, %d after; it kept serving", limit, conns, greeted, loggedIn, transfers, base, after)
}

// roundTrip logs in, uploads body, downloads it back and compares.
func roundTrip(f *fixture, body []byte) error {
	k, _, err := login(loopback, f.addr)
	if err != nil {
		return err
	}
	defer k.c.Close()
	data, err := k.dataConn(loopback, "127.0.0.1")
	if err != nil {
		return err
	}
	if err := k.expect(150, "STOR rt.bin"); err != nil {
		data.Close()
		return err
	}
	data.Write(body)
	data.Close()
	if code, msg, err := k.reply(); err != nil || code != 226 {
		return fmt.Errorf("STOR: %d %q %v", code, msg, err)
	}
	data, err = k.dataConn(loopback, "127.0.0.1")
	if err != nil {
		return err
	}
	defer data.Close()
	if err := k.expect(150, "RETR rt.bin"); err != nil {
		return err
	}
	got, err := io.ReadAll(data)
	if err != nil || !bytes.Equal(got, body) {
		return fmt.Errorf("RETR: %d bytes, %v", len(got), err)
	}
	if code, msg, err := k.reply(); err != nil || code != 226 {
		return fmt.Errorf("RETR: %d %q %v", code, msg, err)
	}
	return k.expect(221, "QUIT")
}

// settleFDs polls until process pid has at most max fds, and returns the
// last count (max 0: wait the whole timeout, for a stable baseline).
func settleFDs(t *testing.T, pid, max int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := ownFDs(t, pid)
		if n <= max || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}
