package server

import (
	"bytes"
	"net"
	"sync"
	"syscall"
)

// ctrlConn is the control connection as the library sees it. It changes a
// few replies. The library answers a PASV/EPSV it could not serve with 421,
// which means "closing the control connection" and makes clients such as
// curl give up the session. We send 425 (data connection not opened) instead,
// with a message naming the range; the session stays usable. PORT/EPRT get
// 502 instead of 421 for the same reason, and a write that failed for lack of
// space gets 452/552 instead of 550 (storageReply).
type ctrlConn struct {
	net.Conn
	onPasvFailure func() string // cleans up, returns the reason if the session knows it
	onFinalReply  func()        // called after a reply that can end a transfer (226, 4xx, 5xx)

	mu       sync.Mutex
	keepOpen bool // ignore the library's next Close (a failed login that may retry)
	closed   bool // the connection was closed
	closeAft bool // close the connection once the next reply is written
}

// closeAfterNextReply closes the connection right after the next reply: the
// library will not close it itself once a Close was skipped.
func (c *ctrlConn) closeAfterNextReply() {
	c.mu.Lock()
	c.closeAft = true
	c.mu.Unlock()
}

// keepOpenOnce makes the next Close a no-op. The library ends the connection
// after any failed PASS; this lets a client retry up to max_login_attempts.
// The library never closes the connection again afterwards, so the session
// closes it itself (closeForReal).
func (c *ctrlConn) keepOpenOnce() {
	c.mu.Lock()
	c.keepOpen = true
	c.mu.Unlock()
}

// Close closes the connection, unless keepOpenOnce asked to skip this one.
func (c *ctrlConn) Close() error {
	c.mu.Lock()
	skip := c.keepOpen
	c.keepOpen = false
	c.mu.Unlock()
	if skip {
		return nil
	}
	return c.closeForReal()
}

// closeForReal closes the connection whatever keepOpenOnce said. Closing
// again is a no-op, so the library and the session may both close it.
func (c *ctrlConn) closeForReal() error {
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

// storageReply gives the reply code for a failure caused by a full disk
// (452, "insufficient storage space") or an exhausted quota (552, "exceeded
// storage allocation"), or "" for any other reply. The library answers
// those with a generic 550 "Issue during transfer: …" (or "Could not …")
// whose text ends with the system error; clients such as curl and lftp only
// tell "disk full" from "no such file" by the code.
func storageReply(b []byte) string {
	if len(b) < 4 || (b[0] != '4' && b[0] != '5') || b[3] != ' ' {
		return ""
	}
	line := bytes.TrimRight(b, "\r\n")
	switch {
	case bytes.HasSuffix(line, []byte(": "+syscall.ENOSPC.Error())):
		return "452"
	case bytes.HasSuffix(line, []byte(": "+syscall.EDQUOT.Error())):
		return "552"
	}
	return ""
}

// Write passes replies through, rewriting a PASV 421 into a 425, the
// active-mode 421 into a 502, and a full-disk failure into 452/552. The
// library writes and flushes each reply line with one Write.
func (c *ctrlConn) Write(b []byte) (int, error) {
	if c.onFinalReply != nil && endsTransfer(b) {
		defer c.onFinalReply()
	}
	c.mu.Lock()
	closeAfter := c.closeAft
	c.closeAft = false
	c.mu.Unlock()
	if closeAfter {
		defer c.closeForReal()
	}
	if code := storageReply(b); code != "" {
		if _, err := c.Conn.Write(append([]byte(code), b[3:]...)); err != nil {
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
	if c.onPasvFailure != nil {
		msg = c.onPasvFailure()
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

// oneShotListener is a net.Listener that returns one connection, then blocks
// until closed. It feeds a single control connection to an FtpServer.
type oneShotListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func newOneShotListener(c net.Conn) *oneShotListener {
	l := &oneShotListener{ch: make(chan net.Conn, 1), done: make(chan struct{}), addr: c.LocalAddr()}
	l.ch <- c
	return l
}

// Accept returns the connection once; afterwards it waits for Close and then
// returns the error the library treats as a clean stop.
func (l *oneShotListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
}

// Close makes Accept return; it does not close the connection.
func (l *oneShotListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the connection's local address.
func (l *oneShotListener) Addr() net.Addr { return l.addr }

// endsTransfer reports whether a reply line can be a transfer's last word:
// 226, or an error (4xx, 5xx). Replies to STAT or NOOP during a transfer
// (211, 213, 200) cannot.
func endsTransfer(b []byte) bool {
	return len(b) >= 4 && b[3] == ' ' && (bytes.HasPrefix(b, []byte("226")) || b[0] == '4' || b[0] == '5')
}
