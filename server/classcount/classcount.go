// Package classcount counts the sessions of each [[classes]] entry across every process of the
// daemon, so that a class's max_sessions holds in every launch mode: one process serving many
// sessions, a process per session (inetd, systemd Accept=yes, the per-session children of
// system users), or both at once.
//
// The count lives in OFD byte-range locks on one shared file (by default
// /run/tunnelftpd/classes.lock), as the passive ports' reservations do: a session holds a write
// lock on one byte of its class's region for as long as it runs. The kernel drops the locks of a
// process that exits or crashes, so a count never leaks. A class's region starts at an offset
// derived from its name (FNV-1a), so processes started under different configs (a reload, an
// inetd process reading the file anew) agree on it; slot i of a class with max_sessions = N is
// one of the N bytes [base, base+N). Reading the counts takes no lock and changes nothing
// (Counter.Count), so other tools (`tunnelftpd count`, the status line) can read them.
//
// It must not know FTP, users or the config: it counts names.
package classcount

import (
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaxSlots is the most sessions one class can count; a class without a limit (max_sessions 0)
// counts up to this many and admits more uncounted.
const MaxSlots = 1 << 16

// regionBits: a class's region is 2^regionBits bytes (MaxSlots), at one of 2^40 offsets.
const regionBits = 16

// Counter hands out the session slots of classes. With a lock file, slots are exclusive across
// every process using the same file; without one (nil), across the sessions of this process.
// Safe for concurrent use.
type Counter struct {
	hold  *os.File // the open file description this process's locks are taken on; nil = none
	probe *os.File // a second one, to see the locks of hold and of other processes

	mu   sync.Mutex
	held map[string]map[int]bool // slots this process holds, per class
}

// New makes the counter of lock file f (OpenLock, ReopenLock), nil for this process only. The
// counter reopens f once more for reading the counts; if that fails, it returns the error.
func New(f *os.File) (*Counter, error) {
	c := &Counter{hold: f, held: map[string]map[int]bool{}}
	if f != nil {
		p, err := reopen(int(f.Fd()))
		if err != nil {
			return nil, err
		}
		c.probe = p
	}
	return c, nil
}

// Close closes the counter's own description of the lock file (the caller closes the file it
// passed to New). Slots still held are released with it.
func (c *Counter) Close() error {
	if c.probe != nil {
		return c.probe.Close()
	}
	return nil
}

// Shared reports whether the counter counts across processes (it has a lock file).
func (c *Counter) Shared() bool { return c.hold != nil }

// Slot is one session's place in a class. Release it when the session ends.
type Slot struct {
	c     *Counter
	class string
	n     int // the slot, -1 for an uncounted session of a class without a limit
	once  sync.Once
}

// Acquire takes a slot of class for one session. With max > 0 it fails (ok false) when max
// sessions of the class run already, in this process or another; with max 0 it always
// succeeds. A failure to lock for another reason than a held lock is returned as err.
func (c *Counter) Acquire(class string, max int) (_ *Slot, ok bool, err error) {
	limit := max
	if limit <= 0 || limit > MaxSlots {
		limit = MaxSlots
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if max > 0 && c.countLocked(class) >= max {
		// Sessions above max (admitted under an older, larger limit) hold slots past it.
		return nil, false, nil
	}
	mine := c.held[class]
	base := Base(class)
	for i := range limit {
		if mine[i] {
			continue
		}
		taken, err := c.lock(base+int64(i), unix.F_WRLCK)
		if err != nil {
			return nil, false, fmt.Errorf("class %s: locking a session slot: %w", class, err)
		}
		if !taken {
			continue
		}
		if mine == nil {
			mine = map[int]bool{}
			c.held[class] = mine
		}
		mine[i] = true
		return &Slot{c: c, class: class, n: i}, true, nil
	}
	if max > 0 {
		return nil, false, nil
	}
	return &Slot{c: c, class: class, n: -1}, true, nil
}

// Release gives the slot back; calling it again does nothing.
func (s *Slot) Release() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		if s.n < 0 {
			return
		}
		c := s.c
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.held[s.class], s.n)
		c.lock(Base(s.class)+int64(s.n), unix.F_UNLCK) //nolint:errcheck // unlocking cannot fail
	})
}

// Class is the name of the slot's class.
func (s *Slot) Class() string { return s.class }

// Count is the number of sessions of class running now, in every process sharing the lock file
// (in this process only without one).
func (c *Counter) Count(class string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.countLocked(class)
}

func (c *Counter) countLocked(class string) int {
	if c.probe == nil {
		return len(c.held[class])
	}
	n, err := CountIn(c.probe, class)
	if err != nil {
		return len(c.held[class])
	}
	return n
}

// CountIn counts the sessions of class in lock file f, without taking a lock: every slot of
// the class locked through another open file description than f's (another process, or this
// process's Counter). A tool that opens the file only to read counts sees them all.
func CountIn(f *os.File, class string) (int, error) {
	base := Base(class)
	end := base + MaxSlots
	n := 0
	for start := base; start < end; {
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: start, Len: end - start}
		if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
			return 0, fmt.Errorf("reading the session count of class %s: %w", class, err)
		}
		if lk.Type == unix.F_UNLCK {
			break
		}
		// One lock (adjacent slots of one holder merge into one range).
		lockEnd := end
		if lk.Len > 0 && lk.Start+lk.Len < end {
			lockEnd = lk.Start + lk.Len
		}
		first := max(lk.Start, start)
		n += int(lockEnd - first)
		start = lockEnd
	}
	return n, nil
}

// Base is the offset in the lock file of class's first slot.
func Base(class string) int64 {
	h := fnv.New64a()
	h.Write([]byte(class)) //nolint:errcheck // hashes never fail
	return int64(h.Sum64()&(1<<40-1)) << regionBits
}

// lock sets (F_WRLCK) or clears (F_UNLCK) the lock of one byte; taken is false when another
// holder has it. Without a lock file every slot is free.
func (c *Counter) lock(off int64, typ int16) (taken bool, err error) {
	if c.hold == nil {
		return true, nil
	}
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: off, Len: 1}
	for {
		err = unix.FcntlFlock(c.hold.Fd(), unix.F_OFD_SETLK, &lk)
		switch err {
		case nil:
			return true, nil
		case unix.EAGAIN, unix.EACCES:
			return false, nil
		case unix.EINTR:
			continue
		}
		return false, err
	}
}

// OpenLock opens (creating it and its directory if missing) the lock file at path: this
// process's own open file description. Whoever can open the file can hold its locks and refuse
// every session of a class, so it must not be a symlink and must belong to us (or root) with no
// group or other write permission.
func OpenLock(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("class session lock file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the class session lock file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("class session lock file: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || !st.Mode().IsRegular() || (int(sys.Uid) != os.Geteuid() && sys.Uid != 0) || st.Mode().Perm()&0o022 != 0 {
		f.Close()
		return nil, fmt.Errorf("class session lock file %s: not a regular file of ours without group/other write; remove it", path)
	}
	return f, nil
}

// OpenForCount opens the lock file at path read-only, for CountIn: a reader never takes a lock,
// and a missing file means no session runs.
func OpenForCount(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the class session lock file: %w", err)
	}
	return f, nil
}

// ReopenLock opens this process's own description of a lock file passed as an inherited
// descriptor fd (an inherited descriptor shares its parent's description, whose locks would not
// exclude the parent's or its siblings').
func ReopenLock(fd int) (*os.File, error) {
	f, err := reopen(fd)
	if err != nil {
		return nil, fmt.Errorf("reopening the class session lock file: %w", err)
	}
	return f, nil
}

func reopen(fd int) (*os.File, error) {
	return os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDWR|unix.O_CLOEXEC, 0)
}
