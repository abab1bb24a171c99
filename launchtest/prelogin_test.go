package launchtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// floodConn is one connection of a pre-login flood: it never logs in; a
// slow one sends a never-ending USER line one byte at a time.
type floodConn struct {
	slow   bool
	opened time.Time

	mu    sync.Mutex
	lines []string  // every line the daemon sent
	ended time.Time // when the daemon closed it (zero: still open)
}

func (fc *floodConn) state() (lines []string, ended time.Time) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Clone(fc.lines), fc.ended
}

// openFlood opens n connections to addr, every slowEvery-th of them slow,
// and keeps them open (reading whatever comes) until the daemon closes
// them or the test ends. It returns once each has been greeted or closed.
func openFlood(t *testing.T, addr string, n, slowEvery int) []*floodConn {
	t.Helper()
	var conns []*floodConn
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		fc := &floodConn{slow: i%slowEvery == slowEvery-1, opened: time.Now()}
		conns = append(conns, fc)
		go func() {
			r := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(2 * time.Minute))
			for {
				line, err := r.ReadString('\n')
				fc.mu.Lock()
				if line != "" {
					fc.lines = append(fc.lines, strings.TrimRight(line, "\r\n"))
				}
				if err != nil {
					fc.ended = time.Now()
				}
				fc.mu.Unlock()
				if err != nil {
					c.Close()
					return
				}
			}
		}()
		if fc.slow {
			go func() {
				line := "USER " + strings.Repeat("a", 2000)
				tick := time.NewTicker(200 * time.Millisecond)
				defer tick.Stop()
				for i := range len(line) {
					if _, ended := fc.state(); !ended.IsZero() {
						return
					}
					if _, err := c.Write([]byte{line[i]}); err != nil {
						return
					}
					<-tick.C
				}
			}()
		}
	}
	testutil.WaitFor(t, 30*time.Second, 20*time.Millisecond, "every flood connection greeted or closed", func() bool {
		for _, fc := range conns {
			if lines, ended := fc.state(); len(lines) == 0 && ended.IsZero() {
				return false
			}
		}
		return true
	})
	return conns
}

// TestPreloginFlood: connections that never log in, idle or sending one
// byte at a time, can neither lock logins out nor stay open: with 300 idle
// and 50 slow ones held, a client still logs in and downloads in under a
// second, and every flood connection is closed with a 421, those left
// standing at login_timeout (counted from the connect: the slow ones'
// bytes do not extend it).
//
// The flood and the client come from one SSH user here (the test process's
// uid), as when the attacker is the victim's own account or owners are
// unknown:
//   - per SSH user: the defaults (max_sessions 100, max_prelogin 50,
//     max_prelogin_per_ssh_user 10): while the flood comes in, each new
//     connection over max_sessions closes an older one not logged in (421
//     "make room"); once past its grace (login_timeout/4) the flood is cut
//     to 10; the login gets in all along.
//   - budget: no per-SSH-user limit: the flood is cut to max_prelogin (50).
//   - timeout: room for the whole flood (max_sessions 400, max_prelogin
//     380): every flood connection is held until login_timeout closes it.
func TestPreloginFlood(t *testing.T) {
	const loginTimeout = 3 * time.Second
	for _, tc := range []struct {
		name  string
		o     testutil.DaemonOptions
		extra string
		held  int // flood connections that can be held at once
	}{
		{name: "per SSH user", held: 10},
		{name: "budget", extra: "max_prelogin_per_ssh_user = 0\n", held: 50},
		{name: "timeout", o: testutil.DaemonOptions{MaxSessions: 400}, extra: "max_prelogin = 380\nmax_prelogin_per_ssh_user = 0\n", held: 380},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.o)
			f.WriteConfig(fmt.Sprintf("login_timeout = %q\n%s", loginTimeout, tc.extra) + f.ConfigText())
			f.Serve()

			began := time.Now()
			flood := openFlood(t, f.Addr, 350, 7) // 300 idle, 50 slow
			t.Logf("350 flood connections opened in %v", time.Since(began).Round(time.Millisecond))

			// A real client, five times, while the flood is held.
			var slowest time.Duration
			for i := range 5 {
				start := time.Now()
				rc, err := f.TryClient(nil)
				if err != nil {
					t.Fatalf("login %d during the flood: %v", i, err)
				}
				got, err := rc.TryRetr(testutil.HelloName)
				if err != nil || string(got) != testutil.HelloText {
					t.Fatalf("RETR %d during the flood: %q %v", i, got, err)
				}
				took := time.Since(start)
				slowest = max(slowest, took)
				rc.TryExpect(221, "QUIT")
				rc.Close()
			}
			if slowest >= time.Second {
				t.Errorf("login + RETR during the flood took up to %v, want under 1s", slowest)
			}

			// Every flood connection ends, with a 421, by login_timeout.
			testutil.WaitFor(t, loginTimeout+20*time.Second, 50*time.Millisecond, "every flood connection closed", func() bool {
				for _, fc := range flood {
					if _, ended := fc.state(); ended.IsZero() {
						return false
					}
				}
				return true
			})
			var evicted, timedOut, other int
			var earliest, latest time.Duration // of the login timeouts, after the connect
			for i, fc := range flood {
				lines, ended := fc.state()
				last := lines[len(lines)-1]
				lived := ended.Sub(fc.opened)
				switch {
				case strings.HasPrefix(last, "421 Login timeout"):
					timedOut++
					if earliest == 0 || lived < earliest {
						earliest = lived
					}
					latest = max(latest, lived)
				case strings.HasPrefix(last, "421 ") && strings.Contains(last, "make room"):
					evicted++
				default:
					other++
					t.Errorf("flood connection %d (slow %v) ended with %q after %v, want a 421", i, fc.slow, lines, lived)
				}
				if lived > loginTimeout+3*time.Second {
					t.Errorf("flood connection %d (slow %v) lived %v, login_timeout is %v", i, fc.slow, lived, loginTimeout)
				}
			}
			if timedOut > 0 && earliest < loginTimeout-100*time.Millisecond {
				t.Errorf("a connection was timed out after %v, before login_timeout %v", earliest, loginTimeout)
			}
			if want := min(tc.held, len(flood)); timedOut > want || timedOut < want-5 || evicted != len(flood)-timedOut {
				// The five logins each took the place of one.
				t.Errorf("%d closed to make room, %d timed out; want %d..%d timed out (the flood could hold %d), the rest closed to make room",
					evicted, timedOut, want-5, want, tc.held)
			}
			f.WaitLog(regexp.MustCompile(`msg="login timeout: closing a connection that did not log in"`), 5*time.Second)
			t.Logf("%s: login+RETR during the flood: slowest of 5 %v; flood: %d closed to make room, %d timed out after %v..%v (login_timeout %v), %d other",
				tc.name, slowest.Round(time.Millisecond), evicted, timedOut, earliest.Round(time.Millisecond), latest.Round(time.Millisecond), loginTimeout, other)
		})
	}
}

// TestPreloginFloodSystemUsers: the same budget when every session runs in
// a process of its own (system users): the listening process counts what
// each session process reports, and makes room by asking the oldest one not
// logged in to close (it answers 421 itself). A system user logs in through
// PAM and downloads while 40 idle connections are held against
// max_sessions 20 and a budget of 10; every flood connection ends with a
// 421 and its process exits. While every session process not logged in is
// still starting (it cannot be asked to close yet), a new connection over
// max_sessions is refused at connect (421) instead: that can happen in the
// burst of the flood itself.
func TestPreloginFloodSystemUsers(t *testing.T) {
	needSystemUsers(t)
	u := addSysUser(t)
	const loginTimeout = 3 * time.Second
	f, _ := sysFixtureOpts(t, fmt.Sprintf("login_timeout = %q\nmax_prelogin_per_ssh_user = 0\n", loginTimeout),
		testutil.DaemonOptions{MaxSessions: 20})
	if err := os.WriteFile(filepath.Join(u.home, testutil.HelloName), []byte(testutil.HelloText), 0o644); err != nil {
		t.Fatal(err)
	}
	serveStandalone(t, f)

	flood := openFlood(t, f.Addr, 40, 1000) // 40 idle
	start := time.Now()
	rc, err := testutil.TryDialRaw(nil, f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.TryLogin(u.name, sysPassword); err != nil {
		t.Fatalf("login during the flood: %v", err)
	}
	if got, err := rc.TryRetr(testutil.HelloName); err != nil || string(got) != testutil.HelloText {
		t.Fatalf("RETR during the flood: %q %v", got, err)
	}
	took := time.Since(start)
	if took >= time.Second {
		t.Errorf("login + RETR during the flood took %v, want under 1s", took)
	}
	testutil.WaitFor(t, loginTimeout+20*time.Second, 50*time.Millisecond, "every flood connection closed", func() bool {
		for _, fc := range flood {
			if _, ended := fc.state(); ended.IsZero() {
				return false
			}
		}
		return true
	})
	evicted, timedOut, refused := 0, 0, 0
	for i, fc := range flood {
		lines, ended := fc.state()
		switch last := lines[len(lines)-1]; {
		case strings.HasPrefix(last, "421 Login timeout"):
			timedOut++
		case strings.HasPrefix(last, "421 ") && strings.Contains(last, "make room"):
			evicted++
		case len(lines) == 1 && strings.HasPrefix(last, "421 Too many sessions"):
			refused++
		default:
			t.Errorf("flood connection %d ended with %q after %v, want a 421", i, lines, ended.Sub(fc.opened))
		}
	}
	// At most max_prelogin (10) are held at any one time; over the run one
	// more may be, in the pre-login slot the client gives up when it logs in.
	if timedOut > 11 || evicted+refused < 29 {
		t.Errorf("%d closed to make room, %d refused, %d timed out; want at most 10 held at once (max_prelogin 10), 11 over the run", evicted, refused, timedOut)
	}
	// Each flood connection's process has exited: the only session left is
	// the client's.
	// A process exits just after it closes its connection, and stays in
	// /proc until the listening process has waited for it: give it a moment.
	pids := childPIDs(t, f, 41-refused)
	gone := 0
	testutil.Poll(5*time.Second, 20*time.Millisecond, func() bool {
		gone = 0
		for _, pid := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
				gone++
			}
		}
		return gone >= len(pids)-1
	})
	if gone < len(pids)-1 {
		t.Errorf("%d of %d session processes still running", len(pids)-gone, len(pids))
	}
	t.Logf("system users: login (PAM) + RETR during a flood of 40: %v; flood: %d closed to make room, %d refused at connect, %d timed out; %d of %d session processes gone",
		took.Round(time.Millisecond), evicted, refused, timedOut, gone, len(pids))
}
