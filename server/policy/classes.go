package policy

import (
	"cmp"
	"errors"

	"github.com/tunnelftpd/tunnelftpd/access"
	"github.com/tunnelftpd/tunnelftpd/server/classcount"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// Classes ([[classes]]): which class a session is in, its deny_clients, and its max_sessions,
// counted across every process of the daemon by package classcount.

// deniedText is the 421 of a connection refused by deny_clients. It names no class and no
// rule: the client learns only that its address is refused.
const deniedText = "Connections from your address are not accepted here"

// ErrClassRefused is the login error of a session refused by its class: its reply is the 421
// that AdmitClass prepared (TakeRefusal).
var ErrClassRefused = errors.New("refused by its class")

// RefusedAtConnect returns the 421 text for a connection that a class without who refuses by
// its address (deny_clients), or "".
func (p *Session) RefusedAtConnect() string {
	cl, denied := p.Cfg.Policy().DeniedAtConnect(p.Conn)
	if !denied {
		return ""
	}
	p.Log.Warn("connection refused by deny_clients", "class", cl.Name, "client", p.Conn.Client.String())
	return deniedText
}

// AdmitClass puts the session of user u in its class, or returns the text of the 421 that
// refuses it: deny_clients of a class with a who selecting u, or its class is full. A session in
// no class is admitted as it is.
func (p *Session) AdmitClass(u *access.User) string {
	pol := p.Cfg.Policy()
	c := p.Conn
	if cl, denied := pol.DeniedAtLogin(c, u); denied {
		p.Log.Warn("login refused by deny_clients", "user", u.Name, "class", cl.Name, "client", c.Client.String())
		return deniedText
	}
	cl := pol.ClassOf(c, u)
	if cl == nil {
		return ""
	}
	slot, ok, err := p.Classes.Acquire(cl.Name, cl.MaxSessions)
	switch {
	case err != nil:
		p.Log.Error("login refused: cannot count the class's sessions", "user", u.Name, "class", cl.Name, "err", err)
		return "Service not available, try again later"
	case !ok:
		p.Metrics.LimitRefusal("class")
		p.Log.Warn("login refused: class full", "user", u.Name, "class", cl.Name, "max_sessions", cl.MaxSessions)
		env := p.messageEnv("/")
		env.User, env.ClassLimit, env.ClassCount = u.Name, cl.MaxSessions, p.Classes.Count(cl.Name)
		return cutLine(access.Expand(cmp.Or(cl.FullMessage, "Too many users in your class (%M), try again later"), env))
	}
	p.mu.Lock()
	p.class, p.slot = cl, slot
	p.mu.Unlock()
	p.OnClass(cl.Name)
	return ""
}

// ClassName is the name of the session's class, "" in none.
func (p *Session) ClassName() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.class == nil {
		return ""
	}
	return p.class.Name
}

// LeaveClass gives back the session's class slot (at the end of the session, or when its login
// fails after it was admitted).
func (p *Session) LeaveClass() {
	p.mu.Lock()
	slot := p.slot
	p.slot, p.class = nil, nil
	p.mu.Unlock()
	slot.Release()
}

// classLimits are the %M and %N cookies of the session's messages: its class's limit and the
// number of sessions in it now (0 and 0 in no class).
func (p *Session) classLimits() (limit, count int) {
	p.mu.Lock()
	cl := p.class
	p.mu.Unlock()
	if cl == nil {
		return 0, 0
	}
	return cl.MaxSessions, p.Classes.Count(cl.Name)
}

// ClassCount is the number of sessions of one class, for the status line.
type ClassCount struct {
	Name     string
	Sessions int // running now, in every process sharing the class lock file
	Max      int // the class's max_sessions, 0 for no limit
}

// ClassSessions counts the sessions of each class of cfg, in its order (not the refusal lists,
// access.Class.DenyOnly).
func ClassSessions(cfg *config.Config, classes *classcount.Counter) []ClassCount {
	var out []ClassCount
	for _, cl := range cfg.Policy().Classes {
		if !cl.DenyOnly() {
			out = append(out, ClassCount{Name: cl.Name, Sessions: classes.Count(cl.Name), Max: cl.MaxSessions})
		}
	}
	return out
}
