package server

import (
	"fmt"
	"time"

	"github.com/tunnelftpd/tunnelftpd/server/planned"
	"github.com/tunnelftpd/tunnelftpd/shutdownfile"
)

// The planned shutdown: package planned reads the shutdown file and says when; here the server
// refuses connections and logins, shows its sessions the message and closes them. A session
// handed to a process of its own is left to that process, which watches the same file.

// now is the server's clock: Options.Now, else time.Now.
func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// who is the session as the shutdown message sees it.
func (sess *session) who() planned.Who {
	w := planned.Who{Client: sess.from.Host(), Cwd: sess.cwd()}
	sess.mu.Lock()
	if sess.user != nil {
		w.User = sess.user.Name
	}
	sess.mu.Unlock()
	return w
}

// refuseForShutdown answers a connection that arrives after the deny time with 421 and the
// message, and reports true; the caller then drops the connection.
func (s *Server) refuseForShutdown(sess *session) bool {
	f := s.planned.Denying()
	if f == nil {
		return false
	}
	s.opts.Metrics.LimitRefusal("shutdown")
	sess.log.Warn("session refused", "reason", "planned shutdown", "from", sess.conn.RemoteAddr().String(),
		"shutdown_at", f.At.Format(time.RFC3339))
	sess.conn.Say(planned.ReplyLines("421", s.planned.Message(f, sess.who())) +
		"421 Service not available: the server is shutting down; try again later\r\n")
	return true
}

// loginRefusal returns the error of a login after the deny time (a *planned.Refusal), or nil.
func (s *Server) loginRefusal(sess *session) error {
	f := s.planned.Denying()
	if f == nil {
		return nil
	}
	s.opts.Metrics.LimitRefusal("shutdown")
	return &planned.Refusal{Lines: s.planned.Message(f, sess.who())}
}

// shutdownNotice returns the message lines to send before the reply with code of a logged-in
// session (tracker.Options.Notice), when the session is due to see them, or nil.
func (s *Server) shutdownNotice(sess *session, code []byte) []byte {
	f, version := s.planned.Plan()
	if f == nil {
		return nil
	}
	now := s.now()
	sess.mu.Lock()
	due := sess.notice.Due(f, version, now)
	sess.mu.Unlock()
	if !due {
		return nil
	}
	return []byte(planned.ReplyLines(string(code), s.planned.Message(f, sess.who())))
}

// watchShutdown runs while the server has sessions: past the disconnect time of a planned
// shutdown it closes every session that has no transfer running (a session with one is closed
// at a later look, once the transfer has ended).
func (s *Server) watchShutdown() {
	t := time.NewTicker(planned.CheckEvery)
	defer t.Stop()
	for range t.C {
		s.mu.Lock()
		if len(s.sessions) == 0 {
			s.watching = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if f := s.planned.Disconnecting(); f != nil {
			s.closeForShutdown(f)
		}
	}
}

// closeForShutdown closes the idle sessions of this process, telling them why.
func (s *Server) closeForShutdown(plan *shutdownfile.File) {
	s.mu.Lock()
	var idle []*session
	for sess := range s.sessions {
		if sess.handle == nil && sess.adm != nil && !sess.closing && !sess.busy() {
			sess.closing = true
			idle = append(idle, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range idle {
		sess.log.Info("closing the session for the planned shutdown", "shutdown_at", plan.At.Format(time.RFC3339))
		sess.conn.Say(planned.ReplyLines("421", s.planned.Message(plan, sess.who())) +
			fmt.Sprintf("421 Server shutting down at %s; goodbye\r\n", shutdownfile.CTime(plan.At)))
		sess.close()
	}
}

// startWatchingLocked starts watchShutdown if it is not running; s.mu is held.
func (s *Server) startWatchingLocked() {
	if !s.watching {
		s.watching = true
		go s.watchShutdown()
	}
}
