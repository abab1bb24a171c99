package server

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/tunnelftpd/tunnelftpd/access"
	"github.com/tunnelftpd/tunnelftpd/server/classcount"
)

// Classes ([[classes]]): which class a session is in, its deny_clients, and its max_sessions,
// counted across every process of the daemon by package classcount (Options.ClassLock).

// deniedText is the 421 of a connection refused by deny_clients. It names no class and no
// rule: the client learns only that its address is refused.
const deniedText = "Connections from your address are not accepted here"

// errClassRefused is the login error of a session refused by its class: its reply is the 421
// the session already prepared (refuseLogin, ctrl.Hooks.Refusal).
var errClassRefused = errors.New("refused by its class")

// refusedAtConnect returns the 421 text for a connection that a class without who refuses by
// its address (deny_clients), or "".
func (s *Server) refusedAtConnect(sess *session) string {
	c := sess.from.Access()
	cl, denied := sess.live.cfg.Policy().DeniedAtConnect(c)
	if !denied {
		return ""
	}
	sess.log.Warn("connection refused by deny_clients", "class", cl.Name, "client", c.Client.String())
	return deniedText
}

// admitClass puts the session of user u in its class, or returns the text of the 421 that
// refuses it: deny_clients of a class with a who selecting u, or its class is full. A session in
// no class is admitted as it is.
func (s *session) admitClass(u *access.User) string {
	pol := s.live.cfg.Policy()
	c := s.from.Access()
	if cl, denied := pol.DeniedAtLogin(c, u); denied {
		s.log.Warn("login refused by deny_clients", "user", u.Name, "class", cl.Name, "client", c.Client.String())
		return deniedText
	}
	cl := pol.ClassOf(c, u)
	if cl == nil {
		return ""
	}
	slot, ok, err := s.srv.classes.Acquire(cl.Name, cl.MaxSessions)
	switch {
	case err != nil:
		s.log.Error("login refused: cannot count the class's sessions", "user", u.Name, "class", cl.Name, "err", err)
		return "Service not available, try again later"
	case !ok:
		s.srv.opts.Metrics.LimitRefusal("class")
		s.log.Warn("login refused: class full", "user", u.Name, "class", cl.Name, "max_sessions", cl.MaxSessions)
		env := s.messageEnv("/")
		env.User, env.ClassLimit, env.ClassCount = u.Name, cl.MaxSessions, s.srv.classes.Count(cl.Name)
		return cutLine(access.Expand(cmp.Or(cl.FullMessage, "Too many users in your class (%M), try again later"), env))
	}
	s.mu.Lock()
	s.class, s.slot = cl, slot
	s.mu.Unlock()
	s.adm.SetClass(cl.Name)
	return ""
}

// leaveClass gives back the session's class slot (at the end of the session, or when its login
// fails after it was admitted).
func (s *session) leaveClass() {
	s.mu.Lock()
	slot := s.slot
	s.slot, s.class = nil, nil
	s.mu.Unlock()
	slot.Release()
}

// classLimits are the %M and %N cookies of the session's messages: its class's limit and the
// number of sessions in it now (0 and 0 in no class).
func (s *session) classLimits() (limit, count int) {
	s.mu.Lock()
	cl := s.class
	s.mu.Unlock()
	if cl == nil {
		return 0, 0
	}
	return cl.MaxSessions, s.srv.classes.Count(cl.Name)
}

// ClassCount is the number of sessions of one class, for the status line.
type ClassCount struct {
	Name     string
	Sessions int // running now, in every process sharing the class lock file
	Max      int // the class's max_sessions, 0 for no limit
}

// ClassSessions counts the sessions of each class of the config in force, in its order (not
// the refusal lists, access.Class.DenyOnly).
func (s *Server) ClassSessions() []ClassCount {
	var out []ClassCount
	for _, cl := range s.live.Load().cfg.Policy().Classes {
		if !cl.DenyOnly() {
			out = append(out, ClassCount{Name: cl.Name, Sessions: s.classes.Count(cl.Name), Max: cl.MaxSessions})
		}
	}
	return out
}

// newClassCounter makes the class counter of a server from its options.
func newClassCounter(opts Options) (*classcount.Counter, error) {
	c, err := classcount.New(opts.ClassLock)
	if err != nil {
		return nil, fmt.Errorf("class session counter: %w", err)
	}
	return c, nil
}
