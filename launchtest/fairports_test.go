package launchtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// addVirtualUser adds a [[users]] entry (password testutil.DaemonPassword)
// with a root of its own to the fixture's config and returns the root.
func addVirtualUser(t *testing.T, f *testutil.Daemon, name string) string {
	t.Helper()
	root := filepath.Join(f.Dir, name)
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	f.WriteConfig(f.ConfigText() + fmt.Sprintf("[[users]]\nname = %q\npassword = %q\nroot = %q\n",
		name, testutil.CheapHash(testutil.DaemonPassword), root))
	return root
}

// hogScript is a python3 program: n sessions of one FTP user, each
// sending PASV, holding the port for hold seconds, and again, until killed.
const hogScript = `
import socket, sys, threading, time
out = threading.Lock()
def say(word):
    # one write per line: print writes its pieces apart, and the threads
    # would interleave them ("inin\n\n")
    with out:
        sys.stdout.write(word + "\n")
        sys.stdout.flush()
addr, port, user, pw, n, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
def reply(f):
    while True:
        line = f.readline()
        if not line: raise EOFError
        if len(line) >= 4 and line[3:4] == b" ": return line
def hog():
    s = socket.create_connection((addr, port))
    f = s.makefile("rb")
    reply(f)
    s.sendall(b"USER " + user.encode() + b"\r\n"); reply(f)
    s.sendall(b"PASS " + pw.encode() + b"\r\n")
    if not reply(f).startswith(b"230"): raise SystemExit("login failed")
    say("in")
    while True:
        s.sendall(b"PASV\r\n")
        if reply(f).startswith(b"227"):
            say("pasv")
            time.sleep(hold)
for _ in range(n):
    threading.Thread(target=hog, daemon=True).start()
time.sleep(3600)
`

// TestPassiveFairShare: one user's 20 sessions sending PASV in a loop
// (each port held until the session's next PASV) cannot take the five
// ports from another user. With passive.max_per_user at its default (1 for
// five ports) the hog holds one port at a time and waiting PASVs are served
// in arrival order, skipping those of a user at its limit, so the other
// user keeps transferring.
//   - another SSH user: the hog runs as nobody and holds each port for 2 s,
//     as the attacker did; without the limit it held all five and
//     the other user, competing with 15 waiting hog PASVs for each port,
//     moved a few files in 20 s at best (0 in the run).
//   - same SSH user: both users come through one SSH user (the test
//     process's uid), so the per-SSH-user count puts them in one line
//     too; with PASVs re-sent at once the line keeps moving.
func TestPassiveFairShare(t *testing.T) {
	for _, tc := range []struct {
		name  string
		other bool // the hog runs as another uid
	}{
		{"another SSH user", true},
		{"same SSH user", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testutil.DaemonOptions{PortCount: 5, MaxSessions: 50})
			addVirtualUser(t, f, "hog")
			f.Serve()
			const hogs = 20
			var granted func() int
			if tc.other {
				granted = startHogAsNobody(t, f, hogs, 2*time.Second)
			} else {
				granted = startHogHere(t, f, hogs)
			}
			// Let the hogs take what they can before the other user comes.
			testutil.WaitFor(t, 20*time.Second, 10*time.Millisecond, "the hogs' PASVs", func() bool { return granted() >= 2 })

			victim := f.Client()
			victim.Timeout = 20 * time.Second
			const want, window = 5, 20 * time.Second
			began := time.Now()
			done := 0
			var slowest time.Duration
			for done < 20 && time.Since(began) < window {
				start := time.Now()
				got, err := victim.TryRetr(testutil.HelloName)
				if err != nil {
					t.Logf("transfer %d: %v", done+1, err)
					continue
				}
				if string(got) != testutil.HelloText {
					t.Fatalf("RETR: %q", got)
				}
				slowest = max(slowest, time.Since(start))
				done++
			}
			took := time.Since(began)
			if done < want {
				t.Errorf("the second user completed %d transfers in %v, want at least %d", done, took.Round(time.Millisecond), want)
			}
			t.Logf("%s: 20 hog sessions sending PASV (%d granted so far); the other user: %d transfers in %v (slowest %v)",
				tc.name, granted(), done, took.Round(time.Millisecond), slowest.Round(time.Millisecond))
		})
	}
}

// startHogAsNobody runs hogScript as user nobody with n sessions holding
// each port for hold, and returns a count of the PASVs granted to it.
func startHogAsNobody(t *testing.T, f *testutil.Daemon, n int, hold time.Duration) func() int {
	t.Helper()
	testutil.Privileged(t, "runs the hog as another user")
	py := "/usr/bin/python3" // Debian's, runnable by nobody
	testutil.RequireTool(t, py)
	host, port, _ := net.SplitHostPort(f.Addr)
	cmd := exec.Command(py, "-c", hogScript, host, port, "hog", testutil.DaemonPassword,
		strconv.Itoa(n), strconv.FormatFloat(hold.Seconds(), 'f', 3, 64))
	// Not testutil.StartProcess: it sets SysProcAttr itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("--- output of the hog:\n%s", testutil.Tail(out.String(), 4000))
		}
	})
	testutil.WaitFor(t, 20*time.Second, 10*time.Millisecond, "the hog's logins", func() bool {
		return strings.Count(out.String(), "in\n") == n
	})
	return func() int { return strings.Count(out.String(), "pasv\n") }
}

// startHogHere runs n hog sessions in this process, each sending its next
// PASV as soon as the last one is answered, until the test ends.
func startHogHere(t *testing.T, f *testutil.Daemon, n int) func() int {
	t.Helper()
	stop := make(chan struct{})
	var pasvs atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() { close(stop); wg.Wait() })
	for i := range n {
		rc, err := testutil.TryDialRaw(nil, f.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		if err := rc.TryLogin("hog", testutil.DaemonPassword); err != nil {
			t.Fatalf("hog %d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, _, err := rc.TryCmd("PASV")
				if err != nil {
					return
				}
				if code == 227 {
					pasvs.Add(1)
				}
			}
		}()
	}
	return func() int { return int(pasvs.Load()) }
}

// TestFailedTransferGivesUpItsPort: a transfer command that fails before
// its data connection (550 no such file) gives its PASV's port back at
// once. With passive.max_per_user 1 the user's other session is waiting
// for it; before, it stayed held until accept_timeout (30 s).
func TestFailedTransferGivesUpItsPort(t *testing.T) {
	f := newFixture(t, testutil.DaemonOptions{PortCount: 5, Wait: "2s", AcceptTimeout: "30s"})
	f.Serve()
	a, b := f.Client(), f.Client()
	for i := range 3 {
		a.Epsv()
		if code, msg := a.Cmd("RETR no-such-file"); code != 550 {
			t.Fatalf("RETR of a missing file: %d %q", code, msg)
		}
		start := time.Now()
		if got := string(b.Retr(testutil.HelloName)); got != testutil.HelloText {
			t.Fatalf("RETR %d: %q", i, got)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("the other session's RETR took %v: the failed RETR's port was not given back", took)
		}
	}
}
