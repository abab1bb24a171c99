// Package passive owns the passive-port policy (DESIGN.md point 2). A tunnel
// forwards a handful of fixed ports, shared by every session, so:
//   - ports come only from the configured range, handed out round-robin
//     (Pool), and across per-session processes each is reserved with an OFD
//     lock on a shared file (OpenLock, ReopenLock);
//   - a port is busy only from PASV until its data connection is accepted (or
//     the accept fails, or a TTL passes): then the listener is closed and the
//     port is free again while the transfer runs;
//   - when every port is busy, PASV waits a bounded time for one, then fails
//     with a reason for the client (Offer.Failed);
//   - one user (its FTP user, and its SSH user where known) holds at most a
//     share of the ports at once, and waiting PASVs are served in arrival
//     order across users and processes (fair.go);
//   - data connections from peers other than the control connection's (its
//     address and, with same_owner, its owner and sshd process) are dropped
//     and the listener keeps waiting for the right client;
//   - a data connection that moves no byte for data_timeout is closed.
//
// Offer is one session's PASV state and the only owner of it; it implements
// what ftpserverlib asks of a PasvPortGetter and a passive-listener wrapper.
//
// It must not know FTP commands or reply codes (the caller turns a failure
// reason into a reply), nor import auth, driver or the config package: it
// takes plain values. It never logs secrets.
package passive

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Pool hands out the ports of one range. busy records what this process
// holds. Across processes (one per session), an OFD byte-range lock on a file
// shared by them (byte N = port N) reserves a port from PASV to release.
//
// Ports that unrelated programs hold are learnt, not tested on every PASV: a
// trial bind per PASV cost as much as the library's own bind (both walk the
// port's TIME_WAIT sockets, thousands after a burst of downloads). A PASV
// offers the library its reserved port plus a few spare ones (extra); a port
// the library then fails to bind is marked foreign, and a foreign port is
// handed out again only once a trial bind shows it free.
type Pool struct {
	first, last int
	log         *slog.Logger
	lock        *os.File // shared lock file; nil = this process only

	surveyOnce sync.Once

	mu      sync.Mutex
	busy    []bool
	foreign []bool // held by another program when last tried
	next    int
	changed chan struct{} // closed and replaced whenever a port or token is released
	nwait   int           // acquires waiting for a port (Waiting)

	tokens tokenSet  // per-user tokens this process holds (fair.go)
	queue  []*waiter // this process's waiting PASVs, in arrival order
	seq    uint64    // arrival numbers, without a lock file
}

// pollInterval is how often a waiting PASV rechecks ports held by other processes.
const pollInterval = 50 * time.Millisecond

// NewPool makes the pool of ports first..last. lock is the lock file shared
// with the other processes that hand out the same range (OpenLock,
// ReopenLock); nil keeps the ports to this process. log receives the
// pool's warnings (nil: none).
func NewPool(first, last int, lock *os.File, log *slog.Logger) *Pool {
	return &Pool{
		first:   first,
		last:    last,
		lock:    lock,
		log:     log,
		busy:    make([]bool, last-first+1),
		foreign: make([]bool, last-first+1),
		changed: make(chan struct{}),
		tokens:  tokenSet{},
	}
}

// survey gives every port one trial bind, the first time a PASV needs the
// pool: the ports other programs already hold start out foreign. Not at
// startup: a per-connection process would pay it before its banner, and a
// bind walks the port's TIME_WAIT sockets (thousands after a burst of
// downloads).
func (p *Pool) survey() {
	p.surveyOnce.Do(func() {
		var held []int
		for port := p.first; port <= p.last; port++ {
			if isAddrInUse(probeBind(port)) {
				held = append(held, port)
			}
		}
		if len(held) == 0 {
			return
		}
		p.mu.Lock()
		for _, port := range held {
			p.foreign[port-p.first] = true
		}
		p.mu.Unlock()
		if p.log != nil {
			p.log.Warn("passive ports in use by another program, skipped until free", "ports", fmt.Sprint(held))
		}
	})
}

// String names the range, as "22000-22004" or "22000".
func (p *Pool) String() string {
	if p.first == p.last {
		return fmt.Sprint(p.first)
	}
	return fmt.Sprintf("%d-%d", p.first, p.last)
}

// Range is the first and last port of the pool.
func (p *Pool) Range() (first, last int) { return p.first, p.last }

// acquire reserves a free port and the tokens of share, waiting up to wait
// for them, in line with the other waiting PASVs (fair.go). On failure the
// error says why: every port busy (errRangeExhausted), the share's user at
// its limit (errShareExhausted), or a trial bind of a foreign port that
// failed for another reason, such as running out of file descriptors.
func (p *Pool) acquire(wait time.Duration, s Share) (int, *Grant, error) {
	sh := s.hashed()
	deadline := time.Now().Add(wait)
	var probeErr error
	var w *waiter // our place in line, once we wait
	defer func() {
		if w != nil {
			p.mu.Lock()
			p.leave(w)
			p.nwait--
			p.mu.Unlock()
		}
	}()
	for {
		p.mu.Lock()
		if p.firstInLine(w) {
			if port, g, ok := p.takeLocked(sh, &probeErr); ok {
				p.mu.Unlock()
				return port, g, nil
			}
		}
		if port, g, ok := p.borrowLocked(sh, s.Borrow, &probeErr); ok {
			p.mu.Unlock()
			return port, g, nil
		}
		changed := p.changed
		left := time.Until(deadline)
		if w == nil && left > 0 {
			w = p.join(sh)
			p.nwait++
		}
		shareFull := !p.mayTake(sh) && p.anyPortFree()
		p.mu.Unlock()

		if left <= 0 {
			switch {
			case probeErr != nil:
				return 0, nil, probeErr
			case shareFull:
				return 0, nil, errShareExhausted
			}
			return 0, nil, errRangeExhausted
		}
		t := time.NewTimer(min(left, pollInterval))
		select {
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// firstInLine reports whether a PASV may take a port now: w is first among
// the waiters that could take their tokens, or (w nil: not waiting yet) no
// waiter could. p.mu held.
func (p *Pool) firstInLine(w *waiter) bool {
	if w != nil {
		return p.turn(w)
	}
	for _, o := range p.waiters() {
		if p.mayTake(o.sh) {
			return false
		}
	}
	return true
}

// takeLocked reserves the next free port round-robin and the tokens of sh.
// p.mu held.
func (p *Pool) takeLocked(sh share, probeErr *error) (int, *Grant, bool) {
	if !p.mayTake(sh) {
		return 0, nil, false
	}
	slot, ok := p.takeNext(probeErr)
	if !ok {
		return 0, nil, false
	}
	tokens, ok := p.takeTokens(sh)
	if !ok {
		p.busy[slot] = false
		p.unlockPort(p.first + slot)
		return 0, nil, false
	}
	p.next = (slot + 1) % len(p.busy)
	return p.first + slot, &Grant{p: p, tokens: tokens}, true
}

// takeNext reserves the first port take allows, in round-robin order from
// p.next (which the caller advances once the PASV has the port). p.mu held.
func (p *Pool) takeNext(probeErr *error) (slot int, ok bool) {
	n := len(p.busy)
	for i := range n {
		if slot := (p.next + i) % n; p.take(slot, probeErr) {
			return slot, true
		}
	}
	return 0, false
}

// take reserves slot if it is free, locked by no other process and, when
// foreign, bindable again. p.mu must be held. A trial bind that fails for a
// reason other than "in use" is kept in *probeErr.
func (p *Pool) take(slot int, probeErr *error) bool {
	port := p.first + slot
	if p.busy[slot] || !p.lockPort(port) {
		return false
	}
	if p.foreign[slot] {
		if err := probeBind(port); err != nil {
			p.unlockPort(port)
			if !isAddrInUse(err) {
				*probeErr = err
			}
			return false
		}
		p.foreign[slot] = false
	}
	p.busy[slot] = true
	return true
}

// candidates reserves the ports offered to the library for one PASV: one,
// with the tokens of s, waiting up to wait for them, then up to spares more
// that are free now (spares are held for a moment only, and count against
// no share). With
// fewer spares than asked (a busy or short range), the first port gets a
// trial bind: a port another program took since it was last seen must not
// fail the PASV while other ports may free up in time. Such a port is marked
// foreign and the search goes on.
func (p *Pool) candidates(wait time.Duration, spares int, s Share) ([]int, *Grant, error) {
	p.survey()
	deadline := time.Now().Add(wait)
	for {
		port, g, err := p.acquire(time.Until(deadline), s)
		if err != nil {
			return nil, nil, err
		}
		keep := 0
		if g.Borrowed() > 0 {
			keep = 1 // a borrowed port's spares leave the range's last free port alone
		}
		got := append([]int{port}, p.extra(spares, keep)...)
		if len(got) > spares || !isAddrInUse(probeBind(port)) {
			return got, g, nil
		}
		p.releaseMarking(got, got[:1])
		g.Release()
	}
}

// extra reserves up to max more free ports, in round-robin order after the
// last one acquired, without waiting: spare candidates for one PASV. It
// leaves keep ports free.
func (p *Pool) extra(max, keep int) []int {
	if max <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if keep > 0 {
		max = min(max, p.freePorts()-keep)
	}
	var got []int
	var ignored error
	n := len(p.busy)
	for i := 0; i < n && len(got) < max; i++ {
		slot := (p.next + i) % n
		if p.take(slot, &ignored) {
			got = append(got, p.first+slot)
		}
	}
	return got
}

// release frees ports reserved by acquire or extra.
func (p *Pool) release(ports ...int) {
	p.releaseMarking(ports, nil)
}

// releaseMarking frees ports, first marking those in foreign as held by
// another program.
func (p *Pool) releaseMarking(ports, foreign []int) {
	p.mu.Lock()
	for _, port := range foreign {
		if port >= p.first && port <= p.last {
			p.foreign[port-p.first] = true
		}
	}
	freed := false
	for _, port := range ports {
		if port < p.first || port > p.last || !p.busy[port-p.first] {
			continue
		}
		p.busy[port-p.first] = false
		p.unlockPort(port)
		freed = true
	}
	if freed {
		p.notifyLocked()
	}
	p.mu.Unlock()
}

// lockPort takes the cross-process lock of port; true without a lock file.
func (p *Pool) lockPort(port int) bool {
	if p.lock == nil {
		return true
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: int64(port), Len: 1}
	return unix.FcntlFlock(p.lock.Fd(), unix.F_OFD_SETLK, &lk) == nil
}

func (p *Pool) unlockPort(port int) {
	if p.lock == nil {
		return
	}
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart, Start: int64(port), Len: 1}
	unix.FcntlFlock(p.lock.Fd(), unix.F_OFD_SETLK, &lk) //nolint:errcheck // unlocking cannot fail
}

// OpenLock opens the passive-port lock file at path for this process:
// its own open file description, so its locks exclude other processes'.
// The file is created if missing.
//
// Anyone who can open the file can hold its locks and block every PASV, so
// it must not be a symlink and must belong to us (or root) with no group or
// other write permission; its directory is created (0755) if missing.
func OpenLock(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("passive port lock file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening passive port lock file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("passive port lock file: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || !st.Mode().IsRegular() || (int(sys.Uid) != os.Geteuid() && sys.Uid != 0) || st.Mode().Perm()&0o022 != 0 {
		f.Close()
		return nil, fmt.Errorf("passive port lock file %s: not a regular file of ours without group/other write; remove it", path)
	}
	return f, nil
}

// ReopenLock opens our own description of a lock file passed as an
// inherited descriptor (a memfd from the parent, which made it).
func ReopenLock(fd int) (*os.File, error) {
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("reopening the passive port lock file: %w", err)
	}
	return f, nil
}

// Waiting is the number of PASVs of this process waiting for a free port
// right now.
func (p *Pool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nwait
}

// InUse counts the ports this process holds.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, b := range p.busy {
		if b {
			n++
		}
	}
	return n
}

// errRangeExhausted: every port of the range stayed busy for the whole wait.
var errRangeExhausted = errors.New("every passive port is busy")

// errShareExhausted: the user held its limit of ports for the whole wait.
var errShareExhausted = errors.New("the user holds its share of passive ports")

// probeBind checks whether the library could bind port right now: it binds
// a socket the way the library's listener is bound (dual-stack wildcard,
// SO_REUSEADDR) and closes it. A bind conflicts with a listening socket on
// the port, so no listen() is needed; raw system calls keep it off the
// network poller.
func probeBind(port int) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("setsockopt: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
		return fmt.Errorf("setsockopt: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{Port: port}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

// isAddrInUse reports a bind failure because the port is taken.
func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
