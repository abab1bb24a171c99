package logging

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultWtmp is the login records file that last(1) reads.
const DefaultWtmp = "/var/log/wtmp"

// Wtmp appends login and logout records to a wtmp file (log.wtmp), as wu-ftpd's logwtmp() did:
// the line is "ftpPID", the user and the client's address on login, empty user and host on
// logout. The file is opened once, before the process drops privileges (wtmp is root:utmp
// 0664), and written with O_APPEND: each 384-byte record lands whole.
type Wtmp struct {
	mu sync.Mutex
	f  *os.File
}

// OpenWtmp opens the wtmp file at path for appending; it is not created (as glibc's updwtmp
// does not: a system without wtmp wants none).
func OpenWtmp(path string) (*Wtmp, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s for log.wtmp: %w", path, err)
	}
	return &Wtmp{f: f}, nil
}

// Close closes the file.
func (w *Wtmp) Close() error {
	if w == nil {
		return nil
	}
	return w.f.Close()
}

// The glibc struct utmp of Linux (x86_64, arm64, and the other 64-bit ports with 32-bit time
// fields in utmp): 384 bytes.
const (
	utmpSize   = 384
	utUserProc = 7 // USER_PROCESS
	utDeadProc = 8 // DEAD_PROCESS
	offType    = 0
	offPid     = 4
	offLine    = 8   // char[32]
	offID      = 40  // char[4]
	offUser    = 44  // char[32]
	offHost    = 76  // char[256]
	offTvSec   = 340 // after exit_status (4) and ut_session (4)
	offTvUsec  = 344
	offAddr    = 348 // int32[4]
	lineLen    = 32
	userLen    = 32
	hostLen    = 256
	idLen      = 4
)

// record builds one utmp record.
func utmpRecord(typ int16, pid int, line, user, host string, t time.Time) []byte {
	b := make([]byte, utmpSize)
	binary.LittleEndian.PutUint16(b[offType:], uint16(typ))
	binary.LittleEndian.PutUint32(b[offPid:], uint32(pid))
	copy(b[offLine:offLine+lineLen], line)
	// ut_id: the last characters of the line, as login(1) and logwtmp do.
	id := line
	if len(id) > idLen {
		id = id[len(id)-idLen:]
	}
	copy(b[offID:offID+idLen], id)
	copy(b[offUser:offUser+userLen], user)
	copy(b[offHost:offHost+hostLen], host)
	binary.LittleEndian.PutUint32(b[offTvSec:], uint32(t.Unix()))
	binary.LittleEndian.PutUint32(b[offTvUsec:], uint32(t.Nanosecond()/1000))
	if ip := net.ParseIP(host); ip != nil {
		if ip4 := ip.To4(); ip4 != nil {
			copy(b[offAddr:offAddr+4], ip4)
		} else {
			copy(b[offAddr:offAddr+16], ip.To16())
		}
	}
	return b
}

// WtmpLine is the tty line of a session's records: "ftp" and the process id, as wu-ftpd
// wrote it. Sessions sharing a process get the session id too, so that each login has its own
// logout.
func WtmpLine(pid int, session uint64, shared bool) string {
	if shared {
		return fmt.Sprintf("ftp%d.%d", pid, session)
	}
	return fmt.Sprintf("ftp%d", pid)
}

// Login records user logging in from host on line. Errors are returned for the log; they never
// fail the login.
func (w *Wtmp) Login(line, user, host string) error {
	return w.write(utmpRecord(utUserProc, os.Getpid(), line, user, host, time.Now()))
}

// Logout records the end of the session on line.
func (w *Wtmp) Logout(line string) error {
	return w.write(utmpRecord(utDeadProc, os.Getpid(), line, "", "", time.Now()))
}

func (w *Wtmp) write(rec []byte) error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.f.Write(rec); err != nil {
		return fmt.Errorf("writing a wtmp record: %w", err)
	}
	return nil
}
