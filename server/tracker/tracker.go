// Package tracker owns what the admin tools see of one session (issue 15): its registry entry
// (tunnelftpd who, count: the command, working directory, transfer and its progress, passive
// port), its counted events (metrics, and the labels of logins and refusals), log.commands and
// log.wtmp. Everything here is best-effort: a registry that cannot be written never fails a
// session, it only logs once.
//
// It must not change what the session does: it only watches (the bytes read, the replies, the
// session's events) and never writes to the client or decides a login. It opens no file but
// through the registry and logging.Wtmp.
package tracker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/driver"
	"github.com/tunnelftpd/tunnelftpd/metrics"
	"github.com/tunnelftpd/tunnelftpd/registry"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
	"github.com/tunnelftpd/tunnelftpd/server/planned"
)

// Options say what a Tracker reports to, and what it asks of its session.
type Options struct {
	// Registry, if set, gets the session's entry; nil: none.
	Registry *registry.Registry
	// Metrics counts the session's events; nil counts nothing.
	Metrics *metrics.Recorder
	// Wtmp, if set, gets the login and logout records, on tty line WtmpLine
	// (logging.WtmpLine).
	Wtmp     *logging.Wtmp
	WtmpLine string
	// Commands says log.commands is on: the command lines of a logged-in
	// session are logged to Log.
	Commands bool
	// Log is the session's logger.
	Log *slog.Logger
	// Now is the server's clock.
	Now func() time.Time
	// WarnOnce logs a warning the first time its key is seen in the process.
	WarnOnce func(key, msg string, args ...any)
	// Cwd is the session's working directory, "" before login.
	Cwd func() string
	// Notice, if set, returns the lines to send before the first line of a
	// reply with code of a logged-in session (the planned shutdown's
	// message), or nil.
	Notice func(code []byte) []byte
}

// Tracker is one session's admin state. A nil *Tracker does nothing, so that the session's
// hooks need no checks (a handed-off session has none: its process registers it).
type Tracker struct {
	o      Options
	client string         // the session's address for logs (wtmp's host)
	slot   *registry.Slot // nil without a registry

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
}

// progressEvery is how often a running transfer's bytes are written to the registry.
const progressEvery = time.Second

// New makes the admin state of session id, run in this process, from sshUser ("" when the
// tunnel was not identified) and client (its address for logs), and registers it.
func New(id uint64, sshUser, client string, o Options) *Tracker {
	a := &Tracker{o: o, client: client}
	if reg := o.Registry; reg != nil {
		now := o.Now()
		slot, err := reg.Join(registry.Entry{Session: id, SSHUser: sshUser, Client: client,
			Connected: now, Active: now})
		if err != nil {
			o.Metrics.RegistryError()
			o.WarnOnce("registry-join", "session not registered: tunnelftpd who, count and metrics miss it", "err", err)
		} else {
			a.slot = slot
		}
	}
	return a
}

// update changes the registry entry; errors are logged once per process.
func (a *Tracker) update(fn func(*registry.Entry)) {
	if a == nil || a.slot == nil {
		return
	}
	if err := a.slot.Update(fn); err != nil {
		a.o.WarnOnce("registry-write", "cannot update the session registry", "err", err)
	}
}

// Leave ends the session's admin state: the logout record, then the registry entry.
func (a *Tracker) Leave() {
	if a == nil {
		return
	}
	a.mu.Lock()
	line := a.wtmpLine
	a.wtmpLine = ""
	a.stopProgressLocked()
	a.mu.Unlock()
	if line != "" {
		if err := a.o.Wtmp.Logout(line); err != nil {
			a.o.WarnOnce("wtmp", "log.wtmp: cannot write a record", "err", err)
		}
	}
	if a.slot != nil {
		a.slot.Leave()
	}
}

// maxCommandLine bounds the bytes kept of a command line being read.
const maxCommandLine = 4096

// Read sees the bytes the library reads from the control connection (ctrl.Hooks.Read): each
// complete command line updates the registry and, with log.commands and once logged in, is
// logged.
func (a *Tracker) Read(p []byte) {
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

// Command logging (log.commands) lets through at most CommandLogBurst lines per
// CommandLogWindow per session, with a summary of what it dropped (logging.Limiter, as the
// library's log).
const (
	CommandLogBurst  = 50
	CommandLogWindow = time.Second
)

// command records one command line. log.commands logs only the commands of a logged-in
// session, as wu-ftpd did: before login a USER line often holds a password typed by mistake.
func (a *Tracker) command(line, user string) {
	safe := registry.SafeCommand(line)
	if a.o.Commands && user != "" {
		a.mu.Lock()
		if a.cmdLimit == nil {
			a.cmdLimit = logging.NewLimiter(a.o.Log.Handler(), CommandLogBurst, CommandLogWindow, "command log lines suppressed")
		}
		limit := a.cmdLimit
		a.mu.Unlock()
		if limit.Allow("command", time.Now()) {
			a.o.Log.Info("command", "user", user, "command", safe)
		}
	}
	now := a.o.Now()
	path := a.o.Cwd()
	a.update(func(e *registry.Entry) {
		e.Command, e.Active = safe, now
		if path != "" {
			e.Path = path
		}
	})
}

// BeforeReply is called with each reply write of the library (one line, or a whole multi-line
// reply), before it is sent (ctrl.Hooks.BeforeReply); it returns lines to send first
// (Options.Notice) or nil. After a 250 or 257 reply the working directory may have changed: the
// registry follows.
func (a *Tracker) BeforeReply(b []byte) []byte {
	if a == nil || len(b) < 4 {
		return nil
	}
	a.mu.Lock()
	first := !a.inMulti
	a.inMulti = replyContinues(b)
	last := !a.inMulti
	loggedIn := a.user != ""
	a.mu.Unlock()
	if last && (bytes.HasPrefix(b, []byte("250")) || bytes.HasPrefix(b, []byte("257"))) {
		defer a.pathChanged()
	}
	if !first || !loggedIn || a.o.Notice == nil { // as wu-ftpd: logged-in sessions are told
		return nil
	}
	return a.o.Notice(b[:3])
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

func (a *Tracker) pathChanged() {
	if path := a.o.Cwd(); path != "" {
		a.update(func(e *registry.Entry) { e.Path = path })
	}
}

// LoggedIn records a successful login: registry, metrics, wtmp. pass is kept only for an
// anonymous login, as the e-mail address xferlog names it by.
func (a *Tracker) LoggedIn(u *auth.User, pass string) {
	if a == nil {
		return
	}
	a.o.Metrics.Login(true, "")
	now := a.o.Now()
	a.mu.Lock()
	a.user = u.Name
	if u.Anonymous {
		a.email = registry.SafeCommand(pass) // bounded, no control characters
	}
	a.mu.Unlock()
	a.update(func(e *registry.Entry) {
		e.User, e.Kind, e.Login, e.Active, e.Path = u.Name, u.Kind(), now, now, "/"
	})
	if w := a.o.Wtmp; w != nil {
		line := a.o.WtmpLine
		if err := w.Login(line, u.Name, a.client); err != nil {
			a.o.WarnOnce("wtmp", "log.wtmp: cannot write a record", "err", err)
		} else {
			a.mu.Lock()
			a.wtmpLine = line
			a.mu.Unlock()
		}
	}
}

// SetClass records the session class the login was admitted under.
func (a *Tracker) SetClass(name string) {
	a.update(func(e *registry.Entry) { e.Class = name })
}

// LoginFailed counts a failed login (in a session served here or not) by a reason from a
// fixed set (never the user's input).
func LoginFailed(m *metrics.Recorder, err error) {
	m.Login(false, loginReason(err))
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

// XferIdentity is the access mode and user field of the session's xferlog lines, as wu-ftpd
// wrote them: 'a' and the e-mail address for anonymous, 'g' for a virtual user (a confined
// account that is not the host's), 'r' for a system account.
func (a *Tracker) XferIdentity(u *auth.User) (byte, string) {
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

// TransferOpened shows a transfer in the registry from the moment its file is open, and keeps
// its bytes current while it runs.
func (a *Tracker) TransferOpened(f *driver.File) {
	if a == nil {
		return
	}
	now := a.o.Now()
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
				n, at := f.Progress(), a.o.Now()
				a.update(func(e *registry.Entry) {
					if e.Transfer != nil {
						e.Transfer.Bytes, e.Transfer.Updated = n, at
					}
				})
			}
		}
	}()
}

func (a *Tracker) stopProgressLocked() {
	if a.xferStop != nil {
		close(a.xferStop)
		a.xfer, a.xferStop = nil, nil
	}
}

// TransferEnded counts a finished transfer and adds its bytes to the session's.
func (a *Tracker) TransferEnded(t driver.Transfer) {
	if a == nil {
		return
	}
	a.o.Metrics.Transfer(t.Upload, t.Err == nil, t.Bytes)
	a.mu.Lock()
	a.stopProgressLocked()
	a.mu.Unlock()
	a.update(func(e *registry.Entry) {
		e.Bytes += t.Bytes
		e.Transfer = nil
	})
}

// PasvBusy follows the passive port the session listens on (passive.Offer.OnBusy).
func (a *Tracker) PasvBusy(port int, busy bool) {
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

// LimitOf names the limit behind a connect-time refusal (its 421 text), for the metrics.
func LimitOf(reason string) string {
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
