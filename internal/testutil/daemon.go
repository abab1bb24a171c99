package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The FTP account of every Daemon, and the file in its root.
const (
	DaemonUser     = "alice"
	DaemonPassword = "correct horse"
	HelloName      = "hello.txt"
	HelloText      = "hello from tunnelftpd\n"
)

// DaemonOptions are the config values a test sets; a zero value leaves the
// key out of the file (the daemon's default applies) unless said otherwise.
type DaemonOptions struct {
	Listen          string // listen; "": 127.0.0.1 and a free port
	Banner          string
	MaxSessions     int
	ShutdownTimeout string
	DataTimeout     string
	IdleTimeout     string
	Ports           [2]int // passive.ports; zero: PortCount free consecutive ports
	PortCount       int    // zero: 3
	Address         string // passive.address
	Wait            string // passive.wait
	AcceptTimeout   string // passive.accept_timeout
	LogLevel        string // log.level
	LogOutput       string // log.output; "": the file LogFile in the test's directory
	Xferlog         bool   // log.xferlog: the file Xferlog in the test's directory
}

// Daemon is the fixture of one tunnelftpd process under test: a directory
// with a config file, the root of the one user (DaemonUser, with
// HelloName in it), the log file and the transfer log. Serve runs the
// daemon on it; tests that start it another way (systemd-socket-activate,
// inetd) use its files with StartProcess.
type Daemon struct {
	T       testing.TB
	Bin     string // the tunnelftpd binary Serve runs
	Dir     string // the test's directory, holding everything below
	Root    string // DaemonUser's root
	Config  string // the config file
	Addr    string // the control address (listen)
	Port    int    // its port
	LogFile string // the log file; "" when log.output is not a file of the fixture's
	Xferlog string // the transfer log; "" without one
	First   int    // the passive range
	Last    int
}

// NewDaemon makes the fixture for bin with the options o, and writes its
// config file. If the test fails, the end of the log file is logged.
func NewDaemon(t testing.TB, bin string, o DaemonOptions) *Daemon {
	t.Helper()
	dir := t.TempDir()
	d := &Daemon{T: t, Bin: bin, Dir: dir, Root: filepath.Join(dir, DaemonUser), Config: filepath.Join(dir, "tunnelftpd.toml")}
	if err := os.Mkdir(d.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Root, HelloName), []byte(HelloText), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Addr = o.Listen
	if d.Addr == "" {
		d.Addr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	_, port, err := net.SplitHostPort(d.Addr)
	if err == nil {
		d.Port, err = strconv.Atoi(port)
	}
	if err != nil {
		t.Fatalf("DaemonOptions.Listen %q: %v", o.Listen, err)
	}
	d.First, d.Last = o.Ports[0], o.Ports[1]
	if o.Ports == [2]int{} {
		n := o.PortCount
		if n == 0 {
			n = 3
		}
		d.First, d.Last = FreePortRange(t, n)
	}
	output := o.LogOutput
	if output == "" {
		d.LogFile = filepath.Join(dir, "tunnelftpd.log")
		output = d.LogFile
	}
	if o.Xferlog {
		d.Xferlog = filepath.Join(dir, "xferlog")
	}
	d.WriteConfig(d.configText(o, output))
	t.Cleanup(func() {
		if t.Failed() && d.LogFile != "" {
			t.Logf("--- daemon log %s:\n%s", d.LogFile, Tail(d.Logs(), 12000))
		}
	})
	return d
}

// configText is the config file for o. Top-level keys come first, then
// [passive], [log], [auth] and the user, so that a test can add a
// top-level key in front and table keys after a table's header.
func (d *Daemon) configText(o DaemonOptions, output string) string {
	var b strings.Builder
	str := func(key, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s = %q\n", key, v)
		}
	}
	str("listen", d.Addr)
	str("banner", o.Banner)
	if o.MaxSessions != 0 {
		fmt.Fprintf(&b, "max_sessions = %d\n", o.MaxSessions)
	}
	str("shutdown_timeout", o.ShutdownTimeout)
	str("data_timeout", o.DataTimeout)
	str("idle_timeout", o.IdleTimeout)
	b.WriteString("[passive]\n")
	fmt.Fprintf(&b, "ports = \"%d-%d\"\n", d.First, d.Last)
	str("address", o.Address)
	str("wait", o.Wait)
	str("accept_timeout", o.AcceptTimeout)
	b.WriteString("[log]\n")
	str("level", o.LogLevel)
	str("output", output)
	str("xferlog", d.Xferlog)
	b.WriteString("[auth]\n")
	str("fail_delay", "10ms")
	b.WriteString("[[users]]\n")
	str("name", DaemonUser)
	str("password", CheapHash(DaemonPassword))
	str("root", d.Root)
	return b.String()
}

// WriteConfig replaces the config file atomically, as an editor would.
func (d *Daemon) WriteConfig(text string) {
	d.T.Helper()
	tmp := d.Config + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o640); err != nil {
		d.T.Fatal(err)
	}
	if err := os.Rename(tmp, d.Config); err != nil {
		d.T.Fatal(err)
	}
}

// ConfigText is the config file now.
func (d *Daemon) ConfigText() string {
	d.T.Helper()
	b, err := os.ReadFile(d.Config)
	if err != nil {
		d.T.Fatal(err)
	}
	return string(b)
}

// EditConfig replaces the first old in the config file with new (through
// WriteConfig), and fails the test if the file has no old.
func (d *Daemon) EditConfig(old, new string) {
	d.T.Helper()
	text := d.ConfigText()
	if !strings.Contains(text, old) {
		d.T.Fatalf("EditConfig: %q is not in %s:\n%s", old, d.Config, text)
	}
	d.WriteConfig(strings.Replace(text, old, new, 1))
}

// Logs is the log file so far ("" without one).
func (d *Daemon) Logs() string {
	if d.LogFile == "" {
		return ""
	}
	b, _ := os.ReadFile(d.LogFile)
	return string(b)
}

// WaitLog waits until the log file matches re and returns the first match
// and its submatches; it fails the test after timeout.
func (d *Daemon) WaitLog(re *regexp.Regexp, timeout time.Duration) []string {
	d.T.Helper()
	return WaitText(d.T, "the daemon's log", d.Logs, re, timeout)
}

// WaitText waits until text() matches re and returns the first match and
// its submatches; it fails the test after timeout, naming what.
func WaitText(t testing.TB, what string, text func() string, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	m, err := waitMatch(nil, text, re, timeout)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return m
}

// Xfer is the status field (c or i) of each line of the transfer log.
func (d *Daemon) Xfer() []string {
	if d.Xferlog == "" {
		return nil
	}
	b, _ := os.ReadFile(d.Xferlog)
	var st []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if fs := strings.Fields(l); len(fs) > 0 {
			st = append(st, fs[len(fs)-1])
		}
	}
	return st
}

// WaitXfer waits until the transfer log has at least n lines, and fails
// the test after timeout.
func (d *Daemon) WaitXfer(n int, timeout time.Duration) {
	d.T.Helper()
	if !Poll(timeout, 20*time.Millisecond, func() bool { return len(d.Xfer()) >= n }) {
		d.T.Fatalf("xferlog has %d lines after %v, want %d", len(d.Xfer()), timeout, n)
	}
}

// Serve runs `prefix... Bin serve -c Config` (prefix: for example
// `ip netns exec NS`) with StartProcess, and waits until the daemon logs
// that it serves. It fails the test if the daemon exits first or takes
// more than 20 seconds.
func (d *Daemon) Serve(prefix ...string) *Process {
	d.T.Helper()
	args := append(append([]string{}, prefix...), d.Bin, "serve", "-c", d.Config)
	p := StartProcess(d.T, "tunnelftpd serve", exec.Command(args[0], args[1:]...))
	text := d.Logs
	if d.LogFile == "" {
		text = p.Out.String
	}
	if _, err := waitMatch(p, text, regexp.MustCompile(`msg=serving `), 20*time.Second); err != nil {
		d.T.Fatalf("the daemon did not start: %v", err)
	}
	return p
}

// TryClient connects with dial (nil: Loopback) and logs in as DaemonUser.
// The caller closes the connection.
func (d *Daemon) TryClient(dial Dialer) (*RawConn, error) {
	rc, err := TryDialRaw(dial, d.Addr)
	if err != nil {
		return nil, err
	}
	if err := rc.TryLogin(DaemonUser, DaemonPassword); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}

// Client is a RawConn logged in as DaemonUser; the test's end closes it.
func (d *Daemon) Client() *RawConn {
	d.T.Helper()
	rc := DialRaw(d.T, d.Addr)
	rc.Login(DaemonUser, DaemonPassword)
	return rc
}
