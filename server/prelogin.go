package server

import (
	"fmt"
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
// progress to this process (Options.Report there, the events passed to
// Handoff.Start here) and is asked to close through Handle.Evict; the
// login timeout runs in that process.

// loginState is where a session is on its way to a login.
type loginState uint8

const (
	loginWaiting  loginState = iota // admitted, not logged in
	loginChecking                   // a PASS is being checked
	loginDone                       // logged in
	loginClosed                     // evicted or timed out: counted no more
)

// prelogin is a session's part in the budget, guarded by Server.mu.
type prelogin struct {
	state     loginState
	since     time.Time   // when the connection was admitted
	sentLine  bool        // reported by a handed-off session's process
	handedOff bool        // runs elsewhere: evicted through its handle
	started   bool        // that process said it can be evicted
	timer     *time.Timer // login_timeout (sessions served here)
	grace     *time.Timer // the end of its grace: the budget is trimmed
}

// graceOf is how long a connection may stay not logged in before it counts
// against max_prelogin and max_prelogin_per_ssh_user.
func graceOf(loginTimeout time.Duration) time.Duration { return loginTimeout / 4 }

// LoginEvent is what a session's process reports of its way to a login
// (Options.Report), for the budget of the process that handed it off.
type LoginEvent byte

// The login events, as single bytes on the wire between the processes.
const (
	EventStarted     LoginEvent = 's' // the process is ready for Handle.Evict
	EventLine        LoginEvent = 'l' // the client sent its first complete command line
	EventCheck       LoginEvent = 'c' // a PASS is being checked
	EventCheckFailed LoginEvent = 'f' // that PASS failed; not logged in
	EventLoggedIn    LoginEvent = 'L' // logged in
)

// evictMessage is the 421 of a connection closed to make room.
const evictMessage = "Too many connections not logged in: closing this one to make room; log in promptly or try again later"

// sentLine reports whether the client of sess has sent a complete command
// line yet (Server.mu held).
func (sess *session) sentLine() bool { return sess.pre.sentLine || sess.conn.SentLine() }

// register admits sess if max_sessions and max_sessions_per_ssh_user
// allow, making room by evicting connections not logged in where that
// helps; the evicted ones are returned for the caller to close (outside the
// lock). On refusal it returns the reason and evicts nobody. Server.mu must
// be held.
func (s *Server) register(sess *session) (evicted []*session, refusal string) {
	cfg := sess.live.cfg
	key := sess.ownerKey()
	undo := func() {
		for _, v := range evicted {
			v.pre.state = loginWaiting
		}
		evicted = nil
	}
	take := func(owner *int) bool {
		v := s.evictionCandidate(owner, time.Time{})
		if v == nil {
			return false
		}
		v.pre.state = loginClosed
		evicted = append(evicted, v)
		return true
	}
	for {
		var total, ownAll int
		for other := range s.sessions {
			if other.pre.state == loginClosed {
				continue
			}
			total++
			if other.ownerKey() == key {
				ownAll++
			}
		}
		var why string
		var owner *int
		switch {
		case total >= cfg.MaxSessions:
			why = fmt.Sprintf("Too many sessions (max_sessions=%d); try again later", cfg.MaxSessions)
		case cfg.MaxSessionsPerSSHUser > 0 && ownAll >= cfg.MaxSessionsPerSSHUser:
			why = fmt.Sprintf("Too many sessions for SSH user %s (max_sessions_per_ssh_user=%d)",
				sess.ownerName(), cfg.MaxSessionsPerSSHUser)
			owner = &key
		default:
			sess.pre.since = time.Now()
			s.sessions[sess] = struct{}{}
			sess.pre.grace = time.AfterFunc(graceOf(cfg.LoginTimeout.Duration), s.trim)
			return evicted, ""
		}
		if !take(owner) {
			undo()
			return nil, why
		}
	}
}

// trim closes, with 421, the connections not logged in beyond max_prelogin
// and max_prelogin_per_ssh_user among those past their grace. It runs when
// a connection's grace ends.
func (s *Server) trim() {
	cfg := s.Config()
	s.mu.Lock()
	staleBefore := time.Now().Add(-graceOf(cfg.LoginTimeout.Duration))
	var victims []*session
	for {
		stale, perOwner := 0, map[int]int{}
		var overOwner *int
		for x := range s.sessions {
			if x.pre.state == loginClosed || x.pre.state == loginDone || x.pre.since.After(staleBefore) {
				continue
			}
			stale++
			if x.peer != nil {
				k := x.ownerKey()
				perOwner[k]++
				if cfg.MaxPreloginPerSSHUser > 0 && perOwner[k] > cfg.MaxPreloginPerSSHUser {
					overOwner = &k
				}
			}
		}
		var v *session
		switch {
		case overOwner != nil:
			v = s.evictionCandidate(overOwner, staleBefore)
		case stale > cfg.PreloginLimit():
			v = s.evictionCandidate(nil, staleBefore)
		}
		if v == nil {
			break
		}
		v.pre.state = loginClosed
		victims = append(victims, v)
	}
	s.mu.Unlock()
	s.evict(victims)
}

// evictionCandidate picks the connection to close to make room: one not
// logged in and not checking a PASS, admitted before staleBefore (zero: any
// time), of the owner key *owner (nil: of the owner holding the most
// connections not logged in), one that has sent no command line before one
// that has, the oldest first. nil if none. Server.mu must be held.
func (s *Server) evictionCandidate(owner *int, staleBefore time.Time) *session {
	held := map[int]int{}
	for x := range s.sessions {
		if x.pre.state == loginWaiting || x.pre.state == loginChecking {
			held[x.ownerKey()]++
		}
	}
	var pick *session
	for x := range s.sessions {
		switch {
		case x.pre.state != loginWaiting,
			x.pre.handedOff && (x.handle == nil || !x.pre.started), // still starting: not ready to be asked
			!staleBefore.IsZero() && x.pre.since.After(staleBefore),
			owner != nil && x.ownerKey() != *owner:
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
func evictsBefore(a, b *session, held map[int]int) bool {
	if ha, hb := held[a.ownerKey()], held[b.ownerKey()]; ha != hb {
		return ha > hb
	}
	if sa, sb := a.sentLine(), b.sentLine(); sa != sb {
		return !sa
	}
	return a.pre.since.Before(b.pre.since)
}

// evict closes sessions chosen by register, with a 421 (not holding Server.mu).
func (s *Server) evict(victims []*session) {
	for _, v := range victims {
		v.log.Info("connection not logged in closed to make room for a new one",
			"connected", time.Since(v.pre.since).Round(time.Millisecond).String())
		if v.pre.handedOff {
			v.handle.Evict()
			continue
		}
		v.conn.SayAndClose("421 " + evictMessage)
	}
}

// startLoginTimer arms login_timeout for a session served here.
func (s *Server) startLoginTimer(sess *session) {
	d := sess.live.cfg.LoginTimeout.Duration
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.pre.timer = time.AfterFunc(d, func() {
		s.mu.Lock()
		st := sess.pre.state
		if st != loginDone && st != loginClosed {
			sess.pre.state = loginClosed
		}
		s.mu.Unlock()
		if st == loginDone || st == loginClosed {
			return
		}
		sess.log.Info("login timeout: closing a connection that did not log in", "login_timeout", d.String())
		sess.conn.SayAndClose(fmt.Sprintf("421 Login timeout (login_timeout=%s): closing control connection", d))
	})
}

// beginCheck marks a PASS being checked; false if the connection was
// closed meanwhile (the login must not go on).
func (s *Server) beginCheck(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.pre.state == loginClosed {
		return false
	}
	sess.pre.state = loginChecking
	s.report(EventCheck)
	return true
}

// endCheck records the outcome of a PASS check. It returns false, and the
// login must be refused, if the connection was closed meanwhile (by the
// login timeout).
func (s *Server) endCheck(sess *session, loggedIn bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.pre.state == loginClosed {
		return false
	}
	if !loggedIn {
		sess.pre.state = loginWaiting
		s.report(EventCheckFailed)
		return true
	}
	sess.pre.state = loginDone
	if sess.pre.timer != nil {
		sess.pre.timer.Stop()
	}
	s.report(EventLoggedIn)
	return true
}

// report passes an event to the process that handed this session off.
func (s *Server) report(e LoginEvent) {
	if s.opts.Report != nil {
		s.opts.Report(e)
	}
}

// handedOffEvent records what a handed-off session's process reported.
func (s *Server) handedOffEvent(sess *session, e LoginEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.pre.state == loginClosed {
		return
	}
	switch e {
	case EventStarted:
		sess.pre.started = true
		// It may be past its grace already: it can be trimmed now.
		go s.trim()
	case EventLine:
		sess.pre.sentLine = true
	case EventCheck:
		sess.pre.state = loginChecking
	case EventCheckFailed:
		sess.pre.state = loginWaiting
	case EventLoggedIn:
		sess.pre.state = loginDone
	}
}

// EvictPrelogin closes, with a 421, the sessions of this process that are
// not logged in and not checking a PASS: what a per-session process does
// when the process that handed it off needs the room (Handle.Evict).
func (s *Server) EvictPrelogin() {
	s.mu.Lock()
	var victims []*session
	for sess := range s.sessions {
		if sess.pre.state == loginWaiting && !sess.pre.handedOff {
			sess.pre.state = loginClosed
			victims = append(victims, sess)
		}
	}
	s.mu.Unlock()
	s.evict(victims)
}
