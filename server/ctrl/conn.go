// Package ctrl owns the control connection as ftpserverlib sees it: it
// hands the library complete command lines only (lines.go), rewrites the
// library's replies where they would mislead a client (a PASV failure, active
// mode, a full disk, a failed transfer: xferreply.go), adds the replies the
// session prepares (a class's 421, a directory's message), keeps a connection
// open for a retried login, and feeds the one connection to a one-connection
// FtpServer (Listener).
//
// It must not decide anything about the session (its login, passive ports,
// messages' text, the registry): the session's Hooks do, and ctrl only puts
// their answers on the wire. It knows no config and imports no other
// tunnelftpd package.
package ctrl

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Hooks are the session's part in its control connection; each may be nil.
// They are set before the library starts reading (New, or the fields
// themselves before Serve) and called from the library's goroutine.
type Hooks struct {
	// PasvFailure cleans up after a failed PASV/EPSV and returns the reason
	// for its 425 if the session knows it ("" keeps the library's).
	PasvFailure func() string
	// FinalReply is called after a reply that can end a transfer (226, 4xx,
	// 5xx), with it.
	FinalReply func([]byte)
	// Read sees the bytes read from the client.
	Read func([]byte)
	// FirstLine is called when the client's first complete command line has
	// been read.
	FirstLine func()
	// BeforeReply is called with the first write of each reply (one line, or
	// a whole multi-line reply); what it returns is written first.
	BeforeReply func([]byte) []byte
	// Refusal is the text of a 421 that replaces the next 530 ("": keep the
	// 530); the connection then closes, as after any 421.
	Refusal func() string
	// DirMessage is the lines to send as 250- lines before a 250 reply (a
	// directory's message the first time it is entered); nil: none.
	DirMessage func() []string
}

// Conn is the control connection as the library sees it. It changes a
// few replies. The library answers a PASV/EPSV it could not serve with 421,
// which means "closing the control connection" and makes clients such as
// curl give up the session. We send 425 (data connection not opened) instead,
// with a message naming the range; the session stays usable. PORT/EPRT get
// 502 instead of 421 for the same reason, a write that failed for lack of
// space gets 452/552 instead of 550 (storageReply), and a transfer that
// failed after its 150 gets 426/451/452/552 in plain words (transferReply).
type Conn struct {
	net.Conn
	// Hooks are the session's; see Hooks.
	Hooks Hooks

	lines lineReader  // partial input held back by Read (lines.go)
	xfer  xferReplies // the replies of failed transfers (xferreply.go)

	mu       sync.Mutex
	keepOpen bool // ignore the library's next Close (a failed login that may retry)
	closed   bool // the connection was closed
	closeAft bool // close the connection once the next reply is written
}

// New wraps the control connection c. dataTimeout is data_timeout, named in
// the 426 of a stalled transfer.
func New(c net.Conn, h Hooks, dataTimeout time.Duration) *Conn {
	cc := &Conn{Conn: c, Hooks: h}
	cc.xfer.dataTimeout = dataTimeout
	return cc
}

// CloseAfterNextReply closes the connection right after the next reply: the
// library will not close it itself once a Close was skipped.
func (c *Conn) CloseAfterNextReply() {
	c.mu.Lock()
	c.closeAft = true
	c.mu.Unlock()
}

// KeepOpenOnce makes the next Close a no-op. The library ends the connection
// after any failed PASS; this lets a client retry up to max_login_attempts.
// The library never closes the connection again afterwards, so the session
// closes it itself (CloseForReal).
func (c *Conn) KeepOpenOnce() {
	c.mu.Lock()
	c.keepOpen = true
	c.mu.Unlock()
}

// Close closes the connection, unless KeepOpenOnce asked to skip this one.
func (c *Conn) Close() error {
	c.mu.Lock()
	skip := c.keepOpen
	c.keepOpen = false
	c.mu.Unlock()
	if skip {
		return nil
	}
	return c.CloseForReal()
}

// CloseForReal closes the connection whatever KeepOpenOnce said. Closing
// again is a no-op, so the library and the session may both close it.
func (c *Conn) CloseForReal() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

// pasvFailurePrefix starts every reply of the library's handlePASV failures.
var pasvFailurePrefix = []byte("421 Could not listen for passive connection")

// activeRefusals are the library's replies to PORT/EPRT with active mode
// off: 421 would tell the client the session is over.
var activeRefusals = [][]byte{[]byte("421 PORT command is disabled"), []byte("421 EPRT command is disabled")}

const activeRefusal = "502 Active mode (PORT/EPRT) is disabled; use passive mode (EPSV/PASV)\r\n"

// storageReply gives the reply (with its line end) for a failure caused by
// a full disk (452, "insufficient storage space"), an exhausted quota
// (552, "exceeded storage allocation") or, a local error, the process
// being out of file descriptors (451), or "" for any other reply. The
// library answers those with a generic 550 "Could not …" whose text ends
// with the system error; clients such as curl and lftp only tell "disk
// full" from "no such file" by the code. (A transfer that fails after its
// 150 is answered by transferReply.)
func storageReply(b []byte) string {
	if len(b) < 4 || (b[0] != '4' && b[0] != '5') || b[3] != ' ' {
		return ""
	}
	line := bytes.TrimRight(b, "\r\n")
	switch {
	case bytes.HasSuffix(line, []byte(": "+syscall.ENOSPC.Error())):
		return "452 Cannot store the file: insufficient storage space (the disk is full)\r\n"
	case bytes.HasSuffix(line, []byte(": "+syscall.EDQUOT.Error())):
		return "552 Cannot store the file: exceeded storage allocation (disk quota)\r\n"
	case bytes.HasSuffix(line, []byte(": "+syscall.EMFILE.Error())), bytes.HasSuffix(line, []byte(": "+syscall.ENFILE.Error())):
		return "451 Cannot open the file now: the server is out of resources; try again later\r\n"
	}
	return ""
}

// Say writes text (whole reply lines) straight to the client, not through
// the library nor the rewriting, with a deadline so that a client that
// stopped reading cannot hold the caller. The library may be writing a
// reply at the same time: each is a single Write, which the socket does not
// interleave.
func (c *Conn) Say(text string) {
	c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck // best effort
	fmt.Fprint(c.Conn, text)                                 //nolint:errcheck // best effort
}

// SayAndClose writes one reply line (without its line end) and closes the
// connection.
func (c *Conn) SayAndClose(line string) {
	c.Say(line + "\r\n")
	c.CloseForReal()
}

// Write passes replies to write, after the session's additions: a class's
// 421 instead of a 530 (Hooks.Refusal), a directory's message before a 250
// (Hooks.DirMessage). The library writes each reply line with one Write.
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) < 4 || b[3] != ' ' {
		return c.write(b)
	}
	switch {
	case bytes.HasPrefix(b, []byte("530 ")) && c.Hooks.Refusal != nil:
		if refusal := c.Hooks.Refusal(); refusal != "" {
			if _, err := c.write([]byte("421 " + refusal + "\r\n")); err != nil {
				return 0, err
			}
			return len(b), nil
		}
	case bytes.HasPrefix(b, []byte("250 ")) && c.Hooks.DirMessage != nil:
		lines := c.Hooks.DirMessage()
		if len(lines) == 0 {
			break
		}
		var buf bytes.Buffer
		for _, l := range lines {
			buf.WriteString("250-")
			buf.WriteString(l)
			buf.WriteString("\r\n")
		}
		buf.Write(b)
		if _, err := c.write(buf.Bytes()); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.write(b)
}

// write passes replies through, rewriting a PASV 421 into a 425, the
// active-mode 421 into a 502, and a full-disk failure into 452/552. The
// library writes and flushes each reply line with one Write.
func (c *Conn) write(b []byte) (int, error) {
	if c.Hooks.FinalReply != nil && endsTransfer(b) {
		defer c.Hooks.FinalReply(b)
	}
	c.mu.Lock()
	closeAfter := c.closeAft
	c.closeAft = false
	c.mu.Unlock()
	if closeAfter {
		defer c.CloseForReal()
	}
	if c.Hooks.BeforeReply != nil {
		if pre := c.Hooks.BeforeReply(b); pre != nil {
			if _, err := c.Conn.Write(pre); err != nil {
				return 0, err
			}
		}
	}
	if reply, cut := c.transferReply(b); reply != "" || cut {
		if cut {
			defer c.CloseForReal()
		}
		if reply != "" {
			if _, err := c.Conn.Write([]byte(reply)); err != nil {
				return 0, err
			}
			return len(b), nil
		}
	}
	if reply := storageReply(b); reply != "" {
		if _, err := c.Conn.Write([]byte(reply)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	for _, r := range activeRefusals {
		if bytes.HasPrefix(b, r) {
			if _, err := c.Conn.Write([]byte(activeRefusal)); err != nil {
				return 0, err
			}
			return len(b), nil
		}
	}
	if !bytes.HasPrefix(b, pasvFailurePrefix) {
		return c.Conn.Write(b)
	}
	var msg string
	if c.Hooks.PasvFailure != nil {
		msg = c.Hooks.PasvFailure()
	}
	if msg == "" {
		// Another PASV failure (no IPv4 address to advertise, say): keep
		// the library's reason.
		msg = string(bytes.TrimSpace(b[len("421 "):]))
	}
	if _, err := c.Conn.Write([]byte("425 " + msg + "\r\n")); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Listener is a net.Listener that returns one connection, then blocks
// until closed. It feeds a single control connection to an FtpServer.
type Listener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

// NewListener returns a Listener of c.
func NewListener(c net.Conn) *Listener {
	l := &Listener{ch: make(chan net.Conn, 1), done: make(chan struct{}), addr: c.LocalAddr()}
	l.ch <- c
	return l
}

// Accept returns the connection once; afterwards it waits for Close and then
// returns the error the library treats as a clean stop.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
}

// Close makes Accept return; it does not close the connection.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the connection's local address.
func (l *Listener) Addr() net.Addr { return l.addr }

// endsTransfer reports whether a reply line can be a transfer's last word:
// 226, or an error (4xx, 5xx). Replies to STAT or NOOP during a transfer
// (211, 213, 200) cannot.
func endsTransfer(b []byte) bool {
	return len(b) >= 4 && b[3] == ' ' && (bytes.HasPrefix(b, []byte("226")) || b[0] == '4' || b[0] == '5')
}
