package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ReadReply reads one (possibly multi-line) FTP reply from r: lines up to
// and including the first one of the form "NNN text". It returns the code
// and the lines without their line ends; on a read error, code is 0 and
// lines holds the lines read before it. It sets no deadline.
func ReadReply(r *bufio.Reader) (code int, lines []string, err error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, lines, err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) >= 4 && line[3] == ' ' {
			if code, err := strconv.Atoi(line[:3]); err == nil {
				return code, lines, nil
			}
		}
	}
}

// ReplyTimeout is how long a RawConn waits for each reply (and for each
// transfer as a whole) when its Timeout is zero.
const ReplyTimeout = 20 * time.Second

// DialTimeout is how long a RawConn's default dialer waits for a TCP
// connection (control or data).
const DialTimeout = 10 * time.Second

// Dialer makes a TCP connection to addr: on loopback (nil Dialer), or from
// inside a network namespace the test created.
type Dialer func(addr string) (net.Conn, error)

// Loopback is the default Dialer: TCP with DialTimeout.
func Loopback(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, DialTimeout)
}

var (
	epsvRe = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)
	pasvRe = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)
)

// ParseEPSV returns the port of a 229 reply's text ("... (|||port|)").
func ParseEPSV(msg string) (int, error) {
	m := epsvRe.FindStringSubmatch(msg)
	if m == nil {
		return 0, fmt.Errorf("no (|||port|) in EPSV reply %q", msg)
	}
	p, err := strconv.Atoi(m[1])
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port in EPSV reply %q", msg)
	}
	return p, nil
}

// ParsePASV returns the address and port of a 227 reply's text
// ("... (h1,h2,h3,h4,p1,p2)").
func ParsePASV(msg string) (string, int, error) {
	m := pasvRe.FindStringSubmatch(msg)
	if m == nil {
		return "", 0, fmt.Errorf("no (h1,h2,h3,h4,p1,p2) in PASV reply %q", msg)
	}
	var n [6]int
	for i := range n {
		v, err := strconv.Atoi(m[i+1])
		if err != nil || v > 255 {
			return "", 0, fmt.Errorf("bad number in PASV reply %q", msg)
		}
		n[i] = v
	}
	return strings.Join(m[1:5], "."), n[4]*256 + n[5], nil
}

// RawConn is a hand-driven FTP control connection, for checking exact
// replies and for clients that must do something a real client does not.
//
// Each method X that can fail has a TryX that returns an error instead of
// failing the test; X fails T with that error. The Try methods never touch T, so client
// goroutines (and fuzz targets, with T nil) use them. Data connections
// are passive only: EPSV (or PASV with UsePASV), dialled at the control
// connection's remote host with Dial.
type RawConn struct {
	T testing.TB
	C net.Conn
	R *bufio.Reader

	// Greeting is the text of the 220 reply, when a Dial function read it.
	Greeting string
	// Dial makes the data connections; nil: Loopback.
	Dial Dialer
	// Timeout bounds each reply and each transfer; zero: ReplyTimeout.
	Timeout time.Duration
	// UsePASV makes OpenData and the transfers use PASV instead of EPSV.
	UsePASV bool
}

// DialRaw connects to addr, closes the connection when the test ends, and
// fails the test unless the greeting is 220.
func DialRaw(t testing.TB, addr string) *RawConn {
	t.Helper()
	rc, err := TryDialRaw(nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.C.Close() })
	rc.T = t
	return rc
}

// TryDialRaw connects to addr with dial (nil: Loopback) and reads a 220
// greeting. The caller closes the connection; T is nil.
func TryDialRaw(dial Dialer, addr string) (*RawConn, error) {
	if dial == nil {
		dial = Loopback
	}
	c, err := dial(addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	rc := &RawConn{C: c, R: bufio.NewReader(c), Dial: dial}
	code, msg, err := rc.TryReply()
	if err == nil && code != 220 {
		err = fmt.Errorf("got %d %q", code, msg)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting of %s: %w", addr, err)
	}
	rc.Greeting = msg
	return rc, nil
}

// Close closes the control connection.
func (rc *RawConn) Close() error { return rc.C.Close() }

func (rc *RawConn) timeout() time.Duration {
	if rc.Timeout > 0 {
		return rc.Timeout
	}
	return ReplyTimeout
}

// must fails the test if err is not nil.
func (rc *RawConn) must(err error) {
	if err != nil {
		rc.T.Helper()
		rc.T.Fatal(err)
	}
}

// TryReply reads one (possibly multi-line) reply within the timeout; a
// read error gives code 0, an empty message and an error naming the lines
// read before it.
func (rc *RawConn) TryReply() (int, string, error) {
	rc.C.SetReadDeadline(time.Now().Add(rc.timeout()))
	code, lines, err := ReadReply(rc.R)
	if err != nil {
		return 0, "", fmt.Errorf("reading reply (after %q): %w", lines, err)
	}
	return code, strings.Join(lines, "\n"), nil
}

// Reply is TryReply that fails the test on a read error.
func (rc *RawConn) Reply() (int, string) {
	rc.T.Helper()
	code, msg, err := rc.TryReply()
	rc.must(err)
	return code, msg
}

// command is the command line of format and args (as for fmt.Sprintf),
// without its line end. It takes a slice, not ...any, so that vet does not
// take the methods for printf wrappers: tests pass ready-made command text
// (b.Cmd(cmd)) as the format, as they always have.
func command(format string, args []any) string {
	return strings.TrimSuffix(fmt.Sprintf(format+"\r\n", args...), "\r\n")
}

// TrySend sends a command line (format and args, as for fmt.Sprintf)
// without reading a reply.
func (rc *RawConn) TrySend(format string, args ...any) error {
	cmd := command(format, args)
	if _, err := io.WriteString(rc.C, cmd+"\r\n"); err != nil {
		return fmt.Errorf("sending %s: %w", cmd, err)
	}
	return nil
}

// Send is TrySend that fails the test.
func (rc *RawConn) Send(format string, args ...any) {
	rc.T.Helper()
	rc.must(rc.TrySend(format, args...))
}

// TryCmd sends a command line and returns its reply.
func (rc *RawConn) TryCmd(format string, args ...any) (int, string, error) {
	if err := rc.TrySend(format, args...); err != nil {
		return 0, "", err
	}
	code, msg, err := rc.TryReply()
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", command(format, args), err)
	}
	return code, msg, nil
}

// Cmd is TryCmd that fails the test on a send or read error.
func (rc *RawConn) Cmd(format string, args ...any) (int, string) {
	rc.T.Helper()
	code, msg, err := rc.TryCmd(format, args...)
	rc.must(err)
	return code, msg
}

// TryExpect sends a command and returns an error unless the reply code is
// want; it returns the reply text.
func (rc *RawConn) TryExpect(want int, format string, args ...any) (string, error) {
	code, msg, err := rc.TryCmd(format, args...)
	if err != nil {
		return "", err
	}
	if code != want {
		return msg, fmt.Errorf("%s: got %d %q, want %d", command(format, args), code, msg, want)
	}
	return msg, nil
}

// Expect is TryExpect that fails the test.
func (rc *RawConn) Expect(want int, format string, args ...any) string {
	rc.T.Helper()
	msg, err := rc.TryExpect(want, format, args...)
	rc.must(err)
	return msg
}

// TryLogin sends USER and PASS and expects 331 and 230.
func (rc *RawConn) TryLogin(user, password string) error {
	if _, err := rc.TryExpect(331, "USER %s", user); err != nil {
		return err
	}
	_, err := rc.TryExpect(230, "PASS %s", password)
	return err
}

// Login is TryLogin that fails the test.
func (rc *RawConn) Login(user, password string) {
	rc.T.Helper()
	rc.must(rc.TryLogin(user, password))
}

// TryEpsv sends EPSV, expects 229 and returns the advertised port.
func (rc *RawConn) TryEpsv() (int, error) {
	msg, err := rc.TryExpect(229, "EPSV")
	if err != nil {
		return 0, err
	}
	return ParseEPSV(msg)
}

// Epsv is TryEpsv that fails the test.
func (rc *RawConn) Epsv() int {
	rc.T.Helper()
	p, err := rc.TryEpsv()
	rc.must(err)
	return p
}

// TryPasv sends PASV, expects 227 and returns the advertised address and
// port.
func (rc *RawConn) TryPasv() (string, int, error) {
	msg, err := rc.TryExpect(227, "PASV")
	if err != nil {
		return "", 0, err
	}
	return ParsePASV(msg)
}

// Pasv is TryPasv that fails the test.
func (rc *RawConn) Pasv() (string, int) {
	rc.T.Helper()
	host, p, err := rc.TryPasv()
	rc.must(err)
	return host, p
}

// TryDialData connects to a passive port on the control connection's
// remote host, with Dial. (After PASV, too: the tests check the
// advertised address separately, as a client behind a tunnel ignores it.)
func (rc *RawConn) TryDialData(port int) (net.Conn, error) {
	host, _, err := net.SplitHostPort(rc.C.RemoteAddr().String())
	if err != nil {
		return nil, fmt.Errorf("data connection: control peer %q: %w", rc.C.RemoteAddr(), err)
	}
	dial := rc.Dial
	if dial == nil {
		dial = Loopback
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	c, err := dial(addr)
	if err != nil {
		return nil, fmt.Errorf("data connection to %s: %w", addr, err)
	}
	return c, nil
}

// DialData is TryDialData that fails the test; the test's end closes the
// connection.
func (rc *RawConn) DialData(port int) net.Conn {
	rc.T.Helper()
	c, err := rc.TryDialData(port)
	rc.must(err)
	rc.T.Cleanup(func() { c.Close() })
	return c
}

// TryOpenData asks for a passive port (EPSV, or PASV with UsePASV) and
// connects to it. The caller closes the connection.
func (rc *RawConn) TryOpenData() (net.Conn, error) {
	var port int
	var err error
	if rc.UsePASV {
		_, port, err = rc.TryPasv()
	} else {
		port, err = rc.TryEpsv()
	}
	if err != nil {
		return nil, err
	}
	return rc.TryDialData(port)
}

// OpenData is TryOpenData that fails the test; the test's end closes the
// connection.
func (rc *RawConn) OpenData() net.Conn {
	rc.T.Helper()
	c, err := rc.TryOpenData()
	rc.must(err)
	rc.T.Cleanup(func() { c.Close() })
	return c
}

// TryDownload runs a command that sends data to the client (RETR, LIST,
// NLST, MLSD): it opens a data connection, sends the command, expects 150,
// reads the data to its end and expects 226. It returns the data.
func (rc *RawConn) TryDownload(format string, args ...any) ([]byte, error) {
	return rc.transfer(false, nil, format, args...)
}

// Download is TryDownload that fails the test.
func (rc *RawConn) Download(format string, args ...any) []byte {
	rc.T.Helper()
	b, err := rc.TryDownload(format, args...)
	rc.must(err)
	return b
}

// TryUpload runs a command that receives data (STOR, APPE): it opens a
// data connection, sends the command, expects 150, writes body, closes the
// data connection and expects 226.
func (rc *RawConn) TryUpload(body []byte, format string, args ...any) error {
	_, err := rc.transfer(true, body, format, args...)
	return err
}

// Upload is TryUpload that fails the test.
func (rc *RawConn) Upload(body []byte, format string, args ...any) {
	rc.T.Helper()
	rc.must(rc.TryUpload(body, format, args...))
}

// TryRetr downloads the file name.
func (rc *RawConn) TryRetr(name string) ([]byte, error) { return rc.TryDownload("RETR %s", name) }

// Retr is TryRetr that fails the test.
func (rc *RawConn) Retr(name string) []byte {
	rc.T.Helper()
	return rc.Download("RETR %s", name)
}

// TryStor uploads body as the file name.
func (rc *RawConn) TryStor(name string, body []byte) error {
	return rc.TryUpload(body, "STOR %s", name)
}

// Stor is TryStor that fails the test.
func (rc *RawConn) Stor(name string, body []byte) {
	rc.T.Helper()
	rc.Upload(body, "STOR %s", name)
}

// TryList runs the listing command verb (LIST, NLST or MLSD) on path
// ("" for the current directory) and returns the listing.
func (rc *RawConn) TryList(verb, path string) (string, error) {
	var b []byte
	var err error
	if path == "" {
		b, err = rc.TryDownload("%s", verb)
	} else {
		b, err = rc.TryDownload("%s %s", verb, path)
	}
	return string(b), err
}

// List is TryList that fails the test.
func (rc *RawConn) List(verb, path string) string {
	rc.T.Helper()
	s, err := rc.TryList(verb, path)
	rc.must(err)
	return s
}

// TryReceive completes a download command already sent: it connects to
// the passive port, expects 150, reads the data and returns it once 226
// has come.
func (rc *RawConn) TryReceive(port int) ([]byte, error) {
	data, err := rc.TryDialData(port)
	if err != nil {
		return nil, err
	}
	defer data.Close()
	return rc.complete("the transfer", data, false, nil)
}

// Receive is TryReceive that fails the test.
func (rc *RawConn) Receive(port int) []byte {
	rc.T.Helper()
	b, err := rc.TryReceive(port)
	rc.must(err)
	return b
}

// transfer opens a data connection, sends the command and completes it.
func (rc *RawConn) transfer(upload bool, body []byte, format string, args ...any) ([]byte, error) {
	cmd := command(format, args)
	data, err := rc.TryOpenData()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	defer data.Close()
	if err := rc.TrySend("%s", cmd); err != nil {
		return nil, err
	}
	return rc.complete(cmd, data, upload, body)
}

// complete reads the 150 of cmd, moves the data (sends body and closes,
// or reads to the end) and reads the 226, all within the timeout.
func (rc *RawConn) complete(cmd string, data net.Conn, upload bool, body []byte) ([]byte, error) {
	code, msg, err := rc.TryReply()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	if code != 150 {
		return nil, fmt.Errorf("%s: got %d %q, want 150", cmd, code, msg)
	}
	data.SetDeadline(time.Now().Add(rc.timeout()))
	var got []byte
	if upload {
		_, err = data.Write(body)
		err = errors.Join(err, data.Close())
	} else {
		got, err = io.ReadAll(data)
	}
	if err != nil {
		return got, fmt.Errorf("%s: data connection: %w", cmd, err)
	}
	code, msg, err = rc.TryReply()
	if err != nil {
		return got, fmt.Errorf("%s: after %d bytes: %w", cmd, len(got), err)
	}
	if code != 226 {
		return got, fmt.Errorf("%s: got %d %q after %d bytes, want 226", cmd, code, msg, len(got))
	}
	return got, nil
}
