package server

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/tunnelftpd/tunnelftpd/internal/servertest"
	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

const (
	testUser     = servertest.User
	testPassword = servertest.Password
	roUser       = servertest.ROUser
)

// cheapHash is a bcrypt hash of testPassword at the minimum cost, so that
// tests log in fast.
func cheapHash(t testing.TB) string {
	return testutil.CheapHash(testPassword)
}

// testServer is a running server on loopback with temp roots: the Server
// under test and what servertest knows of it.
type testServer struct {
	*Server
	st     *servertest.Server
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

// startServer runs a server (servertest.Start) with a passive range of
// ports ports and the config changed by mutate.
func startServer(t testing.TB, ports int, mutate func(*config.Config)) *testServer {
	t.Helper()
	var srv *Server
	st := servertest.Start(t, servertest.Options{Ports: ports, Mutate: mutate},
		func(c *config.Config, log *slog.Logger) (servertest.Serving, error) {
			s, err := New(c, Options{Log: log})
			srv = s
			return s, err
		})
	return &testServer{Server: srv, st: st, Addr: st.Addr, Root: st.Root, RORoot: st.RORoot, Logs: st.Logs, cfg: st.Config}
}

// passiveWaiting is the number of PASVs waiting for a free port now.
func (ts *testServer) passiveWaiting() int { return ts.Server.live.Load().pool.Waiting() }

// syncBuffer is a concurrency-safe log sink.
type syncBuffer = testutil.SyncBuffer

// login returns a logged-in jlaffaye client (passive mode, EPSV off unless epsv).
func (ts *testServer) login(t testing.TB, user string, epsv bool) *ftp.ServerConn {
	t.Helper()
	return ts.st.Login(t, user, epsv)
}

// dialRaw is a hand-driven control connection, for checking exact replies.
func dialRaw(t testing.TB, addr string) *testutil.RawConn {
	t.Helper()
	return testutil.DialRaw(t, addr)
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
