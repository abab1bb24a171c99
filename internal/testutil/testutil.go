// Package testutil holds helpers shared by tunnelftpd's tests: a
// concurrency-safe buffer, a raw FTP control connection, polling and
// free-port helpers; test code only.
package testutil

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a concurrency-safe output sink: a process's or a logger's
// writes and the test's reads may overlap.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TakeAll returns what the buffer holds and empties it.
func (s *SyncBuffer) TakeAll() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// ReadReply reads one (possibly multi-line) FTP reply from r: lines up to
// and including the first one of the form "NNN text". It returns the code
// and the lines without their line ends; on a read error, code is 0 and
// lines holds the lines read before it. It sets no deadline.
func ReadReply(r *bufio.Reader) (code int, lines []string, err error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, lines, err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) >= 4 && line[3] == ' ' {
			if code, err := strconv.Atoi(line[:3]); err == nil {
				return code, lines, nil
			}
		}
	}
}

// ReplyTimeout is how long RawConn waits for each reply.
const ReplyTimeout = 20 * time.Second

// RawConn is a hand-driven FTP control connection, for checking exact
// replies. Reply, Cmd and Expect fail the test T on errors; TryReply does
// not (for client goroutines, where T may be nil).
type RawConn struct {
	T testing.TB
	C net.Conn
	R *bufio.Reader
}

// DialRaw connects to addr (5s timeout), closes the connection when the
// test ends, and fails the test unless the greeting is 220.
func DialRaw(t testing.TB, addr string) *RawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &RawConn{T: t, C: c, R: bufio.NewReader(c)}
	if code, msg := rc.Reply(); code != 220 {
		t.Fatalf("greeting: %d %s", code, msg)
	}
	return rc
}

// TryReply reads one (possibly multi-line) reply within ReplyTimeout
// without failing the test; a read error gives code 0, an empty message
// and an error naming the lines read before it.
func (rc *RawConn) TryReply() (int, string, error) {
	rc.C.SetReadDeadline(time.Now().Add(ReplyTimeout))
	code, lines, err := ReadReply(rc.R)
	if err != nil {
		return 0, "", fmt.Errorf("reading reply (after %q): %w", lines, err)
	}
	return code, strings.Join(lines, "\n"), nil
}

// Reply reads one (possibly multi-line) reply within ReplyTimeout and
// fails the test on a read error.
func (rc *RawConn) Reply() (int, string) {
	rc.T.Helper()
	code, msg, err := rc.TryReply()
	if err != nil {
		rc.T.Fatal(err)
	}
	return code, msg
}

// Cmd sends a command line (format and args, as for fmt.Sprintf) and
// returns its reply.
func (rc *RawConn) Cmd(format string, args ...any) (int, string) {
	rc.T.Helper()
	if _, err := fmt.Fprintf(rc.C, format+"\r\n", args...); err != nil {
		rc.T.Fatal(err)
	}
	return rc.Reply()
}

// Expect sends a command and fails the test unless the reply code is want;
// it returns the reply text.
func (rc *RawConn) Expect(want int, format string, args ...any) string {
	rc.T.Helper()
	code, msg := rc.Cmd(format, args...)
	if code != want {
		rc.T.Fatalf("%s: got %d %q, want %d", fmt.Sprintf(format, args...), code, msg, want)
	}
	return msg
}

// WaitFor polls cond every poll until it holds, and fails the test if it
// still does not after timeout.
func WaitFor(t testing.TB, timeout, poll time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out (%v) waiting for %s", timeout, what)
		}
		time.Sleep(poll)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreePortRange finds n consecutive free TCP ports, bound the way the
// daemon binds passive ports (wildcard, dual stack), and returns the first
// and the last. It looks below the kernel's ephemeral range first: there,
// the TIME_WAIT sockets that earlier client connections leave behind (tens
// of thousands after a benchmark) do not block a bind. It tries 100 times
// before failing the test.
func FreePortRange(t testing.TB, n int) (int, int) {
	t.Helper()
	low := ephemeralLow()
	for try := 0; try < 100; try++ {
		var first int
		if try < 50 && low-n > 10000 {
			first = 10000 + rand.IntN(low-n-10000)
		} else {
			first = FreePort(t)
		}
		if first+n > 65000 {
			continue
		}
		var ls []net.Listener
		ok := true
		for p := first; p < first+n; p++ {
			l, err := net.ListenTCP("tcp", &net.TCPAddr{Port: p})
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return first, first + n - 1
		}
	}
	t.Fatal("no free port range")
	return 0, 0
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 if
// it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 {
		return 32768
	}
	return lo
}

// Privileged skips a test that needs root, or fails it when
// TUNNELFTPD_E2E=1 (CI runs as root and must not skip silently).
func Privileged(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("TUNNELFTPD_E2E") == "1" {
		t.Fatalf("TUNNELFTPD_E2E=1 but not root: %s", why)
	}
	t.Skipf("needs root: %s", why)
}
