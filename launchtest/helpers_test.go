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
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

const (
	testUser     = "alice"
	testPassword = "correct horse"
	helloText    = "hello from tunnelftpd\n"
)

// binary is the tunnelftpd built for this test run (TestMain).
var binary string

func TestMain(m *testing.M) { testutil.MainWithTunnelftpd(m, "tunnelftpd-launchtest-", &binary) }

// requireTool skips the test when an external tool is not installed.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("SKIP: %s is not installed (Debian package: systemd); this launch-mode test needs it", name)
	}
	return p
}

// cheapHash is a bcrypt hash of testPassword at the minimum cost.
func cheapHash() string {
	return testutil.CheapHash(testPassword)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	return testutil.FreePort(t)
}

// freePortRange finds n consecutive free TCP ports (bound the way the
// daemon binds passive ports: wildcard, dual stack).
func freePortRange(t *testing.T, n int) (int, int) {
	t.Helper()
	return testutil.FreePortRange(t, n)
}

// fixture is a config file, a user root and a control port for one test.
type fixture struct {
	t       *testing.T
	dir     string
	root    string // alice's root
	config  string // config file path
	port    int    // control port (listen, or the socket-activate -l port)
	addr    string // 127.0.0.1:port
	logFile string // log.output, when it is a file
	first   int    // passive range
	last    int
}

// options change the generated config.
type options struct {
	level           string // log.level, default "info"
	output          string // log.output: "" = a file in the test dir
	shutdownTimeout string
	ports           int // passive ports, default 3
}

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, root: filepath.Join(dir, "alice"), config: filepath.Join(dir, "tunnelftpd.toml")}
	if err := os.Mkdir(f.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.root, "hello.txt"), []byte(helloText), 0o644); err != nil {
		t.Fatal(err)
	}
	f.port = freePort(t)
	f.addr = fmt.Sprintf("127.0.0.1:%d", f.port)
	if o.level == "" {
		o.level = "info"
	}
	if o.output == "" {
		f.logFile = filepath.Join(dir, "tunnelftpd.log")
		o.output = f.logFile
	}
	if o.shutdownTimeout == "" {
		o.shutdownTimeout = "20s"
	}
	if o.ports == 0 {
		o.ports = 3
	}
	f.first, f.last = freePortRange(t, o.ports)
	f.writeConfig(fmt.Sprintf(`listen = %q
shutdown_timeout = %q
[passive]
ports = "%d-%d"
[log]
level = %q
output = %q
[auth]
fail_delay = "10ms"
[[users]]
name = %q
password = %q
root = %q
`, f.addr, o.shutdownTimeout, f.first, f.last, o.level, o.output, testUser, cheapHash(), f.root))
	return f
}

// writeConfig replaces the config file (atomically, as an editor would).
func (f *fixture) writeConfig(text string) {
	f.t.Helper()
	tmp := f.config + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o640); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, f.config); err != nil {
		f.t.Fatal(err)
	}
}

// configText is the current config file.
func (f *fixture) configText() string {
	f.t.Helper()
	b, err := os.ReadFile(f.config)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// logs is the daemon's log file so far.
func (f *fixture) logs() string {
	b, _ := os.ReadFile(f.logFile)
	return string(b)
}

// proc is a process started by a test: systemd-socket-activate, or the
// daemon itself.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error // Wait's result, once done is closed
}

// start runs name args in its own process group, stdout and stderr
// captured; the test's cleanup kills the group (by its id) if still there.
func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, stderr: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, out.String())
		}
	})
	return p
}

// socketActivate starts systemd-socket-activate listening on the fixture's
// address with ssaArgs (and -E for each of env), running command; it waits
// until the socket listens.
func socketActivate(t *testing.T, f *fixture, env []string, ssaArgs []string, command ...string) *proc {
	t.Helper()
	ssa := requireTool(t, "systemd-socket-activate")
	args := append([]string{}, ssaArgs...)
	for _, e := range env {
		args = append(args, "-E", e)
	}
	args = append(args, "-l", f.addr)
	args = append(args, command...)
	p := start(t, nil, ssa, args...)
	p.waitOutput(regexp.MustCompile(`Listening on .* as 3`), 10*time.Second)
	return p
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v", p.cmd.Path, timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitOutput waits until the process output matches re and returns the match.
func (p *proc) waitOutput(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	var m []string
	waitFor(p.t, timeout, "output matching "+re.String(), func() bool {
		m = re.FindStringSubmatch(p.stderr.String())
		return m != nil
	})
	return m
}

// waitLog waits until the text returned by logs matches re.
func waitLog(t *testing.T, logs func() string, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	var m []string
	waitFor(t, timeout, "log matching "+re.String(), func() bool {
		m = re.FindStringSubmatch(logs())
		return m != nil
	})
	return m
}

// waitFor polls cond every 20ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, timeout, 20*time.Millisecond, what, cond)
}

// waitGone waits until process pid has exited and been reaped.
func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("process %d to exit", pid), func() bool {
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
	waitFor(t, 10*time.Second, fmt.Sprintf("session %d to start", nth), func() bool {
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
func exercise(t *testing.T, f *fixture, upload string) {
	t.Helper()
	c := dial(t, f.addr)
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
	b, err := os.ReadFile(filepath.Join(f.root, upload))
	if err != nil || string(b) != content {
		t.Errorf("uploaded file: %q, %v", b, err)
	}
}

// rawConn is a hand-driven control connection, with this package's login
// and passive-mode helpers.
type rawConn struct{ *testutil.RawConn }

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	return &rawConn{testutil.DialRaw(t, addr)}
}

var pasvRe = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)

// pasvPort logs in, sends PASV and returns the advertised port.
func pasvPort(t *testing.T, rc *rawConn) int {
	t.Helper()
	msg := rc.Expect(227, "PASV")
	m := pasvRe.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("bad PASV reply %q", msg)
	}
	hi, _ := strconv.Atoi(m[5])
	lo, _ := strconv.Atoi(m[6])
	return hi*256 + lo
}

func (rc *rawConn) login() {
	rc.T.Helper()
	rc.Expect(331, "USER %s", testUser)
	rc.Expect(230, "PASS %s", testPassword)
}

// syncBuffer is a concurrency-safe output sink.
type syncBuffer = testutil.SyncBuffer
