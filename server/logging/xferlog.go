package logging

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tunnelftpd/tunnelftpd/driver"
)

// Xferlog writes one wu-ftpd format line per transfer (xferlog(5)):
//
//	current-time transfer-time remote-host file-size filename transfer-type
//	special-action-flag direction access-mode username service-name
//	authentication-method authenticated-user-id completion-status
//
// A reload that keeps log.xferlog keeps the Xferlog; one that changes or
// drops it must not cut the sessions still running on the old config, so
// the file is reference-counted: each holder (the config in force, each
// session started under it) calls Retain, then Release, and the file is
// closed when the last holder lets go.
type Xferlog struct {
	path string
	mu   sync.Mutex
	f    *os.File
	refs int // holders; the file is closed at 0
}

// OpenXferlog opens (creates, appends to) the transfer log at path, with one
// holder: the caller.
func OpenXferlog(path string) (*Xferlog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening transfer log: %w", err)
	}
	return &Xferlog{path: path, f: f, refs: 1}, nil
}

// Path is the file's path.
func (x *Xferlog) Path() string { return x.path }

// Retain adds a holder. It returns false if the file is already closed (its
// last holder let go), and the caller must not use it.
func (x *Xferlog) Retain() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.refs == 0 {
		return false
	}
	x.refs++
	return true
}

// Release lets go of one holder's claim, closing the file after the last.
func (x *Xferlog) Release() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.refs == 0 {
		return
	}
	if x.refs--; x.refs == 0 {
		x.f.Close()
	}
}

// xferLine formats one xferlog line. Transfers are always binary (the daemon
// does no ASCII conversion); status is c only for a transfer that completed.
// mode is xferlog's access-mode: 'r' (a real or virtual account) or 'a'
// (anonymous).
func xferLine(t driver.Transfer, host, user string, mode byte, now time.Time) string {
	dir, status := "o", "c"
	if t.Upload {
		dir = "i"
	}
	if t.Err != nil {
		status = "i"
	}
	secs := int64(math.Round(t.Duration.Seconds()))
	return fmt.Sprintf("%s %d %s %d %s b _ %s %c %s ftp 0 * %s\n",
		now.Format("Mon Jan _2 15:04:05 2006"), secs, host, t.Bytes, xferField(t.Path), dir, mode, xferField(user), status)
}

// xferField keeps a field one token: blanks and control characters would
// shift every following field for log parsers, so they become '_'.
func xferField(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

// Write appends the line of transfer t by user from host; mode is
// xferlog's access-mode, 'r' or 'a' (anonymous). Failures are ignored: a
// full disk must not fail the transfer.
func (x *Xferlog) Write(t driver.Transfer, host, user string, mode byte) {
	line := xferLine(t, host, user, mode, time.Now())
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.refs > 0 {
		x.f.WriteString(line) //nolint:errcheck // a full disk must not fail the transfer
	}
}
