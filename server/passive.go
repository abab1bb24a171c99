package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The passive-port policy. A tunnel forwards a handful of fixed ports, shared
// by every session, so:
//   - ports come only from the configured range, handed out round-robin;
//   - a port is busy only from PASV until its data connection is accepted (or
//     the accept fails, or a TTL passes): then the listener is closed and the
//     port is free again while the transfer runs;
//   - when every port is busy, PASV waits a bounded time for one, then 425;
//   - data connections from peers other than the control connection's are
//     dropped and the listener keeps waiting for the right client.

// portPool hands out the ports of one range. busy records what this process
// holds. Across processes (one per session), an OFD byte-range lock on a file
// shared by them (byte N = port N) reserves a port from PASV to release.
//
// Ports that unrelated programs hold are learnt, not tested on every PASV: a
// trial bind per PASV cost as much as the library's own bind (both walk the
// port's TIME_WAIT sockets, thousands after a burst of downloads). A PASV
// offers the library its reserved port plus a few spare ones (extra); a port
// the library then fails to bind is marked foreign, and a foreign port is
// handed out again only once a trial bind shows it free.
type portPool struct {
	first, last int
	log         *slog.Logger
	lock        *os.File // shared lock file; nil = this process only

	surveyOnce sync.Once

	mu      sync.Mutex
	busy    []bool
	foreign []bool // held by another program when last tried
	next    int
	changed chan struct{} // closed and replaced whenever a port is released
}

// pollInterval is how often a waiting PASV rechecks ports held by other processes.
const pollInterval = 50 * time.Millisecond

// newPortPool makes the pool of ports first..last.
func newPortPool(first, last int, lock *os.File, log *slog.Logger) *portPool {
	return &portPool{
		first:   first,
		last:    last,
		lock:    lock,
		log:     log,
		busy:    make([]bool, last-first+1),
		foreign: make([]bool, last-first+1),
		changed: make(chan struct{}),
	}
}

// survey gives every port one trial bind, the first time a PASV needs the
// pool: the ports other programs already hold start out foreign. Not at
// startup: a per-connection process would pay it before its banner, and a
// bind walks the port's TIME_WAIT sockets (thousands after a burst of
// downloads).
func (p *portPool) survey() {
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
func (p *portPool) String() string {
	if p.first == p.last {
		return fmt.Sprint(p.first)
	}
	return fmt.Sprintf("%d-%d", p.first, p.last)
}

// acquire reserves a free port, waiting up to wait for one. On failure the
// error says why: every port busy (errRangeExhausted), or a trial bind of a
// foreign port that failed for another reason, such as running out of file
// descriptors.
func (p *portPool) acquire(wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	var probeErr error
	for {
		p.mu.Lock()
		n := len(p.busy)
		for i := 0; i < n; i++ {
			slot := (p.next + i) % n
			port := p.first + slot
			if !p.take(slot, &probeErr) {
				continue
			}
			p.next = (slot + 1) % n
			p.mu.Unlock()
			return port, nil
		}
		changed := p.changed
		p.mu.Unlock()

		left := time.Until(deadline)
		if left <= 0 {
			if probeErr != nil {
				return 0, probeErr
			}
			return 0, errRangeExhausted
		}
		t := time.NewTimer(min(left, pollInterval))
		select {
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// take reserves slot if it is free, locked by no other process and, when
// foreign, bindable again. p.mu must be held. A trial bind that fails for a
// reason other than "in use" is kept in *probeErr.
func (p *portPool) take(slot int, probeErr *error) bool {
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
// waiting up to wait for it, then up to spares more that are free now. With
// fewer spares than asked (a busy or short range), the first port gets a
// trial bind: a port another program took since it was last seen must not
// fail the PASV while other ports may free up in time. Such a port is marked
// foreign and the search goes on.
func (p *portPool) candidates(wait time.Duration, spares int) ([]int, error) {
	p.survey()
	deadline := time.Now().Add(wait)
	for {
		port, err := p.acquire(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		got := append([]int{port}, p.extra(spares)...)
		if len(got) > spares || !isAddrInUse(probeBind(port)) {
			return got, nil
		}
		p.releaseMarking(got, got[:1])
	}
}

// extra reserves up to max more free ports, in round-robin order after the
// last one acquired, without waiting: spare candidates for one PASV.
func (p *portPool) extra(max int) []int {
	if max <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
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
func (p *portPool) release(ports ...int) {
	p.releaseMarking(ports, nil)
}

// releaseMarking frees ports, first marking those in foreign as held by
// another program.
func (p *portPool) releaseMarking(ports, foreign []int) {
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
		close(p.changed)
		p.changed = make(chan struct{})
	}
	p.mu.Unlock()
}

// lockPort takes the cross-process lock of port; true without a lock file.
func (p *portPool) lockPort(port int) bool {
	if p.lock == nil {
		return true
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: int64(port), Len: 1}
	return unix.FcntlFlock(p.lock.Fd(), unix.F_OFD_SETLK, &lk) == nil
}

func (p *portPool) unlockPort(port int) {
	if p.lock == nil {
		return
	}
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart, Start: int64(port), Len: 1}
	unix.FcntlFlock(p.lock.Fd(), unix.F_OFD_SETLK, &lk) //nolint:errcheck // unlocking cannot fail
}

// OpenPortLock opens the passive-port lock file at path for this process:
// its own open file description, so its locks exclude other processes'.
// The file is created if missing.
//
// Anyone who can open the file can hold its locks and block every PASV, so
// it must not be a symlink and must belong to us (or root) with no group or
// other write permission; its directory is created (0755) if missing.
func OpenPortLock(path string) (*os.File, error) {
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

// reopenPortLock opens our own description of a lock file passed as an
// inherited descriptor (a memfd from the parent, which made it).
func reopenPortLock(fd int) (*os.File, error) {
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("reopening the passive port lock file: %w", err)
	}
	return f, nil
}

// inUse counts the ports this process holds.
func (p *portPool) inUse() int {
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

// pasvListener wraps the library's passive listener. It implements the
// release rules above; the library keeps setting its accept deadline on the
// inner listener, which our Accept loop honours.
type pasvListener struct {
	inner   *net.TCPListener
	port    int
	release func(port int)
	allow   func(net.Conn) bool
	onConn  func(*net.TCPConn)
	log     *slog.Logger

	mu       sync.Mutex
	closed   bool
	ttl      *time.Timer
	released bool
}

// newPasvListener wraps inner. The port is released after ttl unless Accept
// has started by then.
func newPasvListener(inner *net.TCPListener, port int, ttl time.Duration, release func(int),
	allow func(net.Conn) bool, onConn func(*net.TCPConn), log *slog.Logger) *pasvListener {
	l := &pasvListener{inner: inner, port: port, release: release, allow: allow, onConn: onConn, log: log}
	l.ttl = time.AfterFunc(ttl, func() {
		l.log.Debug("passive port not used in time, released", "port", port)
		l.Close()
	})
	return l
}

// Accept returns the first data connection from an allowed peer and closes
// the listening socket, so the port is free again during the transfer.
func (l *pasvListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.inner.Addr(), Err: net.ErrClosed}
	}
	l.ttl.Stop()
	l.mu.Unlock()
	for {
		c, err := l.inner.AcceptTCP()
		if err != nil {
			l.Close()
			return nil, err
		}
		if !l.allow(c) {
			l.log.Warn("dropped data connection from a stray peer", "port", l.port, "peer", c.RemoteAddr().String())
			c.Close()
			continue
		}
		l.Close()
		if l.onConn != nil {
			l.onConn(c)
		}
		return &dataConn{TCPConn: c}, nil
	}
}

// dataConn is a data connection that buffers small writes. The library
// writes a listing (LIST, NLST, MLSD) one entry per Write; without a buffer
// that is one system call per entry. It embeds the concrete *net.TCPConn,
// so SyscallConn is promoted and file transfers keep sendfile (RETR) and
// splice (STOR), which bypass the buffer (it is empty then). The library
// calls Flush before it closes the connection (its Flusher interface).
type dataConn struct {
	*net.TCPConn
	w *bufio.Writer // created at the first small Write
}

// dataBufSize is the listing buffer of a data connection.
const dataBufSize = 32 << 10

// Write buffers b.
func (d *dataConn) Write(b []byte) (int, error) {
	if d.w == nil {
		if len(b) >= dataBufSize {
			return d.TCPConn.Write(b)
		}
		d.w = bufio.NewWriterSize(d.TCPConn, dataBufSize)
	}
	return d.w.Write(b)
}

// Flush sends what Write buffered.
func (d *dataConn) Flush() error {
	if d.w == nil {
		return nil
	}
	return d.w.Flush()
}

// ReadFrom sends what is buffered, then copies r with the kernel's help
// where it can (the promoted method would skip the buffer).
func (d *dataConn) ReadFrom(r io.Reader) (int64, error) {
	if err := d.Flush(); err != nil {
		return 0, err
	}
	return d.TCPConn.ReadFrom(r)
}

// Close closes the listening socket and releases the port; it is idempotent.
func (l *pasvListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.ttl.Stop()
	l.mu.Unlock()
	err := l.inner.Close()
	l.release(l.port)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("closing passive listener on port %d: %w", l.port, err)
	}
	return nil
}

// Addr is the inner listener's address.
func (l *pasvListener) Addr() net.Addr { return l.inner.Addr() }

// pending reports whether the listener still waits for its data connection.
func (l *pasvListener) pending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.closed
}

// bindToLoopback makes the kernel refuse connections to l that do not arrive
// on the loopback interface (Linux ≥ 5.7 allows it without privilege).
func bindToLoopback(l *net.TCPListener) error {
	raw, err := l.SyscallConn()
	if err != nil {
		return fmt.Errorf("getting raw listener: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo")
	}); err != nil {
		return fmt.Errorf("controlling listener: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("setsockopt SO_BINDTODEVICE lo: %w", serr)
	}
	return nil
}

// sameHost reports whether two addresses have the same IP.
func sameHost(a, b net.Addr) bool {
	ta, ok1 := a.(*net.TCPAddr)
	tb, ok2 := b.(*net.TCPAddr)
	return ok1 && ok2 && ta.IP.Equal(tb.IP)
}

// watchStall closes the data connection when neither direction has moved a
// byte for timeout. The kernel's TCP_INFO counters see progress even while
// sendfile or splice run, so the connection itself stays unwrapped (zero-copy).
// It runs on a timer, not a goroutine of its own: most data connections
// close before the first check, and starting a goroutine (and waking a thread
// for it) per connection was a measurable share of a small file's time.
func watchStall(c *net.TCPConn, timeout time.Duration, log *slog.Logger) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	progress := func() (uint64, error) {
		var info *unix.TCPInfo
		var ierr error
		if err := raw.Control(func(fd uintptr) {
			info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		}); err != nil {
			return 0, err
		}
		if ierr != nil {
			return 0, ierr
		}
		return info.Bytes_acked + info.Bytes_received, nil
	}
	tick := min(max(timeout/4, 10*time.Millisecond), 5*time.Second)
	var last uint64 // counted from the connection's start
	lastMove := time.Now()
	var t *time.Timer
	check := func() {
		cur, err := progress()
		if err != nil {
			return // closed: the transfer is over
		}
		if cur != last {
			last, lastMove = cur, time.Now()
		} else if time.Since(lastMove) >= timeout {
			log.Warn("data connection stalled, closing it", "peer", c.RemoteAddr().String(), "idle", timeout.String())
			// A deadline in the past wakes the blocked sendfile/splice with a timeout error.
			_ = c.SetDeadline(time.Unix(1, 0))
			return
		}
		t.Reset(tick)
	}
	// Armed far away first, so that t is set before check can run.
	t = time.AfterFunc(time.Duration(1<<62), check)
	t.Reset(tick)
}

// isAddrInUse reports a bind failure because the port is taken.
func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
