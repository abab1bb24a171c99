package ftpserver

// tunnelftpd: tests of the conformance hooks (PATCHES.md, conformance 1-5).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hookClientDriver is the test client driver with a lister and
// client-facing errors.
type hookClientDriver struct {
	*TestClientDriver
	calls []string // "COMMAND|cwd|param" of each List call
}

// plainErr is a ClientMessageError.
type plainErr struct{ msg, detail string }

func (e *plainErr) Error() string         { return e.detail }
func (e *plainErr) ClientMessage() string { return e.msg }

func (d *hookClientDriver) List(command, cwd, param string) ([]byte, error) {
	d.calls = append(d.calls, command+"|"+cwd+"|"+param)
	if strings.Contains(param, "missing") {
		return nil, &plainErr{msg: "/missing: no such file", detail: "statat missing: no such file or directory"}
	}

	return []byte("line one " + command + "\r\nline two\r\n"), nil
}

func (d *hookClientDriver) Remove(name string) error {
	return fmt.Errorf("remove: %w", &plainErr{msg: name + ": is a directory", detail: "unlinkat x: is a directory"})
}

// hookServerDriver answers FEAT and HELP itself.
type hookServerDriver struct {
	TestServerDriver
	client *hookClientDriver
}

func (d *hookServerDriver) HandleCommand(_ ClientContext, command, param string) *CommandReply {
	switch command {
	case "FEAT":
		return &CommandReply{Code: StatusSystemStatus, Lines: []string{"Extensions supported:", " UTF8", " 2DIGITS", "END"}}
	case "HELP":
		if param != "" {
			return &CommandReply{Code: StatusHelpMessage, Lines: []string{"Syntax: " + strings.ToUpper(param)}}
		}
	}

	return nil
}

func newHookServer(t *testing.T) (*hookServerDriver, string) {
	t.Helper()

	d := &hookServerDriver{TestServerDriver: TestServerDriver{Settings: &Settings{}}}
	d.AuthProvider = func(user, pass string) (ClientDriver, error) {
		if user != authUser || pass != authPass {
			return nil, errBadUserNameOrPassword
		}

		d.client = &hookClientDriver{TestClientDriver: NewTestClientDriver(&d.TestServerDriver)}

		return d.client, nil
	}
	d.Init()
	server := NewTestServerWithDriver(t, d)

	return d, server.Addr()
}

// rawClient is a minimal FTP client that returns replies byte for byte.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))

	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	require.True(t, strings.HasPrefix(c.reply(), "220"))

	return c
}

// reply reads one whole (possibly multi-line) reply, CRLFs included.
func (c *rawClient) reply() string {
	c.t.Helper()

	var all strings.Builder

	first := ""

	for {
		line, err := c.r.ReadString('\n')
		require.NoError(c.t, err, "reading reply so far: %q", all.String())
		all.WriteString(line)

		if first == "" {
			first = line
			if len(line) >= 4 && line[3] == ' ' {
				return all.String()
			}

			continue
		}

		if len(line) >= 4 && line[:3] == first[:3] && line[3] == ' ' {
			return all.String()
		}
	}
}

func (c *rawClient) cmd(line string) string {
	c.t.Helper()

	_, err := io.WriteString(c.conn, line+"\r\n")
	require.NoError(c.t, err)

	return c.reply()
}

func (c *rawClient) login() {
	c.t.Helper()
	require.True(c.t, strings.HasPrefix(c.cmd("USER "+authUser), "331"))
	require.True(c.t, strings.HasPrefix(c.cmd("PASS "+authPass), "230"))
}

// data runs command on a fresh EPSV data connection and returns the data
// and the final reply.
func (c *rawClient) data(command string) (string, string) {
	c.t.Helper()

	epsv := c.cmd("EPSV")
	require.True(c.t, strings.HasPrefix(epsv, "229"), epsv)
	i := strings.Index(epsv, "(|||")
	j := strings.Index(epsv, "|)")
	port, err := strconv.Atoi(epsv[i+4 : j])
	require.NoError(c.t, err)

	dc, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	require.NoError(c.t, err)

	defer func() { _ = dc.Close() }()

	first := c.cmd(command)
	require.True(c.t, strings.HasPrefix(first, "150"), first)
	got, err := io.ReadAll(dc)
	require.NoError(c.t, err)

	return string(got), c.reply()
}

func TestCommandHookReplies(t *testing.T) {
	_, addr := newHookServer(t)
	c := dialRaw(t, addr)

	// Before login too (FEAT is open): middle lines as they are.
	require.Equal(t, "211-Extensions supported:\r\n UTF8\r\n 2DIGITS\r\n211 END\r\n", c.cmd("FEAT"))

	c.login()
	require.Equal(t, "214 Syntax: RETR\r\n", c.cmd("HELP retr"))
	// nil from the hook: the library's own handler runs.
	require.Equal(t, "502 This command hasn't been implemented !\r\n", c.cmd("HELP"))
	require.Equal(t, "200 OK\r\n", c.cmd("NOOP"))
}

func TestListerOverDataConnection(t *testing.T) {
	d, addr := newHookServer(t)
	c := dialRaw(t, addr)
	c.login()
	require.True(t, strings.HasPrefix(c.cmd("CWD /"), "250"))

	for _, command := range []string{"LIST", "NLST", "MLSD"} {
		got, final := c.data(command + " -la my dir/*.txt")
		require.Equal(t, "line one "+command+"\r\nline two\r\n", got, command)
		require.True(t, strings.HasPrefix(final, "226"), final)
	}

	require.Equal(t, []string{"LIST|/|-la my dir/*.txt", "NLST|/|-la my dir/*.txt", "MLSD|/|-la my dir/*.txt"}, d.client.calls)

	// An error is replied before any data connection, with the driver's words.
	require.Equal(t, "450 /missing: no such file\r\n", c.cmd("LIST missing"))
	require.Equal(t, "450 /missing: no such file\r\n", c.cmd("NLST missing"))
	require.Equal(t, "550 /missing: no such file\r\n", c.cmd("MLSD missing"))
}

func TestListerOverControlConnection(t *testing.T) {
	d, addr := newHookServer(t)
	c := dialRaw(t, addr)
	c.login()

	require.Equal(t, "250-Listing some file\r\n line one MLST\r\n line two\r\n250 End\r\n", c.cmd("MLST some file"))
	require.Equal(t, "250-Listing /\r\n line one MLST\r\n line two\r\n250 End\r\n", c.cmd("MLST"))
	require.Equal(t, "213-Status of sub:\r\n line one STAT\r\n line two\r\n213 End of status\r\n", c.cmd("STAT sub"))
	require.Equal(t, "550 /missing: no such file\r\n", c.cmd("MLST missing"))
	require.Equal(t, "450 /missing: no such file\r\n", c.cmd("STAT missing"))
	require.Equal(t, []string{"MLST|/|some file", "MLST|/|", "STAT|/|sub", "MLST|/|missing", "STAT|/|missing"}, d.client.calls)
}

func TestClientMessageErrorReplaces(t *testing.T) {
	_, addr := newHookServer(t)
	c := dialRaw(t, addr)
	c.login()

	// Wrapped by the driver and by the library: the client sees the words.
	require.Equal(t, "550 /sub: is a directory\r\n", c.cmd("DELE sub"))

	// A plain error keeps the library's text.
	require.True(t, strings.HasPrefix(c.cmd("CWD /nowhere"), "550 CD issue: "))
}

func TestErrorTextUnwraps(t *testing.T) {
	c := &clientHandler{logger: NewFtpServer(&TestServerDriver{}).Logger}
	inner := &plainErr{msg: "/x: no such file", detail: "statat x: no such file or directory"}

	require.Equal(t, "/x: no such file", c.errorText("fallback", newDriverError("calling GetHandle", inner)))
	require.Equal(t, "/x: no such file", c.errorText("fallback", newFileAccessError("couldn't stat", inner)))
	require.Equal(t, "fallback", c.errorText("fallback", os.ErrNotExist))
	require.Equal(t, "fallback", c.errorText("fallback", errors.New("x")))
}

func TestXCUPIsCDUP(t *testing.T) {
	server := NewTestServer(t, false)
	c := dialRaw(t, server.Addr())
	c.login()

	require.True(t, strings.HasPrefix(c.cmd("MKD /xcup"), "257"))
	require.True(t, strings.HasPrefix(c.cmd("CWD /xcup"), "250"))
	require.Equal(t, "250 CDUP worked on /\r\n", c.cmd("XCUP"))
	require.Equal(t, "257 \"/\" is the current directory\r\n", c.cmd("XPWD"))
}

func TestSTATServerNamesTheAddressReached(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)

	// ListenAddr is "127.0.0.1:0" (set by Init), and unused with a Listener.
	server := NewTestServerWithTestDriver(t, &TestServerDriver{Settings: &Settings{Listener: ln}})
	c := dialRaw(t, server.Addr())
	c.login()

	status := c.cmd("STAT")
	require.Contains(t, status, "\r\nConnected to "+ln.Addr().String()+" from 127.0.0.1:", status)
}
