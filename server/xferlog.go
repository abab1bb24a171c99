package server

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tunnelftpd/tunnelftpd/driver"
)

// xferLog writes one wu-ftpd format line per transfer (xferlog(5)):
//
//	current-time transfer-time remote-host file-size filename transfer-type
//	special-action-flag direction access-mode username service-name
//	authentication-method authenticated-user-id completion-status
type xferLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func openXferLog(path string) (*xferLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening transfer log: %w", err)
	}
	return &xferLog{path: path, f: f}, nil
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

func (x *xferLog) write(t driver.Transfer, host, user string, mode byte) {
	line := xferLine(t, host, user, mode, time.Now())
	x.mu.Lock()
	defer x.mu.Unlock()
	x.f.WriteString(line) //nolint:errcheck // a full disk must not fail the transfer
}

// Close closes the log file.
func (x *xferLog) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.f.Close()
}
