package reliability

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

const (
	testUser     = "alice"
	testPassword = "correct horse"
)

// binary is the tunnelftpd built for this test run (TestMain).
var binary string

func TestMain(m *testing.M) { testutil.MainWithTunnelftpd(m, "tunnelftpd-reliability-", &binary) }

func cheapHash() string {
	return testutil.CheapHash(testPassword)
}

// fixture is a config, a user root and a log for one daemon.
type fixture struct {
	t       *testing.T
	dir     string
	root    string
	config  string
	addr    string // control address
	logFile string
	xferlog string
	first   int // passive range
	last    int
}

// settings are the config values a test changes; zero values take the
// defaults below.
type settings struct {
	listen          string // default 127.0.0.1:<free port>
	ports           [2]int // default: 5 free ports
	address         string // passive.address, default 127.0.0.1
	shutdownTimeout string // default 30s
	dataTimeout     string // default 2m
	idleTimeout     string // default 15m
	maxSessions     int    // default 200
	wait            string // passive.wait, default 20s
	banner          string
}

func newFixture(t *testing.T, s settings) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, root: filepath.Join(dir, "alice"), config: filepath.Join(dir, "tunnelftpd.toml"),
		logFile: filepath.Join(dir, "tunnelftpd.log"), xferlog: filepath.Join(dir, "xferlog")}
	if err := os.Mkdir(f.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if s.listen == "" {
		s.listen = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	}
	f.addr = s.listen
	if s.ports == [2]int{} {
		s.ports[0], s.ports[1] = testutil.FreePortRange(t, 5)
	}
	f.first, f.last = s.ports[0], s.ports[1]
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&s.address, "127.0.0.1")
	def(&s.shutdownTimeout, "30s")
	def(&s.dataTimeout, "2m")
	def(&s.idleTimeout, "15m")
	def(&s.wait, "20s")
	def(&s.banner, "tunnelftpd ready")
	if s.maxSessions == 0 {
		s.maxSessions = 200
	}
	f.writeConfig(fmt.Sprintf(`listen = %q
banner = %q
max_sessions = %d
shutdown_timeout = %q
data_timeout = %q
idle_timeout = %q
[passive]
ports = "%d-%d"
address = %q
wait = %q
accept_timeout = "20s"
[log]
output = %q
xferlog = %q
[auth]
fail_delay = "10ms"
[[users]]
name = %q
password = %q
root = %q
`, s.listen, s.banner, s.maxSessions, s.shutdownTimeout, s.dataTimeout, s.idleTimeout, f.first, f.last,
		s.address, s.wait, f.logFile, f.xferlog, testUser, cheapHash(), f.root))
	return f
}

// writeConfig replaces the config file atomically, as an editor would.
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

func (f *fixture) logs() string {
	b, _ := os.ReadFile(f.logFile)
	return string(b)
}

// waitLog waits until the daemon's log matches re and returns the matches.
func (f *fixture) waitLog(re *regexp.Regexp, timeout time.Duration) [][]string {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindAllStringSubmatch(f.logs(), -1); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no log line matching %s after %v; log:\n%s", re, timeout, f.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// xfer returns the status field (c or i) of each xferlog line.
func (f *fixture) xfer() []string {
	b, _ := os.ReadFile(f.xferlog)
	var st []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if fs := strings.Fields(l); len(fs) > 0 {
			st = append(st, fs[len(fs)-1])
		}
	}
	return st
}

// daemon is the tunnelftpd process under test.
type daemon struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// startDaemon runs `prefix... tunnelftpd serve -c <config>` and waits until it
// serves. The test's cleanup kills it (by pid) if it is still running.
func (f *fixture) startDaemon(prefix ...string) *daemon {
	f.t.Helper()
	args := append(append([]string{}, prefix...), binary, "serve", "-c", f.config)
	cmd := exec.Command(args[0], args[1:]...)
	d := &daemon{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	f.t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			cmd.Process.Kill()
			<-d.done
		}
		if f.t.Failed() {
			f.t.Logf("daemon output:\n%s\ndaemon log:\n%s", d.out.String(), f.logs())
		}
	})
	serving := regexp.MustCompile(`msg=serving `)
	deadline := time.Now().Add(20 * time.Second)
	for !serving.MatchString(f.logs()) {
		if d.exited() || time.Now().After(deadline) {
			f.t.Fatalf("the daemon did not start (exited: %v, %v):\n%s", d.exited(), d.err, d.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// exited reports whether the process has ended.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and returns its exit code (-1 after
// timeout).
func (d *daemon) wait(timeout time.Duration) int {
	select {
	case <-d.done:
		return d.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		return -1
	}
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

// ctl is a hand-driven control connection whose methods return errors, so
// that client goroutines can use it.
type ctl struct {
	c net.Conn
	r *bufio.Reader
}

// dialer makes TCP connections (in another network namespace, for netns tests).
type dialer func(addr string) (net.Conn, error)

func loopback(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 10*time.Second) }

// login connects, reads the greeting and logs in.
func login(dial dialer, addr string) (*ctl, string, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, "", err
	}
	k := &ctl{c: c, r: bufio.NewReader(c)}
	code, banner, err := k.reply()
	if err != nil || code != 220 {
		c.Close()
		return nil, banner, fmt.Errorf("greeting: %d %q %v", code, banner, err)
	}
	if err := k.expect(331, "USER "+testUser); err != nil {
		c.Close()
		return nil, banner, err
	}
	if err := k.expect(230, "PASS "+testPassword); err != nil {
		c.Close()
		return nil, banner, err
	}
	return k, banner, nil
}

func (k *ctl) reply() (int, string, error) {
	k.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	code, lines, err := testutil.ReadReply(k.r)
	return code, strings.Join(lines, "\n"), err
}

func (k *ctl) send(line string) error {
	_, err := fmt.Fprintf(k.c, "%s\r\n", line)
	return err
}

func (k *ctl) expect(want int, line string) error {
	if err := k.send(line); err != nil {
		return err
	}
	code, msg, err := k.reply()
	if err != nil || code != want {
		return fmt.Errorf("%s: %d %q %v, want %d", line, code, msg, err, want)
	}
	return nil
}

var epsvRe = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)

// dataConn sends EPSV and connects to the advertised port on host.
func (k *ctl) dataConn(dial dialer, host string) (net.Conn, error) {
	if err := k.send("EPSV"); err != nil {
		return nil, err
	}
	code, msg, err := k.reply()
	m := epsvRe.FindStringSubmatch(msg)
	if err != nil || code != 229 || m == nil {
		return nil, fmt.Errorf("EPSV: %d %q %v", code, msg, err)
	}
	return dial(net.JoinHostPort(host, m[1]))
}

// payload is n deterministic pseudo-random bytes.
func payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// syncBuffer is a concurrency-safe output sink.
type syncBuffer = testutil.SyncBuffer

// discardN reads n bytes from r into w.
func readN(r io.Reader, w io.Writer, n int64) error {
	_, err := io.CopyN(w, r, n)
	return err
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
