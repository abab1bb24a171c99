package ctrl

import (
	"bytes"
	"slices"
	"sync/atomic"
)

// The library reads commands with bufio.Reader.ReadLine, which returns
// whatever it holds when the read fails: at the idle deadline, a fragment
// of a line ("DELE name" of "DELE name.bak") is executed as a command and
// the deadline is armed again, so one byte per timeout also keeps a
// session open forever. Conn's Read therefore hands the library
// complete lines only (up to and including their LF) and keeps a partial
// line back: a deadline mid-line reaches the library as a plain timeout
// with nothing read, which it answers with 421 and the end of the session.
// A line longer than the library's buffer is handed over as it is, and the
// library ends the session for it (as it always did).

// lineReader is what Conn.Read holds back: the start of a line whose
// LF has not come yet, and a read error that came with complete lines.
type lineReader struct {
	partial []byte // bytes after the last LF handed out
	err     error  // returned once partial holds no complete line
	sent    atomic.Bool
}

// sawLine records that a complete line was handed out.
func (c *Conn) sawLine() {
	if !c.lines.sent.Swap(true) && c.Hooks.FirstLine != nil {
		c.Hooks.FirstLine()
	}
}

// SentLine reports whether the client has sent at least one complete line
// (the pre-login budget evicts connections that have not first).
func (c *Conn) SentLine() bool { return c.lines.sent.Load() }

// readConn reads the client's bytes and lets Hooks.Read see them.
func (c *Conn) readConn(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.Hooks.Read != nil {
		c.Hooks.Read(p[:n])
	}
	return n, err
}

// Read fills p with complete lines only; see lineReader.
func (c *Conn) Read(p []byte) (int, error) {
	lr := &c.lines
	for {
		if n, line := lr.take(p); n > 0 {
			if line {
				c.sawLine()
			}
			return n, nil
		}
		if lr.err != nil {
			err := lr.err
			lr.err = nil // after a timeout the library may arm a new deadline and read again
			return 0, err
		}
		if len(lr.partial) == 0 {
			// Nothing held back: read straight into p and keep what
			// follows its last LF.
			n, err := c.readConn(p)
			lr.err = err
			if i := bytes.LastIndexByte(p[:n], '\n'); i >= 0 {
				lr.partial = append(lr.partial, p[i+1:n]...)
				c.sawLine()
				return i + 1, nil
			}
			lr.partial = append(lr.partial, p[:n]...)
			continue
		}
		// The rest of a line: read after it, as much as p could take.
		held := len(lr.partial)
		lr.partial = slices.Grow(lr.partial, len(p))
		n, err := c.readConn(lr.partial[held : held+len(p)])
		lr.partial = lr.partial[:held+n]
		lr.err = err
	}
}

// take moves into p the complete lines of partial that fit in it or, when
// partial holds more than p without an LF (a line too long for the
// library), as much of it as fits, and whether that is complete lines. It
// returns 0 when partial is only the start of a line.
func (lr *lineReader) take(p []byte) (n int, lines bool) {
	if len(lr.partial) == 0 || len(p) == 0 {
		return 0, false
	}
	window := lr.partial[:min(len(lr.partial), len(p))]
	n = bytes.LastIndexByte(window, '\n') + 1
	switch {
	case n > 0:
		lines = true
	case len(lr.partial) >= len(p):
		n = len(p)
	default:
		return 0, false
	}
	copy(p, lr.partial[:n])
	if rest := len(lr.partial) - n; rest > 0 {
		lr.partial = append(lr.partial[:0], lr.partial[n:]...)
	} else {
		lr.partial = nil // an idle session holds no buffer
	}
	return n, lines
}
