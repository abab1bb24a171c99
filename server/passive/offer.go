package passive

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tunnelftpd/tunnelftpd/ident"
)

// Spares is how many free ports a PASV offers the library besides the one
// it reserved, in case that one is held by another program.
const Spares = 2

// Offer is one session's passive mode, and the only owner of its state: the
// ports reserved for the PASV in progress, the listener of the last one, and
// why the last one failed. The library calls FetchNext, binds, then calls
// Wrap, all on the session's command goroutine; Failed and Close may come
// from the session's other paths. Set the exported fields before the first
// PASV and do not change them after.
type Offer struct {
	Pool *Pool
	// Range is the range as configured ("22000-22004"), for messages and the log.
	Range string
	// Wait is how long a PASV waits for a free port (passive.wait).
	Wait time.Duration
	// AcceptTimeout releases an advertised port that no data connection
	// reached in time (passive.accept_timeout).
	AcceptTimeout time.Duration
	// DataTimeout closes a data connection that moved no byte for this long
	// (data_timeout).
	DataTimeout time.Duration
	// Loopback is set when clients are told a loopback address
	// (AdvertisesLoopback): the listener then accepts on lo only.
	Loopback bool
	// Control is the control connection's peer address: a data connection
	// must come from the same IP.
	Control net.Addr
	// Owner is who is behind the control connection (nil = unknown). With
	// SameOwner, a data connection must have the same owner and, where
	// known, the same sshd process (passive.same_owner).
	Owner     *ident.Peer
	SameOwner bool
	// Held, if set, asks the identity helper whether process pid (the
	// control peer's) holds the peer socket of a data connection, when this
	// process cannot see it (not root); known is false when it cannot tell.
	Held func(c net.Conn, pid int) (held, known bool)
	// Log receives the session's passive-mode events.
	Log *slog.Logger
	// WarnOnce, if set, logs warnings that say the same for every session
	// of a process (the kernel cannot bind to lo) once; nil logs them to Log.
	WarnOnce func(key, msg string, args ...any)
	// OnWait, if set, is told of each PASV that found no free port at once
	// and waits for one (the metrics count them).
	OnWait func()
	// OnBusy, if set, is told when this session starts listening on a
	// passive port (busy true) and when the port is released again (the
	// registry shows the ports busy).
	OnBusy func(port int, busy bool)

	mu      sync.Mutex
	share   Share     // what the session's PASVs count against (SetShare)
	cands   []int     // ports reserved for this PASV, in the order handed out
	grant   *Grant    // the tokens of this PASV, until its listener takes them
	next    int       // next of cands to hand out; 0 = not handing out
	current *listener // latest passive listener
	reason  string    // why the last FetchNext gave no port ("" = unknown)
}

// SetShare sets what the session's PASVs count against from now on (at
// login: its FTP user and SSH user, and passive.max_per_user).
func (o *Offer) SetShare(s Share) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.share = s
}

// FetchNext is ftpserverlib's PasvPortGetter. The library calls it in a loop
// to collect candidates, then binds the first it can. Each PASV is answered
// with a reserved free port (waiting Wait for one), then up to Spares more
// that were free at once, then ok=false ends the loop. With no port at all,
// Failed says why.
func (o *Offer) FetchNext() (_, _ int, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.next > 0 {
		if o.next == len(o.cands) {
			o.next = 0
			return 0, 0, false
		}
		port := o.cands[o.next]
		o.next++
		return port, port, true
	}
	// One passive port per session: a new PASV gives up the previous,
	// unused one before waiting for a port (with a one-port range it is
	// the very port this session will get).
	o.releaseReservedLocked(nil)
	if o.current != nil && o.current.pending() {
		o.current.Close()
	}
	start := time.Now()
	cands, grant, err := o.Pool.candidates(0, Spares, o.share)
	if (errors.Is(err, errRangeExhausted) || errors.Is(err, errShareExhausted)) && o.Wait > 0 {
		if o.OnWait != nil {
			o.OnWait()
		}
		cands, grant, err = o.Pool.candidates(o.Wait, Spares, o.share)
	}
	switch {
	case errors.Is(err, errRangeExhausted):
		o.Log.Warn("passive port range exhausted", "range", o.Range,
			"waited", time.Since(start).Round(time.Millisecond).String())
		o.reason = fmt.Sprintf("No free passive port in range %s after waiting %s; try again", o.Range, o.Wait)
		return 0, 0, false
	case errors.Is(err, errShareExhausted):
		o.Log.Warn("passive ports: the user holds its share", "max_per_user", o.share.Max,
			"waited", time.Since(start).Round(time.Millisecond).String())
		o.reason = fmt.Sprintf("You already hold %d passive port(s) in other sessions (passive.max_per_user); use them or try again", o.share.Max)
		return 0, 0, false
	case err != nil:
		// Out of file descriptors, or the like: not the range's fault.
		o.Log.Error("cannot open a passive port", "range", o.Range, "err", err)
		o.reason = "Cannot open a data connection right now (server resources exhausted); try again"
		return 0, 0, false
	}
	o.cands, o.next, o.grant = append(o.cands[:0], cands...), 1, grant
	return cands[0], cands[0], true
}

// NumberAttempts is how many candidates FetchNext hands out per PASV at most.
func (o *Offer) NumberAttempts() int { return 1 + Spares }

// releaseReservedLocked frees the ports FetchNext reserved for a PASV that
// are still in cands (Wrap takes the bound one out first), marking those in
// foreign as held by another program, and ends the PASV's hand-out. o.mu
// must be held.
func (o *Offer) releaseReservedLocked(foreign []int) {
	if len(o.cands) > 0 {
		o.Pool.releaseMarking(o.cands, foreign)
	}
	o.grant.Release() // nil once a listener took it
	o.cands, o.next, o.grant = o.cands[:0], 0, nil
}

// Failed is called when the library reports a PASV failure. It cleans up
// and returns the reason for the client ("" if unknown): why FetchNext gave
// no port or, when the library could bind none of the candidates, what a
// trial bind of each says (the library does not say why), marking only
// those another program holds as such.
func (o *Offer) Failed() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	reason := o.reason
	o.reason = ""
	if o.current != nil && o.current.pending() {
		// Failed after binding (no address to advertise): give the port back.
		o.current.Close()
	}
	cands := append([]int(nil), o.cands...)
	var held []int
	var other error
	for _, p := range cands {
		switch err := probeBind(p); {
		case isAddrInUse(err):
			held = append(held, p)
		case err != nil:
			other = err
		}
	}
	// Candidates are still reserved only if the library bound none of them.
	o.releaseReservedLocked(held)
	var why string
	switch {
	case len(cands) == 0:
	case other != nil:
		o.Log.Error("cannot open a passive port", "ports", fmt.Sprint(cands), "err", other)
		why = "Cannot open a data connection right now (server resources exhausted); try again"
	case len(held) > 0:
		o.Log.Warn("passive ports in use by another program", "ports", fmt.Sprint(held))
		why = fmt.Sprintf("Cannot listen on passive port(s) %s: in use by another program; try again",
			strings.Trim(fmt.Sprint(held), "[]"))
	default:
		why = "Cannot listen on a passive port right now; try again"
	}
	if reason == "" {
		reason = why
	}
	return reason
}

// Wrap applies the passive policy to the listener the library bound (its
// MainDriverExtensionPassiveWrapper): the port's TTL and release on accept,
// accepting on lo only when Loopback, the peer filter, and the stall
// watchdog on the data connection.
func (o *Offer) Wrap(l net.Listener) (net.Listener, error) {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return l, nil
	}
	port := tl.Addr().(*net.TCPAddr).Port
	if o.Loopback {
		if err := bindToLoopback(tl); err != nil {
			o.warnOnce("bindtodevice", "cannot restrict passive ports to the loopback interface; stray peers are still dropped by address", "err", err)
		}
	}
	timeout := o.DataTimeout
	onConn := func(c *net.TCPConn) { watchStall(c, timeout, o.Log) }

	o.mu.Lock()
	defer o.mu.Unlock()
	// The library tried the candidates in order: those before port failed.
	var failed []int
	if i := slices.Index(o.cands, port); i >= 0 {
		failed = slices.Clone(o.cands[:i])
		o.cands = slices.Delete(o.cands, i, i+1)
	}
	if len(failed) > 0 {
		o.Log.Info("passive ports in use by another program, skipped", "ports", fmt.Sprint(failed))
	}
	grant := o.grant
	o.grant = nil // the listener holds the PASV's tokens with its port
	o.releaseReservedLocked(failed)
	pool, onBusy := o.Pool, o.OnBusy
	ttl, borrowed := o.AcceptTimeout, grant.Borrowed()
	if borrowed > 0 {
		// Beyond the user's share (Share.Borrow): back soon if unused.
		ttl = min(ttl, borrowed)
		o.Log.Debug("passive port beyond the user's share: nobody else waits", "port", port, "released_unused_after", borrowed.String())
	}
	o.current = newListener(tl, port, ttl, borrowed > 0, func(p int) {
		pool.release(p)
		grant.Release()
		if onBusy != nil {
			onBusy(p, false)
		}
	}, o.allow, onConn, o.Log)
	if onBusy != nil {
		onBusy(port, true)
	}
	return o.current, nil
}

// CutData makes the running transfer's data connection fail at once (a
// deadline in the past, as the stall watchdog does), and reports whether
// there was one: the server is cutting the transfer.
func (o *Offer) CutData() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.current == nil {
		return false
	}
	return o.current.cutConn()
}

// DropUnused closes the listener of the last PASV if no data connection
// has reached it: the transfer command it was for failed without one.
func (o *Offer) DropUnused() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.current != nil && o.current.pending() {
		o.Log.Debug("transfer command failed before its data connection: passive port released", "port", o.current.port)
		o.current.Close()
	}
}

// Close gives back what the session holds: the reserved ports and the
// listener of its last PASV. The session calls it when the client is gone.
func (o *Offer) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.releaseReservedLocked(nil)
	if o.current != nil {
		o.current.Close()
	}
}

func (o *Offer) warnOnce(key, msg string, args ...any) {
	if o.WarnOnce != nil {
		o.WarnOnce(key, msg, args...)
		return
	}
	o.Log.Warn(msg, args...)
}

// AdvertisesLoopback reports whether PASV/EPSV point clients at loopback, in
// which case data connections can only legitimately arrive on lo. address
// is passive.address: an IPv4 literal, or "control" for local, the control
// connection's local address.
func AdvertisesLoopback(address string, local net.Addr) bool {
	if address == "control" {
		a, ok := local.(*net.TCPAddr)
		return ok && a.IP.IsLoopback()
	}
	ip := net.ParseIP(address)
	return ip != nil && ip.IsLoopback()
}

// allow decides whether data connection c belongs to this session: same IP
// as the control connection and, with SameOwner, the same owner (and sshd
// process, where both are known).
func (o *Offer) allow(c net.Conn) bool {
	if !sameHost(c.RemoteAddr(), o.Control) {
		return false
	}
	if !o.SameOwner || o.Owner == nil {
		return true
	}
	// Only the owner and, where the control peer's process is known, whether
	// that process holds the socket: no search through every process.
	// A peer that has already closed has no owner (ident.ErrGone), even
	// though the kernel reports uid 0 for it: refused like any unknown one.
	uid, inode, err := ident.Owner(c.LocalAddr(), c.RemoteAddr())
	if err != nil {
		o.Log.Warn("dropped data connection: cannot identify its owner", "peer", c.RemoteAddr().String(), "err", err)
		return false
	}
	if uid != o.Owner.UID {
		o.Log.Warn("dropped data connection from another owner", "peer", c.RemoteAddr().String(),
			"uid", uid, "want_uid", o.Owner.UID)
		return false
	}
	if o.Owner.PID != 0 {
		// Unknown when this process can no longer list the peer's files
		// (after switching to a system user): the uid check stands alone.
		held, known := ident.HeldBy(o.Owner.PID, inode)
		if !known && o.Held != nil {
			// The helper can see; if it cannot answer, the uid check
			// stands alone, as without it.
			held, known = o.Held(c, o.Owner.PID)
		}
		if known && !held {
			o.Log.Warn("dropped data connection from another process of the same owner", "peer", c.RemoteAddr().String(),
				"uid", uid, "want_pid", o.Owner.PID)
			return false
		}
	}
	return true
}
