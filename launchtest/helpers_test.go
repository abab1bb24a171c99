package launchtest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

const (
	testUser     = testutil.DaemonUser
	testPassword = testutil.DaemonPassword
	helloText    = testutil.HelloText
)

// binary is the tunnelftpd built for this test run (TestMain).
var binary string

func TestMain(m *testing.M) { testutil.MainWithTunnelftpd(m, "tunnelftpd-launchtest-", &binary) }

// newFixture is the daemon fixture of a test, with shutdown_timeout 20s
// unless o says otherwise.
func newFixture(t *testing.T, o testutil.DaemonOptions) *testutil.Daemon {
	t.Helper()
	if o.ShutdownTimeout == "" {
		o.ShutdownTimeout = "20s"
	}
	return testutil.NewDaemon(t, binary, o)
}

// start runs name args as a process of the test (testutil.StartProcess).
func start(t *testing.T, name string, args ...string) *testutil.Process {
	t.Helper()
	return testutil.StartProcess(t, filepath.Base(name), exec.Command(name, args...))
}

// serveStandalone runs the daemon of f in standalone mode and waits until
// it says so.
func serveStandalone(t *testing.T, f *testutil.Daemon) *testutil.Process {
	t.Helper()
	p := f.Serve()
	f.WaitLog(regexp.MustCompile(`msg=serving mode=standalone`), 10*time.Second)
	return p
}

// socketActivate starts systemd-socket-activate listening on the fixture's
// address with ssaArgs (and -E for each of env), running command; it waits
// until the socket listens.
func socketActivate(t *testing.T, f *testutil.Daemon, env []string, ssaArgs []string, command ...string) *testutil.Process {
	t.Helper()
	testutil.RequireTool(t, "systemd-socket-activate")
	args := append([]string{}, ssaArgs...)
	for _, e := range env {
		args = append(args, "-E", e)
	}
	args = append(args, "-l", f.Addr)
	args = append(args, command...)
	p := start(t, "systemd-socket-activate", args...)
	p.WaitOutput(regexp.MustCompile(`Listening on .* as 3`), 10*time.Second)
	return p
}

// waitGone waits until process pid has exited and been reaped.
func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	testutil.WaitFor(t, timeout, 20*time.Millisecond, fmt.Sprintf("process %d to exit", pid), func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return os.IsNotExist(err)
	})
}

// sessionPID returns the pid of the process that logged the nth (1-based)
// "session started" line.
func sessionPID(t *testing.T, logs func() string, nth int) int {
	t.Helper()
	re := regexp.MustCompile(`msg="session started".* pid=(\d+)`)
	var pid int
	testutil.WaitFor(t, 10*time.Second, 20*time.Millisecond, fmt.Sprintf("session %d to start", nth), func() bool {
		ms := re.FindAllStringSubmatch(logs(), -1)
		if len(ms) < nth {
			return false
		}
		pid, _ = strconv.Atoi(ms[nth-1][1])
		return true
	})
	return pid
}

// dial logs in as alice with a real FTP client.
func dial(t *testing.T, addr string) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if err := c.Login(testUser, testPassword); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// exercise runs a whole session with a real client: login, LIST, RETR,
// STOR (checked on disk), QUIT.
func exercise(t *testing.T, f *testutil.Daemon, upload string) {
	t.Helper()
	c := dial(t, f.Addr)
	entries, err := c.List("/")
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	found := false
	for _, e := range entries {
		found = found || e.Name == "hello.txt"
	}
	if !found {
		t.Errorf("LIST does not show hello.txt: %v", entries)
	}
	r, err := c.Retr("hello.txt")
	if err != nil {
		t.Fatalf("RETR: %v", err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("RETR read: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("RETR end: %v", err)
	}
	if string(got) != helloText {
		t.Errorf("RETR got %q", got)
	}
	content := "uploaded as " + upload + "\n"
	if err := c.Stor(upload, strings.NewReader(content)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(f.Root, upload))
	if err != nil || string(b) != content {
		t.Errorf("uploaded file: %q, %v", b, err)
	}
}

// pasvPort sends PASV on rc and returns the advertised port.
func pasvPort(rc *testutil.RawConn) int {
	rc.T.Helper()
	_, port := rc.Pasv()
	return port
}

// busyOptions are o with the settings of the tests that run many transfers
// at once (signals during 50 transfers, out of descriptors, a vanished
// client), where o leaves them unset: five passive ports that a session
// waits up to 20s for (accept_timeout 20s), room for 200 sessions, the
// daemon's own shutdown_timeout (30s), and a transfer log.
func busyOptions(o testutil.DaemonOptions) testutil.DaemonOptions {
	if o.PortCount == 0 {
		o.PortCount = 5
	}
	if o.Wait == "" {
		o.Wait = "20s"
	}
	if o.AcceptTimeout == "" {
		o.AcceptTimeout = "20s"
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = 200
	}
	if o.ShutdownTimeout == "" {
		o.ShutdownTimeout = "30s"
	}
	o.Xferlog = true
	return o
}
