// Package registry is tunnelftpd's scoreboard: the state that every process of a daemon shares,
// whatever the launch mode (standalone, systemd Accept=no or Accept=yes, inetd nowait or wait,
// per-session child processes). It lives in one directory (default /run/tunnelftpd) and holds
// two files:
//
//   - sessions: one fixed-size slot per running session, written by the session's own process.
//     A session holds an OFD write lock on its slot for as long as it runs; the kernel drops the
//     lock when the process dies, even by SIGKILL, so a slot whose lock is free is no session,
//     whatever bytes it still holds. Readers (tunnelftpd who, count, metrics) only test the
//     locks (F_OFD_GETLK), never take them.
//   - counters: monotonic event counters (logins, transfers, bytes, refusals) shared by every
//     process through a shared memory mapping and atomic additions, so that a daemon of one
//     process per connection still has totals for Prometheus.
//
// Both files are opened when a process starts, before it drops privileges: a session that then
// runs as its user keeps writing through the descriptors it already has.
//
// This package stores and reads entries; it knows no FTP, no config file and no metric names
// (package metrics owns those). It never stores a PASS argument ([SafeCommand]). It must not
// touch any path but the two files in the directory it is given.
package registry

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultDir is the registry directory when the config names none and systemd gave no
// RuntimeDirectory.
const DefaultDir = "/run/tunnelftpd"

// File names inside the registry directory.
const (
	SessionsFile = "sessions"
	CountersFile = "counters"
)

// openShared opens (creating if needed) one of the registry's files for reading and writing.
// Whoever can write the file can forge sessions or hold slots, so it must not be a symlink and
// must belong to us (or root), with no write permission for group or others; its directory is
// created (0755) if missing. The file itself is 0640: it names users, their clients and paths.
func openShared(dir, name string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("registry directory: %w", err)
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening the registry file: %w", err)
	}
	if err := checkOwned(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("registry file %s: %w", path, err)
	}
	return f, nil
}

// checkOwned refuses a file that is not a regular file of ours (or root's) without group/other
// write permission.
func checkOwned(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || !st.Mode().IsRegular() {
		return errors.New("not a regular file; remove it")
	}
	if int(sys.Uid) != os.Geteuid() && sys.Uid != 0 {
		return fmt.Errorf("owned by uid %d, not by us (uid %d) or root; remove it", sys.Uid, os.Geteuid())
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("mode %v lets others write it; remove it", st.Mode().Perm())
	}
	return nil
}

// openReadOnly opens an existing registry file for a reader (who, count, metrics). A missing
// file is reported as os.ErrNotExist: no daemon has run with this directory.
func openReadOnly(dir, name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the registry: %w", err)
	}
	return f, nil
}

// reopen opens a second, read-only open file description of f. OFD locks never conflict with
// locks of the same description: a process tests its own sessions' locks through this one.
func reopen(f *os.File) (*os.File, error) {
	r, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("reopening the registry file: %w", err)
	}
	return r, nil
}

// lockRange takes (or with typ F_UNLCK releases) an OFD lock on [off, off+n) of f; wait blocks
// until the lock is free. It reports false, with no error, when the range is held elsewhere and
// wait is false.
func lockRange(f *os.File, typ int16, off, n int64, wait bool) (bool, error) {
	cmd := unix.F_OFD_SETLK
	if wait {
		cmd = unix.F_OFD_SETLKW
	}
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: off, Len: n}
	for {
		err := unix.FcntlFlock(f.Fd(), cmd, &lk)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case !wait && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES)):
			return false, nil
		}
		return false, fmt.Errorf("locking the registry: %w", err)
	}
}

// heldElsewhere reports whether some open file description other than f's holds a lock on any
// byte of [off, off+n).
func heldElsewhere(f *os.File, off, n int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Start: off, Len: n}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false, fmt.Errorf("testing a registry lock: %w", err)
	}
	return lk.Type != unix.F_UNLCK, nil
}

// pidAlive reports whether a process with this id exists (EPERM: it does, as another user).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
