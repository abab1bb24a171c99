// Package admission owns which connections may have a session and when one that has not logged
// in must go: the connect-time limits (max_sessions, max_sessions_per_ssh_user), the pre-login
// budget (max_prelogin, max_prelogin_per_ssh_user, login_timeout: which connection not logged
// in to close to make room), and running out of file descriptors (the reserve, the 421 at
// accept, room for another session: fds.go).
//
// It must not read or write FTP commands, nor know how a session runs: it sees each connection
// as an Entry (its SSH user, whether it sent a line, how to close it) and closes one only
// through the Entry's Evict, or the close given to StartLoginTimer.
package admission

import (
	"fmt"
	"log/slog"
	"time"
)

// The pre-login budget. Connections that have not logged in are anyone's:
// behind sshd every local account and every SSH user can open them, and
// they all come from 127.0.0.1. So they may never lock logins out:
//   - login_timeout closes a connection that has not logged in that long
//     after it was admitted, however it keeps sending (a slow sender pays
//     against the same clock as an idle one);
//   - a new connection that finds max_sessions (or its SSH user's
//     max_sessions_per_ssh_user) full makes room rather than being refused:
//     it closes, with 421, a connection that is not logged in. Only when
//     there is nothing to take is the new connection refused;
//   - once a connection has had login_timeout/4 to log in (its grace), it
//     counts against max_prelogin and, where the peer's owner is known,
//     max_prelogin_per_ssh_user: beyond them, such connections are closed
//     with 421. A burst of connections that log in promptly (a client with
//     parallel transfers) is never touched; an idle flood is trimmed to the
//     budget within the grace.
//
// The connection taken has sent no complete command line if any such
// exists, and is the oldest; for a limit of all users, it belongs to the
// SSH user holding the most connections not logged in. A connection whose
// PASS is being checked is never taken.
//
// A session handed off to a process of its own (system users) reports its
// progress to this process (the server's Options.Report there, Event here)
// and is asked to close through its Evict; the login timeout runs in that
// process.

// loginState is where a session is on its way to a login.
type loginState uint8

const (
	loginWaiting  loginState = iota // admitted, not logged in
	loginChecking                   // a PASS is being checked
	loginDone                       // logged in
	loginClosed                     // evicted or timed out: counted no more
)

// Entry is one connection's part in the budget. The exported fields are set before Admit and
// not changed afterwards; the rest is guarded by the Gate.
type Entry struct {
	// Owner groups connections by tunnel user (its uid); Known says the
	// peer was identified (an unknown one has Owner -1, and counts against
	// no per-SSH-user budget); OwnerName names it in a refusal.
	Owner     int
	Known     bool
	OwnerName string
	// HandedOff says the session runs in a process of its own: it can be
	// evicted once Attach and its EventStarted have both come.
	HandedOff bool
	// SentLine reports whether the client has sent a complete command line
	// (read here; a handed-off session's process reports EventLine). It is
	// called under the gate's lock: it must not lock or block.
	SentLine func() bool
	// Evict closes the connection, with a 421 of EvictMessage, to make room.
	Evict func()
	// Log is the session's logger.
	Log *slog.Logger

	state    loginState
	since    time.Time   // when the connection was admitted
	sentLine bool        // reported by a handed-off session's process
	started  bool        // that process said it can be evicted
	attached bool        // the server holds that process's handle
	timer    *time.Timer // login_timeout (sessions served here)
	grace    *time.Timer // the end of its grace: the budget is trimmed
}

// Limits are the budget's limits from one config.
type Limits struct {
	// MaxSessions and MaxSessionsPerSSHUser are max_sessions and
	// max_sessions_per_ssh_user (0: none).
	MaxSessions, MaxSessionsPerSSHUser int
	// Prelogin and PreloginPerSSHUser are max_prelogin (in force) and
	// max_prelogin_per_ssh_user (0: none).
	Prelogin, PreloginPerSSHUser int
	// LoginTimeout is login_timeout; a quarter of it is a connection's grace.
	LoginTimeout time.Duration
}

// graceOf is how long a connection may stay not logged in before it counts
// against max_prelogin and max_prelogin_per_ssh_user.
func graceOf(loginTimeout time.Duration) time.Duration { return loginTimeout / 4 }

// LoginEvent is what a session's process reports of its way to a login
// (the server's Options.Report), for the budget of the process that handed
// it off.
type LoginEvent byte

// The login events, as single bytes on the wire between the processes.
const (
	EventStarted     LoginEvent = 's' // the process is ready for Handle.Evict
	EventLine        LoginEvent = 'l' // the client sent its first complete command line
	EventCheck       LoginEvent = 'c' // a PASS is being checked
	EventCheckFailed LoginEvent = 'f' // that PASS failed; not logged in
	EventLoggedIn    LoginEvent = 'L' // logged in
)

// EvictMessage is the 421 of a connection closed to make room.
const EvictMessage = "Too many connections not logged in: closing this one to make room; log in promptly or try again later"

// sentAnyLine reports whether the client of e has sent a complete command
// line yet (g.mu held).
func (e *Entry) sentAnyLine() bool { return e.sentLine || e.SentLine != nil && e.SentLine() }

// Admit admits e if lim's max_sessions and max_sessions_per_ssh_user
// allow, making room by choosing connections not logged in to evict where
// that helps; the evicted ones are returned for the caller to close with
// Evict (outside its own locks). On refusal it returns the reason and
// evicts nobody.
func (g *Gate) Admit(e *Entry, lim Limits) (evicted []*Entry, refusal string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	undo := func() {
		for _, v := range evicted {
			v.state = loginWaiting
		}
		evicted = nil
	}
	take := func(owner *int) bool {
		v := g.evictionCandidate(owner, time.Time{})
		if v == nil {
			return false
		}
		v.state = loginClosed
		evicted = append(evicted, v)
		return true
	}
	for {
		var total, ownAll int
		for other := range g.entries {
			if other.state == loginClosed {
				continue
			}
			total++
			if other.Owner == e.Owner {
				ownAll++
			}
		}
		var why string
		var owner *int
		switch {
		case total >= lim.MaxSessions:
			why = fmt.Sprintf("Too many sessions (max_sessions=%d); try again later", lim.MaxSessions)
		case lim.MaxSessionsPerSSHUser > 0 && ownAll >= lim.MaxSessionsPerSSHUser:
			why = fmt.Sprintf("Too many sessions for SSH user %s (max_sessions_per_ssh_user=%d)",
				e.OwnerName, lim.MaxSessionsPerSSHUser)
			owner = &e.Owner
		default:
			e.since = time.Now()
			g.entries[e] = struct{}{}
			e.grace = time.AfterFunc(graceOf(lim.LoginTimeout), g.trim)
			return evicted, ""
		}
		if !take(owner) {
			undo()
			return nil, why
		}
	}
}

// Leave forgets e (its session has ended) and stops its timers.
func (g *Gate) Leave(e *Entry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range []*time.Timer{e.timer, e.grace} {
		if t != nil {
			t.Stop()
		}
	}
	delete(g.entries, e)
}

// trim closes, with 421, the connections not logged in beyond max_prelogin
// and max_prelogin_per_ssh_user among those past their grace. It runs when
// a connection's grace ends.
func (g *Gate) trim() {
	lim := g.Limits()
	g.mu.Lock()
	staleBefore := time.Now().Add(-graceOf(lim.LoginTimeout))
	var victims []*Entry
	for {
		stale, perOwner := 0, map[int]int{}
		var overOwner *int
		for x := range g.entries {
			if x.state == loginClosed || x.state == loginDone || x.since.After(staleBefore) {
				continue
			}
			stale++
			if x.Known {
				k := x.Owner
				perOwner[k]++
				if lim.PreloginPerSSHUser > 0 && perOwner[k] > lim.PreloginPerSSHUser {
					overOwner = &k
				}
			}
		}
		var v *Entry
		switch {
		case overOwner != nil:
			v = g.evictionCandidate(overOwner, staleBefore)
		case stale > lim.Prelogin:
			v = g.evictionCandidate(nil, staleBefore)
		}
		if v == nil {
			break
		}
		v.state = loginClosed
		victims = append(victims, v)
	}
	g.mu.Unlock()
	g.Evict(victims)
}

// evictionCandidate picks the connection to close to make room: one not
// logged in and not checking a PASS, admitted before staleBefore (zero: any
// time), of the owner key *owner (nil: of the owner holding the most
// connections not logged in), one that has sent no command line before one
// that has, the oldest first. nil if none. g.mu must be held.
func (g *Gate) evictionCandidate(owner *int, staleBefore time.Time) *Entry {
	held := map[int]int{}
	for x := range g.entries {
		if x.state == loginWaiting || x.state == loginChecking {
			held[x.Owner]++
		}
	}
	var pick *Entry
	for x := range g.entries {
		switch {
		case x.state != loginWaiting,
			x.HandedOff && (!x.attached || !x.started), // still starting: not ready to be asked
			!staleBefore.IsZero() && x.since.After(staleBefore),
			owner != nil && x.Owner != *owner:
			continue
		}
		if pick == nil || evictsBefore(x, pick, held) {
			pick = x
		}
	}
	return pick
}

// evictsBefore orders eviction candidates: the owner holding more
// connections not logged in first, then those that have sent no line,
// then the oldest.
func evictsBefore(a, b *Entry, held map[int]int) bool {
	if ha, hb := held[a.Owner], held[b.Owner]; ha != hb {
		return ha > hb
	}
	if sa, sb := a.sentAnyLine(), b.sentAnyLine(); sa != sb {
		return !sa
	}
	return a.since.Before(b.since)
}

// Evict closes the entries chosen by Admit, with a 421 (not holding the
// caller's locks).
func (g *Gate) Evict(victims []*Entry) {
	for _, v := range victims {
		v.Log.Info("connection not logged in closed to make room for a new one",
			"connected", time.Since(v.since).Round(time.Millisecond).String())
		v.Evict()
	}
}

// StartLoginTimer arms login_timeout d for a session served here: when it
// fires before the login, close gets the 421 line to close the connection
// with.
func (g *Gate) StartLoginTimer(e *Entry, d time.Duration, close func(line string)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e.timer = time.AfterFunc(d, func() {
		g.mu.Lock()
		st := e.state
		if st != loginDone && st != loginClosed {
			e.state = loginClosed
		}
		g.mu.Unlock()
		if st == loginDone || st == loginClosed {
			return
		}
		e.Log.Info("login timeout: closing a connection that did not log in", "login_timeout", d.String())
		close(fmt.Sprintf("421 Login timeout (login_timeout=%s): closing control connection", d))
	})
}

// BeginCheck marks a PASS being checked; false if the connection was
// closed meanwhile (the login must not go on).
func (g *Gate) BeginCheck(e *Entry) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.state == loginClosed {
		return false
	}
	e.state = loginChecking
	g.report(EventCheck)
	return true
}

// EndCheck records the outcome of a PASS check. It returns false, and the
// login must be refused, if the connection was closed meanwhile (by the
// login timeout).
func (g *Gate) EndCheck(e *Entry, loggedIn bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.state == loginClosed {
		return false
	}
	if !loggedIn {
		e.state = loginWaiting
		g.report(EventCheckFailed)
		return true
	}
	e.state = loginDone
	if e.timer != nil {
		e.timer.Stop()
	}
	g.report(EventLoggedIn)
	return true
}

// report passes an event to the process that handed this session off.
func (g *Gate) report(e LoginEvent) {
	if g.Report != nil {
		g.Report(e)
	}
}

// ReportLine passes on that the client sent its first complete line.
func (g *Gate) ReportLine() { g.report(EventLine) }

// Attach records that the server holds the handle of e's process (it can
// be asked to close).
func (g *Gate) Attach(e *Entry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e.attached = true
	if e.started && e.state == loginWaiting {
		// Its process said it was ready before the server held its handle:
		// the trim of EventStarted could not take it, and it may be past its
		// grace already.
		go g.trim()
	}
}

// Event records what a handed-off session's process reported.
func (g *Gate) Event(e *Entry, ev LoginEvent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.state == loginClosed {
		return
	}
	switch ev {
	case EventStarted:
		e.started = true
		// It may be past its grace already: it can be trimmed now.
		go g.trim()
	case EventLine:
		e.sentLine = true
	case EventCheck:
		e.state = loginChecking
	case EventCheckFailed:
		e.state = loginWaiting
	case EventLoggedIn:
		e.state = loginDone
	}
}

// EvictPrelogin closes, with a 421, the sessions served here that are not
// logged in and not checking a PASS: what a per-session process does when
// the process that handed it off needs the room (Handle.Evict).
func (g *Gate) EvictPrelogin() {
	g.mu.Lock()
	var victims []*Entry
	for e := range g.entries {
		if e.state == loginWaiting && !e.HandedOff {
			e.state = loginClosed
			victims = append(victims, e)
		}
	}
	g.mu.Unlock()
	g.Evict(victims)
}

// waiting counts the entries not logged in (g.mu not held).
func (g *Gate) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for e := range g.entries {
		if st := e.state; st == loginWaiting || st == loginChecking {
			n++
		}
	}
	return n
}
