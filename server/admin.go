package server

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/driver"
	"github.com/tunnelftpd/tunnelftpd/registry"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
	"github.com/tunnelftpd/tunnelftpd/server/planned"
)

// What the admin tools see of a session (issue 15): its registry entry (tunnelftpd who,
// count), its counted events (metrics), log.commands and log.wtmp. Everything here is
// best-effort: a registry that cannot be written never fails a session, it only logs once.

// sessionAdmin is one session's admin state. A nil *sessionAdmin does nothing, so that the
// session's hooks need no checks (a handed-off session has none: its process registers it).
type sessionAdmin struct {
	s    *session
	slot *registry.Slot // nil without a registry

	mu       sync.Mutex
	line     []byte // command bytes read but not yet ended by \n
	user     string // logged in as ("" before)
	email    string // anonymous: the e-mail given as password, for xferlog
	wtmpLine string // set once a login record was written
	xfer     *driver.File
	xferStop chan struct{}
	pasvPort int
	inMulti  bool             // a multi-line reply is being written
	cmdLimit *logging.Limiter // rate of log.commands lines (made at the first one)
	notice   planned.Notice   // what the session was shown of a planned shutdown

	closing bool // closed for the planned shutdown (guarded by Server.mu)
}

// progressEvery is how often a running transfer's bytes are written to the registry.
const progressEvery = time.Second

// joinRegistry makes the admin state of a session that runs in this process.
func (s *Server) joinRegistry(sess *session) *sessionAdmin {
	a := &sessionAdmin{s: sess}
	if reg := s.opts.Registry; reg != nil {
		now := s.now()
		slot, err := reg.Join(registry.Entry{Session: sess.id, SSHUser: sess.sshUser(), Client: sess.remoteHost(),
			Connected: now, Active: now})
		if err != nil {
			s.opts.Metrics.RegistryError()
			s.warnOnce("registry-join", "session not registered: tunnelftpd who, count and metrics miss it", "err", err)
		} else {
			a.slot = slot
		}
	}
	return a
}

// sshUser is the SSH user for the registry ("" when the tunnel was not identified).
func (s *session) sshUser() string {
	if s.peer == nil {
		return ""
	}
	return s.ownerName()
}

// update changes the registry entry; errors are logged once per process.
func (a *sessionAdmin) update(fn func(*registry.Entry)) {
	if a == nil || a.slot == nil {
		return
	}
	if err := a.slot.Update(fn); err != nil {
		a.s.srv.warnOnce("registry-write", "cannot update the session registry", "err", err)
	}
}

// leave ends the session's admin state: the logout record, then the registry entry.
func (a *sessionAdmin) leave() {
	if a == nil {
		return
	}
	a.mu.Lock()
	line := a.wtmpLine
	a.wtmpLine = ""
	a.stopProgressLocked()
	a.mu.Unlock()
	if line != "" {
		if err := a.s.srv.opts.Wtmp.Logout(line); err != nil {
			a.s.srv.warnOnce("wtmp", "log.wtmp: cannot write a record", "err", err)
		}
	}
	if a.slot != nil {
		a.slot.Leave()
	}
}

// maxCommandLine bounds the bytes kept of a command line being read.
const maxCommandLine = 4096

// read sees the bytes the library reads from the control connection (ctrl.Hooks.Read): each complete command
// line updates the registry and, with log.commands and once logged in, is logged.
func (a *sessionAdmin) read(p []byte) {
	if a == nil {
		return
	}
	var lines []string
	a.mu.Lock()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if room := maxCommandLine - len(a.line); room > 0 {
				a.line = append(a.line, p[:min(len(p), room)]...)
			}
			break
		}
		if room := maxCommandLine - len(a.line); room > 0 {
			a.line = append(a.line, p[:min(i, room)]...)
		}
		lines = append(lines, string(bytes.TrimRight(a.line, "\r")))
		a.line = a.line[:0]
		p = p[i+1:]
	}
	user := a.user
	a.mu.Unlock()
	for _, line := range lines {
		a.command(line, user)
	}
}

// Command logging (log.commands) lets through at most commandLogBurst lines per
// commandLogWindow per session, with a summary of what it dropped (logging.Limiter, as the
// library's log).
const (
	commandLogBurst  = 50
	commandLogWindow = time.Second
)

// command records one command line. log.commands logs only the commands of a logged-in
// session, as wu-ftpd did: before login a USER line often holds a password typed by mistake.
func (a *sessionAdmin) command(line, user string) {
	s := a.s
	safe := registry.SafeCommand(line)
	if s.live.cfg.Log.Commands && user != "" {
		a.mu.Lock()
		if a.cmdLimit == nil {
			a.cmdLimit = logging.NewLimiter(s.log.Handler(), commandLogBurst, commandLogWindow, "command log lines suppressed")
		}
		limit := a.cmdLimit
		a.mu.Unlock()
		if limit.Allow("command", time.Now()) {
			s.log.Info("command", "user", user, "command", safe)
		}
	}
	now := s.srv.now()
	path := s.cwd()
	a.update(func(e *registry.Entry) {
		e.Command, e.Active = safe, now
		if path != "" {
			e.Path = path
		}
	})
}

// cwd is the session's working directory, "" before login.
func (s *session) cwd() string {
	s.mu.Lock()
	cc, user := s.cc, s.user
	s.mu.Unlock()
	if cc == nil || user == nil {
		return ""
	}
	return cc.Path()
}

// beforeReply is called with each reply write of the library (one line, or a whole multi-line
// reply), before it is sent; it
// returns lines to send first (the planned-shutdown message) or nil. After a 250 or 257 reply
// the working directory may have changed: the registry follows.
func (a *sessionAdmin) beforeReply(b []byte) []byte {
	if a == nil || len(b) < 4 {
		return nil
	}
	a.mu.Lock()
	first := !a.inMulti
	a.inMulti = replyContinues(b)
	last := !a.inMulti
	a.mu.Unlock()
	if last && (bytes.HasPrefix(b, []byte("250")) || bytes.HasPrefix(b, []byte("257"))) {
		defer a.pathChanged()
	}
	if !first {
		return nil
	}
	return a.s.srv.shutdownNotice(a, b[:3])
}

// replyContinues reports whether a multi-line reply is still open after b. The library writes
// one line per Write, or a whole multi-line reply in one (FEAT, HELP, MLST, STAT of a path): the
// last complete line of b decides. Only "DDD text" (three digits and a blank) ends a reply; a
// "DDD-" line or a continuation line leaves it open.
func replyContinues(b []byte) bool {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	if len(b) < 4 || b[3] != ' ' {
		return true
	}
	for _, c := range b[:3] {
		if c < '0' || c > '9' {
			return true
		}
	}
	return false
}

func (a *sessionAdmin) pathChanged() {
	if path := a.s.cwd(); path != "" {
		a.update(func(e *registry.Entry) { e.Path = path })
	}
}

// loggedIn records a successful login: registry, metrics, wtmp. pass is kept only for an
// anonymous login, as the e-mail address xferlog names it by.
func (a *sessionAdmin) loggedIn(u *auth.User, pass string) {
	if a == nil {
		return
	}
	s := a.s
	s.srv.opts.Metrics.Login(true, "")
	now := s.srv.now()
	a.mu.Lock()
	a.user = u.Name
	if u.Anonymous {
		a.email = registry.SafeCommand(pass) // bounded, no control characters
	}
	a.mu.Unlock()
	a.update(func(e *registry.Entry) {
		e.User, e.Kind, e.Login, e.Active, e.Path = u.Name, u.Kind(), now, now, "/"
	})
	if w := s.srv.opts.Wtmp; w != nil {
		line := logging.WtmpLine(os.Getpid(), s.id, !s.single)
		if err := w.Login(line, u.Name, s.remoteHost()); err != nil {
			s.srv.warnOnce("wtmp", "log.wtmp: cannot write a record", "err", err)
		} else {
			a.mu.Lock()
			a.wtmpLine = line
			a.mu.Unlock()
		}
	}
}

// setClass records the session class the login was admitted under.
func (a *sessionAdmin) setClass(name string) {
	a.update(func(e *registry.Entry) { e.Class = name })
}

// loginFailed counts a failed login by a reason from a fixed set (never the user's input).
func (s *session) loginFailed(err error) {
	s.srv.opts.Metrics.Login(false, loginReason(err))
}

// loginReason classifies a login error for the logins metric.
func loginReason(err error) string {
	var r *auth.Refusal
	var sr *planned.Refusal
	switch {
	case errors.As(err, &sr):
		return "shutdown"
	case errors.Is(err, auth.ErrAuthFailed):
		return "bad_login"
	case errors.As(err, &r):
		for _, k := range []struct{ sub, reason string }{
			{"require_ssh_user", "require_ssh_user"}, {"ftpusers", "ftpusers"}, {"min_uid", "min_uid"},
			{"shell", "shell"}, {"PAM", "pam"}, {"invalid user name", "invalid_name"},
			{"empty password", "empty_password"}, {"no such system user", "unknown_user"},
		} {
			if strings.Contains(r.Reason, k.sub) {
				return k.reason
			}
		}
		return "refused"
	}
	return "other"
}

// xferIdentity is the access mode and user field of the session's xferlog lines, as wu-ftpd
// wrote them: 'a' and the e-mail address for anonymous, 'g' for a virtual user (a confined
// account that is not the host's), 'r' for a system account.
func (a *sessionAdmin) xferIdentity(u *auth.User) (byte, string) {
	switch {
	case u.Anonymous:
		if a != nil {
			a.mu.Lock()
			email := a.email
			a.mu.Unlock()
			if email != "" {
				return 'a', email
			}
		}
		return 'a', u.Name
	case u.System:
		return 'r', u.Name
	}
	return 'g', u.Name
}

// transferOpened shows a transfer in the registry from the moment its file is open, and keeps
// its bytes current while it runs.
func (a *sessionAdmin) transferOpened(f *driver.File) {
	if a == nil {
		return
	}
	now := a.s.srv.now()
	a.update(func(e *registry.Entry) {
		e.Transfer = &registry.Transfer{Upload: f.Upload(), Path: f.Path(), Started: f.Started(), Updated: now}
	})
	if a.slot == nil {
		return
	}
	stop := make(chan struct{})
	a.mu.Lock()
	a.stopProgressLocked()
	a.xfer, a.xferStop = f, stop
	a.mu.Unlock()
	go func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n, at := f.Progress(), a.s.srv.now()
				a.update(func(e *registry.Entry) {
					if e.Transfer != nil {
						e.Transfer.Bytes, e.Transfer.Updated = n, at
					}
				})
			}
		}
	}()
}

func (a *sessionAdmin) stopProgressLocked() {
	if a.xferStop != nil {
		close(a.xferStop)
		a.xfer, a.xferStop = nil, nil
	}
}

// transferEnded counts a finished transfer and adds its bytes to the session's.
func (a *sessionAdmin) transferEnded(t driver.Transfer) {
	if a == nil {
		return
	}
	a.s.srv.opts.Metrics.Transfer(t.Upload, t.Err == nil, t.Bytes)
	a.mu.Lock()
	a.stopProgressLocked()
	a.mu.Unlock()
	a.update(func(e *registry.Entry) {
		e.Bytes += t.Bytes
		e.Transfer = nil
	})
}

// pasvBusy follows the passive port the session listens on.
func (a *sessionAdmin) pasvBusy(port int, busy bool) {
	if a == nil {
		return
	}
	a.mu.Lock()
	switch {
	case busy:
		a.pasvPort = port
	case a.pasvPort == port:
		a.pasvPort = 0
	default:
		a.mu.Unlock()
		return // an older listener: the current one is still busy
	}
	now := a.pasvPort
	a.mu.Unlock()
	a.update(func(e *registry.Entry) { e.PasvPort = now })
}

// limitOf names the limit behind a connect-time refusal, for the metrics.
func limitOf(reason string) string {
	switch {
	case strings.Contains(reason, "max_sessions_per_ssh_user"):
		return "max_sessions_per_ssh_user"
	case strings.Contains(reason, "max_sessions"):
		return "max_sessions"
	case strings.Contains(reason, "tunnel_only"):
		return "tunnel_only"
	case strings.Contains(reason, "shutting down"):
		return "shutdown"
	}
	return "other"
}
