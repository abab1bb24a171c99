// Package testutil is the test toolbox shared by tunnelftpd's test
// packages (server, launchtest, e2e, ...): a raw FTP client (RawConn, with
// passive transfers and Try variants for goroutines), a fixture for the
// built daemon in a process of its own (Daemon, Process), the one skip
// policy (Privileged, Require, RequireTool: skip when something is absent,
// fail under TUNNELFTPD_E2E=1), waits on state (WaitFor, Poll), free ports,
// a loopback connection to itself (TCPPair),
// cheap password hashes and the build of the binary.
//
// It is test code only: product packages never import it. It imports no
// tunnelftpd package, so that every package's tests can use it without an
// import cycle; it knows the daemon only from the outside (its command
// line, config file, log lines and FTP replies).
package testutil

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
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

// WaitFor polls cond every poll until it holds, and fails the test if it
// still does not after timeout.
func WaitFor(t testing.TB, timeout, poll time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, poll, cond) {
		t.Fatalf("timed out (%v) waiting for %s", timeout, what)
	}
}

// Poll calls cond every poll until it holds or timeout has passed, and
// reports whether it held. cond runs at least once, and once more at the
// deadline. It is WaitFor for callers that must not fail the test (a
// cleanup, a goroutine) or that say themselves what went wrong.
func Poll(timeout, poll time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(poll, left))
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

// TCPPair is a connection the test process makes to itself on 127.0.0.1:
// the accepted end (server) and the dialled one (client), both closed at the
// end of the test.
func TCPPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}
