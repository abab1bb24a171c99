package server

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// These tests need root: the test process owns the client sockets (uid 0)
// and starts a "thief" as another user. SECURITY.md cites them, so under
// TUNNELFTPD_E2E=1 they fail instead of skipping.
func needRoot(t *testing.T) {
	t.Helper()
	testutil.Privileged(t, "to run a process as another user and read its sockets")
}

// startThief runs, as user nobody, a process that connects to port on
// 127.0.0.1 and prints whatever it receives.
func startThief(t *testing.T, port int) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("python3 (Debian package) not installed")
	}
	out := &syncBuffer{}
	cmd := exec.Command(py, "-c", `
import socket, sys
s = socket.create_connection(("127.0.0.1", `+strconv.Itoa(port)+`))
print("connected", flush=True)
s.settimeout(15)
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b: break
        data += b
except Exception as e:
    pass
print("got", len(data), flush=True)
`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, 10*time.Second, "thief connected", func() bool { return strings.Contains(out.String(), "connected") })
	return cmd, out
}

// TestSameOwnerDropsOtherLocalUser: a process of another local user that
// connects first to the advertised port gets nothing, and the client's own
// transfer succeeds. Without same_owner the thief would get the data.
func TestSameOwnerDropsOtherLocalUser(t *testing.T) {
	needRoot(t)
	for _, sameOwner := range []bool{true, false} {
		t.Run(fmt.Sprintf("same_owner=%v", sameOwner), func(t *testing.T) {
			ts := startServer(t, 1, func(c *config.Config) { c.Passive.SameOwner = sameOwner })
			os.WriteFile(filepath.Join(ts.Root, "f"), []byte("the goods"), 0o644)
			rc := dialRaw(t, ts.Addr)
			rc.Login(testUser, testPassword)
			port := rc.Epsv()
			thief, out := startThief(t, port)
			fmt.Fprintf(rc.C, "RETR f\r\n")
			if !sameOwner {
				// The thief is accepted: this is the attack same_owner stops.
				if code, _ := rc.Reply(); code != 150 {
					t.Fatalf("RETR: %d", code)
				}
				thief.Wait()
				if !strings.Contains(out.String(), "got 9") {
					t.Fatalf("without same_owner the thief should have the data; it says %q", out.String())
				}
				return
			}
			waitFor(t, 5*time.Second, "thief dropped", func() bool { return strings.Contains(out.String(), "got") })
			if !strings.Contains(out.String(), "got 0") {
				t.Fatalf("thief received data: %q", out.String())
			}
			if b := rc.Receive(port); string(b) != "the goods" {
				t.Fatalf("client's RETR: %q", b)
			}
			if !strings.Contains(ts.Logs.String(), "dropped data connection from another owner") {
				t.Error("the dropped thief is not logged")
			}
		})
	}
}

// TestRequireSSHUser: a login bound to an SSH user is refused from a peer of
// another user, and from a peer of the right user that is not sshd (the test
// process, root, here). Success through a real sshd is e2e TestTunnel.
func TestRequireSSHUser(t *testing.T) {
	needRoot(t)
	ts := startServer(t, 1, func(c *config.Config) {
		c.Users[0].RequireSSHUser = true
		c.Users[0].SSHUser = "root" // the test process owns the client socket, but is not sshd
		c.Users[1].RequireSSHUser = true
		c.Users[1].SSHUser = "nobody"
	})
	for _, name := range []string{testUser, roUser} {
		rc := dialRaw(t, ts.Addr)
		rc.Expect(331, "USER %s", name)
		rc.Expect(530, "PASS %s", testPassword)
	}
	for _, want := range []string{"not tunnelled by SSH user nobody", "not tunnelled by SSH user root"} {
		if !strings.Contains(ts.Logs.String(), want) {
			t.Errorf("refusal %q not logged", want)
		}
	}
	// Without the option the same peer logs in, and the line names it.
	ts2 := startServer(t, 1, nil)
	dialRaw(t, ts2.Addr).Login(testUser, testPassword)
	if !regexp.MustCompile(`msg=login user=alice from=127\.0\.0\.1:\d+ ssh_user=root `).MatchString(ts2.Logs.String()) {
		t.Errorf("login line lacks ssh_user:\n%s", ts2.Logs.String())
	}
}

func TestMaxSessionsPerSSHUser(t *testing.T) {
	needRoot(t)
	ts := startServer(t, 1, func(c *config.Config) { c.MaxSessionsPerSSHUser = 2 })
	dialRaw(t, ts.Addr)
	dialRaw(t, ts.Addr)
	expectRefusal(t, ts.Addr, "SSH user root")
}

func TestTunnelOnlyRefusesNonSSHPeers(t *testing.T) {
	needRoot(t)
	ts := startServer(t, 1, func(c *config.Config) { c.TunnelOnly = true })
	expectRefusal(t, ts.Addr, "tunnel_only")
}

// TestFail2banFilterMatchesRealLogLines runs fail2ban-regex with the shipped
// filter over the daemon's own log lines.
func TestFail2banFilterMatchesRealLogLines(t *testing.T) {
	f2b, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		t.Skip("fail2ban-regex not installed (Debian package fail2ban)")
	}
	ts := startServer(t, 1, nil)
	const fails = 3
	for i := 0; i < fails; i++ {
		rc := dialRaw(t, ts.Addr)
		rc.Expect(331, "USER intruder%d", i)
		rc.Expect(530, "PASS guess")
	}
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword) // a success must not match
	logFile := filepath.Join(t.TempDir(), "tunnelftpd.log")
	os.WriteFile(logFile, []byte(ts.Logs.String()), 0o644)
	filter, _ := filepath.Abs("../etc/fail2ban/filter.d/tunnelftpd.conf")
	out, err := exec.Command(f2b, logFile, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Lines: \d+ lines, \d+ ignored, (\d+) matched`).FindSubmatch(out)
	if m == nil || string(m[1]) != strconv.Itoa(fails) {
		t.Errorf("fail2ban matched %s lines, want %d:\n%s", m, fails, out)
	}
}
