package admission

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Out of file descriptors. Without care, a connection over the limit is
// accepted by nobody (the accept fails and the client waits in the backlog,
// or sees its connection cut), or is admitted and fails later with an odd
// reply ("530 home directory unavailable" when the root cannot be opened).
// Instead:
//   - the server keeps a few descriptors in reserve; when accept fails for
//     lack of descriptors, it gives the reserve up, accepts the connection,
//     answers 421 and closes it, then takes the reserve again (a few, not
//     one: a session may take a freed descriptor before the accept does);
//   - a connection is admitted only while the process has room for a
//     session's descriptors (fdsPerSession), and for the logins of those
//     admitted before that have not logged in yet, else it gets 421 at
//     once (the accept loop checks, so that a burst is counted in order);
//   - a session that still runs out later (at login) gets 421 too;
//   - each burst of refusals is logged once when it starts and once, with
//     the count, when it is over.

// OutOfFDsReply is the reply line (without CRLF) to a connection refused for lack of
// descriptors.
const OutOfFDsReply = "421 Server out of resources (open files); try again later"

// fdsPerSession is what a session served here may hold at once: its control
// connection, its root, a passive listener, a data connection, the file and
// the pipe pair of a spliced upload. A session handed off to a process of
// its own holds less here (fdsPerHandoff): its connection while the
// process starts, the pipe it reports on, the process handle.
// Starting that process needs more for a moment (fdsToStart): the
// connection's copy, the config, pipes, /dev/null.
const (
	fdsPerSession = 7
	fdsPerHandoff = 4
	fdsToStart    = 12
)

// StartProcess runs start, which starts the process of a handed-off
// session, one at a time: each start needs fdsToStart descriptors for a
// moment, and many at once would all fail together when descriptors run
// short. It fails with EMFILE when there is no room for a start.
func (g *Gate) StartProcess(start func() error) error {
	g.fds.startMu.Lock()
	defer g.fds.startMu.Unlock()
	if !roomFor(fdsToStart) {
		return fmt.Errorf("starting the session process: %w", syscall.EMFILE)
	}
	return start()
}

// FileLimitNeeded is about how many open files a server needs to hold
// maxSessions sessions at once: a base for the process (runtime, logs,
// listeners) and what each session may hold (less when each is handed off
// to a process of its own).
func FileLimitNeeded(maxSessions int, handOff bool) int {
	per := fdsPerSession
	if handOff {
		per = fdsPerHandoff
	}
	return 32 + maxSessions*per
}

// fdGuard is the server's part in running out of descriptors.
type fdGuard struct {
	log      *slog.Logger
	startMu  sync.Mutex   // one session process starts at a time
	inFlight atomic.Int64 // accepted, not yet registered or refused

	sinceCount int       // connections since the last count found plenty (accept loop only)
	counted    time.Time // when it did

	mu      sync.Mutex
	reserve []int // the reserve descriptors (up to reserveFDs; fewer while lost)
	burst   int   // refusals in the current burst; 0 = none
	began   time.Time
	quiet   *time.Timer // ends the burst after a second without refusal
}

// reserveFDs is how many descriptors the server keeps in reserve.
const reserveFDs = 4

func newFDGuard(log *slog.Logger) *fdGuard {
	g := &fdGuard{log: log, sinceCount: plentyEvery}
	g.takeReserve()
	return g
}

// Gate is a server's admission: the connections admitted and their way to
// a login (budget.go), and its part in running out of descriptors.
type Gate struct {
	// Limits are the limits of the config in force (a trim applies them).
	Limits func() Limits
	// Report passes this process's login events to the process that
	// handed its session off; nil: nobody is told. It is called under the
	// gate's lock (so events keep their order): it must not lock anything
	// the gate's callers hold, nor block for long.
	Report func(LoginEvent)
	// HandOff says the sessions run in processes of their own (they hold
	// fewer descriptors here).
	HandOff bool

	mu      sync.Mutex
	entries map[*Entry]struct{}
	fds     *fdGuard
}

// New makes the gate of a server; log gets the out-of-descriptors bursts.
func New(log *slog.Logger, limits func() Limits, report func(LoginEvent), handOff bool) *Gate {
	return &Gate{Limits: limits, Report: report, HandOff: handOff, entries: map[*Entry]struct{}{}, fds: newFDGuard(log)}
}

// Accepted counts a connection accepted and not yet admitted or refused
// (RoomForAnother counts it); Decided ends that.
func (g *Gate) Accepted() { g.fds.inFlight.Add(1) }

// Decided: see Accepted.
func (g *Gate) Decided() { g.fds.inFlight.Add(-1) }

// takeReserve opens reserve descriptors up to reserveFDs, and reports
// whether it holds any (g.mu held, or not yet shared). Eventfds need no
// file system.
func (g *fdGuard) takeReserve() bool {
	for len(g.reserve) < reserveFDs {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			break
		}
		g.reserve = append(g.reserve, fd)
	}
	return len(g.reserve) > 0
}

// giveReserve closes the reserve descriptors (g.mu held).
func (g *fdGuard) giveReserve() {
	for _, fd := range g.reserve {
		unix.Close(fd)
	}
	g.reserve = g.reserve[:0]
}

// IsFDExhaustion reports an error caused by the process (EMFILE) or the
// system (ENFILE) being out of file descriptors.
func IsFDExhaustion(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// RefuseOne is called when accepting on l failed for lack of descriptors: it
// spends the reserve on accepting the waiting connection, answers it 421 and
// closes it, and takes the reserve back. It returns false when it could do
// nothing (the reserve is lost, or nothing was waiting): the caller then
// backs off as for any accept error.
func (gate *Gate) RefuseOne(l net.Listener) bool {
	g := gate.fds
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.takeReserve() {
		return false
	}
	g.giveReserve()
	type deadliner interface{ SetDeadline(time.Time) error }
	if dl, ok := l.(deadliner); ok {
		dl.SetDeadline(time.Now().Add(100 * time.Millisecond))
		defer dl.SetDeadline(time.Time{})
	}
	c, err := l.Accept()
	if err == nil {
		SayOutOfFDs(c)
		c.Close()
		g.noteLocked("accept")
	}
	g.takeReserve()
	return err == nil
}

// SayOutOfFDs writes the 421 of a connection refused for lack of
// descriptors.
func SayOutOfFDs(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write([]byte(OutOfFDsReply + "\r\n")) //nolint:errcheck // closing anyway
}

// Note counts a connection refused for lack of descriptors at stage (for
// the log lines of the burst).
func (gate *Gate) Note(stage string) {
	g := gate.fds
	g.mu.Lock()
	defer g.mu.Unlock()
	g.noteLocked(stage)
}

func (g *fdGuard) noteLocked(stage string) {
	if g.burst == 0 {
		g.began = time.Now()
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) //nolint:errcheck // for the log line only
		g.log.Warn("out of file descriptors: refusing connections with 421 until some are free",
			"stage", stage, "limit", rl.Cur, "open", countOpenFDs())
		g.quiet = time.AfterFunc(time.Second, g.endBurst)
	} else {
		g.quiet.Reset(time.Second)
	}
	g.burst++
}

// endBurst logs the end of a burst of refusals.
func (g *fdGuard) endBurst() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.burst == 0 {
		return
	}
	g.log.Warn("out of file descriptors: burst over", "refused", g.burst,
		"lasted", time.Since(g.began).Round(time.Millisecond).String())
	g.burst = 0
}

// fdsPerLogin is what a session served here still needs to log in: its
// root, and the peer lookup's transient files.
const fdsPerLogin = 2

// RoomForAnother reports whether a newly accepted connection may be
// admitted: room for a session, plus the logins of the sessions admitted
// (or accepted) before it that are not logged in yet. Only the accept loop
// calls it.
func (g *Gate) RoomForAnother() bool {
	need, perWaiting := fdsPerSession, fdsPerLogin
	if g.HandOff {
		need, perWaiting = fdsPerHandoff, 0 // the session processes log in with their own
	}
	if g.fds.plenty() {
		return true
	}
	waiting := int(g.fds.inFlight.Load()) + g.waiting()
	return roomFor(need + perWaiting*waiting)
}

// plentyLeft is how many free descriptors make counting them on every
// connection pointless: it is done then once per plentyEvery connections
// or each second.
const (
	plentyLeft  = 4096
	plentyEvery = 64
)

// plenty reports whether the last count left so much room that this
// connection needs no count of its own (the usual case: the hard limit is
// in the hundreds of thousands). Only the accept loop calls it.
func (g *fdGuard) plenty() bool {
	if g.sinceCount < plentyEvery && time.Since(g.counted) < time.Second {
		g.sinceCount++
		return true
	}
	var rl unix.Rlimit
	n := countOpenFDs()
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil || n < 0 || int64(rl.Cur)-int64(n) < plentyLeft {
		g.sinceCount = plentyEvery // count again next time
		return false
	}
	g.sinceCount, g.counted = 0, time.Now()
	return true
}

// roomFor reports whether the process has descriptors left for a session
// needing need of them, besides the reserve: the limit is read each time
// (prlimit may change it from outside).
func roomFor(need int) bool {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return true
	}
	n := countOpenFDs()
	return n >= 0 && int64(rl.Cur)-int64(n) > int64(need)
}

// countOpenFDs counts this process's open descriptors; -1 if it cannot (which,
// since listing them needs one, means there is none left).
func countOpenFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(256)
		n += len(names)
		if err != nil {
			break
		}
	}
	return n - 1 // the directory itself
}
