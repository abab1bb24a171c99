// Package servertest is httptest for tunnelftpd: it starts an FTP server on
// 127.0.0.1:0 with temporary user roots and a fresh passive range, hands out
// logged-in clients, and shuts everything down when the test ends.
//
// It owns the test configuration (two virtual users, cheap hashes, debug
// logs into the test's log) and the serve/shutdown lifecycle. It does not
// import package server, so that server's own in-package tests can use it:
// the caller passes the constructor (Start's build argument). Test code only.
package servertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
)

// The two accounts every test server has. Both use Password.
const (
	User     = "alice"  // may write, root Server.Root
	ROUser   = "reader" // read_only, root Server.RORoot
	Password = "correct horse"
)

// Serving is what Start needs of a server: *server.Server has both methods.
type Serving interface {
	Serve(l net.Listener) error
	Shutdown(ctx context.Context) error
}

// Build makes the server under test from a validated config and the
// production logger (whose output the test sees in Server.Logs).
type Build func(cfg *config.Config, log *slog.Logger) (Serving, error)

// Options says how the test server differs from the default one.
type Options struct {
	// Ports is the size of the passive range; 0 means 5.
	Ports int
	// Mutate changes the config before it is validated; nil changes nothing.
	Mutate func(*config.Config)
}

// Server is a running test server.
type Server struct {
	Addr   string               // control address, 127.0.0.1:port
	Root   string               // User's root
	RORoot string               // ROUser's root
	Logs   *testutil.SyncBuffer // every log line the server wrote
	Config *config.Config       // the validated config it runs on
}

// Start runs the server that build makes on a config built from the
// defaults, the two users and a fresh passive range, changed by o.Mutate.
// The server is shut down (5 s grace) at the test's cleanup, and a Serve
// error fails the test.
func Start(t testing.TB, o Options, build Build) *Server {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, User)
	roRoot := filepath.Join(dir, ROUser)
	for _, d := range []string{root, roRoot} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ports := o.Ports
	if ports == 0 {
		ports = 5
	}
	first, last := testutil.FreePortRange(t, ports)
	c := config.Default()
	c.File = "test.toml"
	c.Passive.Ports = fmt.Sprintf("%d-%d", first, last)
	c.Auth.FailDelay = config.Duration{Duration: 10 * time.Millisecond}
	c.Users = []config.UserConfig{
		{Name: User, Password: testutil.CheapHash(Password), Root: root},
		{Name: ROUser, Password: testutil.CheapHash(Password), Root: roRoot, ReadOnly: true},
	}
	if o.Mutate != nil {
		o.Mutate(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	c.Listen = "127.0.0.1:0" // after validation, which wants a real port
	c.Log.Level = "debug"
	logs := &testutil.SyncBuffer{}
	// The production logger, so tests see the real log lines.
	srv, err := build(c, logging.NewLogger(c, io.MultiWriter(logs, testLog{t})))
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
	return &Server{Addr: l.Addr().String(), Root: root, RORoot: roRoot, Logs: logs, Config: c}
}

// Login returns a jlaffaye client logged in as user with Password, in
// passive mode (EPSV only when epsv), quit at cleanup.
func (s *Server) Login(t testing.TB, user string, epsv bool) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(s.Addr, ftp.DialWithTimeout(10*time.Second), ftp.DialWithDisabledEPSV(!epsv))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := c.Login(user, Password); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

// Raw returns a raw control connection to the server (greeting read),
// closed at cleanup.
func (s *Server) Raw(t testing.TB) *testutil.RawConn {
	t.Helper()
	return testutil.DialRaw(t, s.Addr)
}

// RawLogin returns a raw control connection logged in as user.
func (s *Server) RawLogin(t testing.TB, user string) *testutil.RawConn {
	t.Helper()
	rc := s.Raw(t)
	rc.Login(user, Password)
	return rc
}

// InRange reports whether port is in the server's passive range.
func (s *Server) InRange(port int) bool {
	return port >= s.Config.Passive.First && port <= s.Config.Passive.Last
}

// testLog sends server logs to the test log (shown on failure or -v).
type testLog struct{ t testing.TB }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Helper()
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
