package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A raw control-protocol client rather than github.com/jlaffaye/ftp: that
// client hands RETR data back behind its own Response type, so io.Copy into a
// file cannot reach splice and the client would measure its own userspace
// copy; it also hides the exact reply code of a failure and the moment the
// banner arrives, which the concurrency and session phases report.

// Passive describes where PASV data connections may go.
type Passive struct {
	First, Last int    // the passive range every server is configured with
	Address     string // the address every server must advertise
	// PortOffset is added to the advertised port before dialing: through
	// the tunnel, local port P+offset is the forward of server port P
	// (both ends of the tunnel are on this host, so they cannot share
	// port numbers).
	PortOffset int
}

// ReplyError is a reply outside the expected class.
type ReplyError struct {
	Cmd  string // command verb, "connect" for the banner
	Code int
	Text string
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.Cmd, e.Code, e.Text)
}

// Stage errors that have no reply code.
var (
	ErrPasvOutOfRange = errors.New("PASV advertised a port outside the passive range (unreachable through the tunnel)")
	ErrPasvAddress    = errors.New("PASV advertised an address other than the configured one")
	ErrShort          = errors.New("transfer moved a different number of bytes than expected")
)

// Conn is one control connection.
type Conn struct {
	c       *net.TCPConn
	r       *bufio.Reader
	pasv    Passive
	timeout time.Duration // for each reply, and for each data connection as a whole
}

// Timing is when the banner and the login completed, from the start of the dial.
type Timing struct {
	Banner time.Duration
	Login  time.Duration
}

// Dial connects and reads the 220 banner.
func Dial(addr string, pasv Passive, timeout time.Duration) (*Conn, time.Duration, error) {
	start := time.Now()
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, 0, &StageError{Stage: "connect", Err: err}
	}
	c := &Conn{c: nc.(*net.TCPConn), r: bufio.NewReaderSize(nc, 4096), pasv: pasv, timeout: timeout}
	code, text, err := c.reply()
	if err != nil {
		nc.Close()
		return nil, 0, &StageError{Stage: "banner", Err: err}
	}
	if code != 220 {
		nc.Close()
		return nil, 0, &ReplyError{Cmd: "connect", Code: code, Text: text}
	}
	return c, time.Since(start), nil
}

// StageError is a failure that is not a reply: connect refused, timeout, EOF.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Close ends the connection without QUIT.
func (c *Conn) Close() error { return c.c.Close() }

// Quit sends QUIT and closes.
func (c *Conn) Quit() {
	c.c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c.c, "QUIT\r\n")
	c.reply()
	c.c.Close()
}

// reply reads one (possibly multi-line) reply.
func (c *Conn) reply() (int, string, error) {
	c.c.SetReadDeadline(time.Now().Add(c.timeout))
	line, err := c.r.ReadString('\n')
	if err != nil {
		return 0, "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) < 3 {
		return 0, "", fmt.Errorf("malformed reply %q", line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		return 0, "", fmt.Errorf("malformed reply %q", line)
	}
	text := strings.TrimSpace(line[3:])
	if len(line) > 3 && line[3] == '-' {
		end := line[:3] + " "
		for {
			l, err := c.r.ReadString('\n')
			if err != nil {
				return 0, "", err
			}
			if strings.HasPrefix(l, end) {
				break
			}
		}
	}
	return code, text, nil
}

// Cmd sends a command and returns its reply; a reply whose first digit is
// not in want is returned as a *ReplyError.
func (c *Conn) Cmd(want string, format string, args ...any) (int, string, error) {
	line := fmt.Sprintf(format, args...)
	verb, _, _ := strings.Cut(line, " ")
	c.c.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := io.WriteString(c.c, line+"\r\n"); err != nil {
		return 0, "", &StageError{Stage: verb, Err: err}
	}
	code, text, err := c.reply()
	if err != nil {
		return 0, "", &StageError{Stage: verb, Err: err}
	}
	if !strings.ContainsRune(want, rune('0'+code/100)) {
		return code, text, &ReplyError{Cmd: verb, Code: code, Text: text}
	}
	return code, text, nil
}

// Login sends USER, PASS and TYPE I.
func (c *Conn) Login(user, pass string) error {
	code, _, err := c.Cmd("23", "USER %s", user)
	if err != nil {
		return err
	}
	if code == 331 || code/100 == 3 {
		if _, _, err := c.Cmd("2", "PASS %s", pass); err != nil {
			return err
		}
	}
	return nil
}

// Setup logs in, switches to binary and changes to dir.
func (c *Conn) Setup(user, pass, dir string) error {
	if err := c.Login(user, pass); err != nil {
		return err
	}
	if _, _, err := c.Cmd("2", "TYPE I"); err != nil {
		return err
	}
	if dir != "" && dir != "/" {
		if _, _, err := c.Cmd("2", "CWD %s", dir); err != nil {
			return err
		}
	}
	return nil
}

// openData sends PASV and connects to the advertised port, through the
// tunnel offset if any. A port outside the range is refused the way the
// tunnel would refuse it.
func (c *Conn) openData() (*net.TCPConn, error) {
	_, text, err := c.Cmd("2", "PASV")
	if err != nil {
		return nil, err
	}
	ip, port, err := parsePasv(text)
	if err != nil {
		return nil, &StageError{Stage: "PASV", Err: err}
	}
	if c.pasv.Address != "" && ip != c.pasv.Address {
		return nil, &StageError{Stage: "PASV", Err: fmt.Errorf("%w: %s", ErrPasvAddress, ip)}
	}
	if c.pasv.First != 0 && (port < c.pasv.First || port > c.pasv.Last) {
		return nil, &StageError{Stage: "PASV", Err: fmt.Errorf("%w: %d", ErrPasvOutOfRange, port)}
	}
	addr := net.JoinHostPort(c.c.RemoteAddr().(*net.TCPAddr).IP.String(), strconv.Itoa(port+c.pasv.PortOffset))
	d, err := net.DialTimeout("tcp", addr, c.timeout)
	if err != nil {
		return nil, &StageError{Stage: "data-connect", Err: err}
	}
	d.SetDeadline(time.Now().Add(c.timeout))
	return d.(*net.TCPConn), nil
}

// parsePasv reads "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)".
func parsePasv(text string) (string, int, error) {
	open := strings.IndexByte(text, '(')
	end := strings.IndexByte(text, ')')
	if open < 0 || end < open {
		// Some servers omit the parentheses: find the first digit.
		open = strings.IndexAny(text, "0123456789") - 1
		end = len(text)
		if open < -1 {
			return "", 0, fmt.Errorf("malformed PASV reply %q", text)
		}
	}
	parts := strings.Split(strings.TrimRight(text[open+1:end], ". "), ",")
	if len(parts) != 6 {
		return "", 0, fmt.Errorf("malformed PASV reply %q", text)
	}
	n := make([]int, 6)
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 || v > 255 {
			return "", 0, fmt.Errorf("malformed PASV reply %q", text)
		}
		n[i] = v
	}
	return fmt.Sprintf("%d.%d.%d.%d", n[0], n[1], n[2], n[3]), n[4]<<8 | n[5], nil
}

// Retr downloads path into w. When w is an *os.File, the copy is a splice
// from the socket. It returns the bytes received.
func (c *Conn) Retr(path string, w io.Writer) (int64, error) {
	return c.transfer("RETR "+path, func(d *net.TCPConn) (int64, error) { return io.Copy(w, d) })
}

// Stor uploads r as path. When r is an *os.File, the copy is a sendfile.
func (c *Conn) Stor(path string, r io.Reader) (int64, error) {
	return c.transfer("STOR "+path, func(d *net.TCPConn) (int64, error) {
		n, err := d.ReadFrom(r)
		if err == nil {
			err = d.Close() // EOF tells the server the file is complete
		}
		return n, err
	})
}

// List runs LIST or MLSD on path and returns the number of lines received.
func (c *Conn) List(cmd, path string) (int, error) {
	var lines int
	_, err := c.transfer(strings.TrimSpace(cmd+" "+path), func(d *net.TCPConn) (int64, error) {
		br := bufio.NewReaderSize(d, 64<<10)
		var n int64
		for {
			l, err := br.ReadSlice('\n')
			n += int64(len(l))
			if len(l) > 0 && l[len(l)-1] == '\n' {
				lines++
			}
			if err == io.EOF {
				return n, nil
			}
			if err != nil && err != bufio.ErrBufferFull {
				return n, err
			}
		}
	})
	return lines, err
}

// transfer runs one data command: PASV, connect, command, move, final reply.
func (c *Conn) transfer(cmd string, move func(*net.TCPConn) (int64, error)) (int64, error) {
	d, err := c.openData()
	if err != nil {
		return 0, err
	}
	defer d.Close()
	if _, _, err := c.Cmd("1", "%s", cmd); err != nil {
		return 0, err
	}
	n, moveErr := move(d)
	d.Close()
	verb, _, _ := strings.Cut(cmd, " ")
	code, text, err := c.reply()
	if err != nil {
		return n, &StageError{Stage: verb + " final reply", Err: err}
	}
	if code/100 != 2 {
		return n, &ReplyError{Cmd: verb, Code: code, Text: text}
	}
	if moveErr != nil {
		return n, &StageError{Stage: verb + " data", Err: moveErr}
	}
	return n, nil
}

// atOnce runs client(i) for i in 0..n-1, every one released at the same
// moment, and returns their errors and the time from the release until the
// last one ended. around, if not nil, runs the release and the wait (to
// profile the server meanwhile).
func atOnce(n int, around func(run func()), client func(i int) error) ([]error, time.Duration) {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = client(i)
		}()
	}
	var wall time.Duration
	run := func() {
		t0 := time.Now()
		close(start)
		wg.Wait()
		wall = time.Since(t0)
	}
	if around == nil {
		run()
	} else {
		around(run)
	}
	return errs, wall
}

// tally counts the clients that succeeded and the others by FailureKey
// (errNotTried, for sessions not attempted once a server kept refusing, is
// counted as such, with giveUp the number of failures that stopped them).
func tally(errs []error, giveUp int64) (ok int, fails map[string]int) {
	fails = map[string]int{}
	for _, e := range errs {
		switch {
		case e == nil:
			ok++
		case errors.Is(e, errNotTried):
			fails[fmt.Sprintf("not attempted after %d failures", giveUp)]++
		default:
			fails[FailureKey(e)]++
		}
	}
	return ok, fails
}

// FailureKey classifies an error for the "failures by reply code" columns:
// the reply code when there is one, else the stage and a short cause.
func FailureKey(err error) string {
	var re *ReplyError
	if errors.As(err, &re) {
		return fmt.Sprintf("%d (%s)", re.Code, re.Cmd)
	}
	var se *StageError
	stage := "error"
	if errors.As(err, &se) {
		stage = se.Stage
	}
	switch {
	case errors.Is(err, ErrPasvOutOfRange):
		return "PASV port outside range"
	case errors.Is(err, ErrPasvAddress):
		return "PASV wrong address"
	case errors.Is(err, ErrShort):
		return "short transfer"
	case errors.Is(err, syscall.ECONNREFUSED):
		return stage + ": refused"
	case errors.Is(err, syscall.ECONNRESET):
		return stage + ": reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return stage + ": closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return stage + ": timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return stage + ": timeout"
	}
	return stage + ": " + err.Error()
}
