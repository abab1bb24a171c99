package server

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tunnelftpd/tunnelftpd/shutdownfile"
)

// The planned shutdown (tunnelftpd shutdown, wu-ftpd's ftpshut): the daemon looks at the
// shutdown file (shutdown_file) at most once a second, no signal needed. From its deny time
// on, new connections get 421 and logins 530, with its message; sessions are shown the message
// at their next reply after login (once per version of the file, every 5 minutes in the last 15, at every
// reply in the last minute); from its disconnect time on, sessions are closed as soon as no
// transfer runs. The daemon itself keeps running: the file only announces.

// shutdownCheckEvery is how often the file is looked at (its stat is cached that long).
const shutdownCheckEvery = time.Second

// plannedShutdown caches the shutdown file.
type plannedShutdown struct {
	mu      sync.Mutex
	path    string
	checked time.Time // when the file was last looked at (the server's clock)
	mtime   time.Time
	size    int64
	file    *shutdownfile.File // nil: no shutdown planned
	bad     error              // why the file at mtime could not be read
}

// now is the server's clock: Options.Now, else time.Now.
func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// shutdownPlan returns the planned shutdown and the file's modification time, or nil. The file
// is read outside ps.mu: while one caller looks at it, the others get the cached plan, so a
// slow file system never holds up connects and replies.
func (s *Server) shutdownPlan() (*shutdownfile.File, time.Time) {
	path := s.live.Load().cfg.ShutdownPath()
	now := s.now()
	ps := &s.planned
	ps.mu.Lock()
	if ps.path == path && !ps.checked.IsZero() && now.Sub(ps.checked) < shutdownCheckEvery && !now.Before(ps.checked) {
		defer ps.mu.Unlock()
		return ps.file, ps.mtime
	}
	samePath := ps.path == path
	ps.path, ps.checked = path, now
	mtime, size, known := ps.mtime, ps.size, samePath && (ps.file != nil || ps.bad != nil)
	ps.mu.Unlock()

	st, err := os.Lstat(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.warnOnce("shutdown-stat", "cannot look at the shutdown file", "shutdown_file", path, "err", err)
		}
		return ps.store(path, nil, nil, time.Time{}, 0)
	}
	if known && st.ModTime().Equal(mtime) && st.Size() == size {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		return ps.file, ps.mtime
	}
	f, err := shutdownfile.Read(path, time.Local)
	if err != nil {
		s.log.Warn("shutdown file ignored", "shutdown_file", path, "err", err)
		ps.store(path, nil, err, st.ModTime(), st.Size())
		return nil, time.Time{}
	}
	s.log.Info("planned shutdown announced", "shutdown_file", path, "at", f.At.Format(time.RFC3339),
		"deny_from", f.DenyAt().Format(time.RFC3339), "disconnect_from", f.DisconnectAt().Format(time.RFC3339))
	return ps.store(path, f, nil, st.ModTime(), st.Size())
}

// store records what was read of the file at path (unless the path changed meanwhile) and
// returns the plan.
func (ps *plannedShutdown) store(path string, f *shutdownfile.File, bad error, mtime time.Time, size int64) (*shutdownfile.File, time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.path == path {
		ps.file, ps.bad, ps.mtime, ps.size = f, bad, mtime, size
	}
	if f == nil {
		return nil, time.Time{}
	}
	return f, mtime
}

// shutdownMessage is the message of f as a session sees it, cookies expanded, one string per
// line.
func (s *Server) shutdownMessage(f *shutdownfile.File, sess *session) []string {
	host, _ := os.Hostname()
	user, cwd, client := "", "", ""
	if sess != nil {
		client = sess.remoteHost()
		cwd = sess.cwd()
		sess.mu.Lock()
		if sess.user != nil {
			user = sess.user.Name
		}
		sess.mu.Unlock()
	}
	now := s.now()
	text := shutdownfile.Expand(f.Message, func(c byte) (string, bool) {
		if v, ok := f.Cookie(c); ok {
			return v, true
		}
		switch c {
		case 'T':
			return shutdownfile.CTime(now), true
		case 'L':
			return host, true
		case 'U':
			return user, true
		case 'R':
			return client, true
		case 'C':
			return cwd, true
		case 'E':
			return "", true
		}
		return "", false
	})
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		lines = append(lines, strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, l))
	}
	return lines
}

// replyLines formats lines as the continuation lines of a reply with code.
func replyLines(code string, lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(code + "-" + l + "\r\n")
	}
	return b.String()
}

// refuseForShutdown answers a connection that arrives after the deny time with 421 and the
// message, and reports true; the caller then drops the connection.
func (s *Server) refuseForShutdown(sess *session) bool {
	f, _ := s.shutdownPlan()
	if f == nil || s.now().Before(f.DenyAt()) {
		return false
	}
	s.opts.Metrics.LimitRefusal("shutdown")
	sess.log.Warn("session refused", "reason", "planned shutdown", "from", sess.conn.RemoteAddr().String(),
		"shutdown_at", f.At.Format(time.RFC3339))
	sess.conn.Say(replyLines("421", s.shutdownMessage(f, sess)) +
		"421 Service not available: the server is shutting down; try again later\r\n")
	return true
}

// shutdownRefusal is the login error after the deny time.
type shutdownRefusal struct{ lines []string }

func (r *shutdownRefusal) Error() string { return "the server is shutting down (planned shutdown)" }

// reply is the text of the 530 reply: the message, then why.
func (r *shutdownRefusal) reply() string {
	return strings.Join(append(r.lines, "Login refused: the server is shutting down; try again later"), "\n")
}

// loginRefusal returns the error of a login after the deny time, or nil.
func (s *Server) loginRefusal(sess *session) error {
	f, _ := s.shutdownPlan()
	if f == nil || s.now().Before(f.DenyAt()) {
		return nil
	}
	s.opts.Metrics.LimitRefusal("shutdown")
	return &shutdownRefusal{lines: s.shutdownMessage(f, sess)}
}

// shutdownNotice returns the message lines to send before the reply with code, when the
// session is due to see them, or nil.
func (s *Server) shutdownNotice(a *sessionAdmin, code []byte) []byte {
	f, version := s.shutdownPlan()
	if f == nil {
		return nil
	}
	now := s.now()
	a.mu.Lock()
	if a.user == "" { // as wu-ftpd: logged-in sessions are told
		a.mu.Unlock()
		return nil
	}
	left := f.At.Sub(now)
	due := !a.noticedOf.Equal(version) ||
		left <= 15*time.Minute && now.Sub(a.noticed) >= 5*time.Minute ||
		left <= time.Minute
	if due {
		a.noticed, a.noticedOf = now, version
	}
	a.mu.Unlock()
	if !due {
		return nil
	}
	return []byte(replyLines(string(code), s.shutdownMessage(f, a.s)))
}

// watchShutdown runs while the server has sessions: past the disconnect time of a planned
// shutdown it closes every session that has no transfer running (a session with one is closed
// at a later look, once the transfer has ended). A session handed to a process of its own is
// left to that process, which watches the same file.
func (s *Server) watchShutdown() {
	t := time.NewTicker(shutdownCheckEvery)
	defer t.Stop()
	for range t.C {
		s.mu.Lock()
		if len(s.sessions) == 0 {
			s.watching = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		f, _ := s.shutdownPlan()
		if f == nil || s.now().Before(f.DisconnectAt()) {
			continue
		}
		s.closeForShutdown(f)
	}
}

// closeForShutdown closes the idle sessions of this process, telling them why.
func (s *Server) closeForShutdown(plan *shutdownfile.File) {
	s.mu.Lock()
	var idle []*session
	for sess := range s.sessions {
		if sess.handle == nil && sess.adm != nil && !sess.adm.closing && !sess.busy() {
			sess.adm.closing = true
			idle = append(idle, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range idle {
		sess.log.Info("closing the session for the planned shutdown", "shutdown_at", plan.At.Format(time.RFC3339))
		sess.conn.Say(replyLines("421", s.shutdownMessage(plan, sess)) +
			fmt.Sprintf("421 Server shutting down at %s; goodbye\r\n", shutdownfile.CTime(plan.At)))
		sess.close()
	}
}

// startWatching starts watchShutdown if it is not running; s.mu is held.
func (s *Server) startWatchingLocked() {
	if !s.watching {
		s.watching = true
		go s.watchShutdown()
	}
}
