package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
)

const (
	testUser     = "alice"
	testPassword = "correct horse"
	roUser       = "reader"
)

// cheapHash is a bcrypt hash of testPassword at the minimum cost, so that
// tests log in fast.
func cheapHash(t testing.TB) string {
	return testutil.CheapHash(testPassword)
}

// testServer is a running server on loopback with temp roots.
type testServer struct {
	*Server
	Addr   string
	Root   string // alice's root
	RORoot string // reader's root
	Logs   *syncBuffer
	cfg    *config.Config
}

// bindable reports whether the library could bind port now.
func bindable(port int) bool {
	l, err := listenTCPPort(port)
	if err == nil {
		l.Close()
	}
	return err == nil
}

// freePortRange finds n consecutive free TCP ports.
func freePortRange(t testing.TB, n int) (int, int) {
	t.Helper()
	return testutil.FreePortRange(t, n)
}

// startServer runs a server with a config built from the defaults, two users
// and a fresh passive range of ports ports, changed by mutate.
func startServer(t testing.TB, ports int, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startServerOpts(t, ports, mutate, nil)
}

// startServerOpts is startServer with the server's Options changed by opts.
func startServerOpts(t testing.TB, ports int, mutate func(*config.Config), opts func(*Options)) *testServer {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "alice")
	roRoot := filepath.Join(dir, "reader")
	for _, d := range []string{root, roRoot} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	first, last := freePortRange(t, ports)
	c := config.Default()
	c.File = "test.toml"
	c.Passive.Ports = fmt.Sprintf("%d-%d", first, last)
	c.Auth.FailDelay = config.Duration{Duration: 10 * time.Millisecond}
	c.RegistryDir = dir // and so the shutdown file: never the host's
	c.Users = []config.UserConfig{
		{Name: testUser, Password: cheapHash(t), Root: root},
		{Name: roUser, Password: cheapHash(t), Root: roRoot, ReadOnly: true},
	}
	if mutate != nil {
		mutate(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	c.Listen = "127.0.0.1:0" // after validation, which wants a real port
	logs := &syncBuffer{}
	c.Log.Level = "debug"
	// The production logger, so tests see the real log lines.
	o := Options{Log: logging.NewLogger(c, io.MultiWriter(logs, testLogWriter{t}))}
	if opts != nil {
		opts(&o)
	}
	srv, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{Server: srv, Addr: l.Addr().String(), Root: root, RORoot: roRoot, Logs: logs, cfg: c}
}

// testLogWriter sends server logs to the test log (shown on failure or -v).
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// syncBuffer is a concurrency-safe log sink.
type syncBuffer = testutil.SyncBuffer

// login returns a logged-in jlaffaye client (passive mode, EPSV off unless epsv).
func (ts *testServer) login(t testing.TB, user string, epsv bool) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(ts.Addr, ftp.DialWithTimeout(10*time.Second), ftp.DialWithDisabledEPSV(!epsv))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := c.Login(user, testPassword); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

// rawConn is a hand-driven control connection, for checking exact replies,
// with this package's login and passive-mode helpers.
type rawConn struct{ *testutil.RawConn }

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	return &rawConn{testutil.DialRaw(t, addr)}
}

func (rc *rawConn) login(user string) {
	rc.T.Helper()
	rc.Expect(331, "USER %s", user)
	rc.Expect(230, "PASS %s", testPassword)
}

var pasvRe = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)
var epsvRe = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)

// pasv sends PASV and returns the advertised address.
func (rc *rawConn) pasv() (string, int) {
	rc.T.Helper()
	msg := rc.Expect(227, "PASV")
	m := pasvRe.FindStringSubmatch(msg)
	if m == nil {
		rc.T.Fatalf("bad PASV reply %q", msg)
	}
	hi, _ := strconv.Atoi(m[5])
	lo, _ := strconv.Atoi(m[6])
	return strings.Join(m[1:5], "."), hi*256 + lo
}

// epsv sends EPSV and returns the advertised port.
func (rc *rawConn) epsv() int {
	rc.T.Helper()
	msg := rc.Expect(229, "EPSV")
	m := epsvRe.FindStringSubmatch(msg)
	if m == nil {
		rc.T.Fatalf("bad EPSV reply %q", msg)
	}
	p, _ := strconv.Atoi(m[1])
	return p
}

// retr runs a passive RETR of name on rc and returns the data.
func (rc *rawConn) retr(name string) []byte {
	rc.T.Helper()
	port := rc.epsv()
	if _, err := fmt.Fprintf(rc.C, "RETR %s\r\n", name); err != nil {
		rc.T.Fatal(err)
	}
	return rc.receive(port)
}

// receive completes a RETR already sent on rc: it connects to the passive
// port, expects 150, reads the data and returns it once 226 has come.
func (rc *rawConn) receive(port int) []byte {
	rc.T.Helper()
	data, err := dialData(port)
	if err != nil {
		rc.T.Fatal(err)
	}
	defer data.Close()
	if code, msg := rc.Reply(); code != 150 {
		rc.T.Fatalf("RETR: %d %s", code, msg)
	}
	b, err := io.ReadAll(data)
	if err != nil {
		rc.T.Fatal(err)
	}
	if code, msg := rc.Reply(); code != 226 {
		rc.T.Fatalf("RETR: %d %s, data %q", code, msg, b)
	}
	return b
}

// waitFor polls cond every 10ms until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, timeout, 10*time.Millisecond, what, cond)
}

// listenTCPPort binds port on the wildcard address, as the library does.
func listenTCPPort(port int) (net.Listener, error) {
	return net.ListenTCP("tcp", &net.TCPAddr{Port: port})
}

// expectRefusal connects to addr and fails the test unless the server sends
// a 421 mentioning want and closes the connection.
func expectRefusal(t testing.TB, addr, want string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "421 ") || !strings.Contains(string(b), want) {
		t.Errorf("connection got %q, want a 421 naming %s", b, want)
	}
}
