// Package planned owns the planned shutdown (tunnelftpd shutdown, wu-ftpd's ftpshut) as a
// server sees it: the shutdown file, looked at at most once a second (no signal needed) and
// cached; the message its sessions are shown, cookies expanded; when a session is due to see it;
// and the refusal of a login after its deny time. From the deny time on, new connections get 421
// and logins 530, with its message; sessions are shown the message at their next reply after
// login (once per version of the file, every 5 minutes in the last 15, at every reply in the last
// minute); from its disconnect time on, sessions are closed as soon as no transfer runs. The
// daemon itself keeps running: the file only announces.
//
// It must not touch sessions or connections: the server asks it what the plan is and closes or
// refuses them itself. It reads no file but the shutdown file (package shutdownfile parses it).
package planned

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tunnelftpd/tunnelftpd/shutdownfile"
)

// CheckEvery is how often the file is looked at (its stat is cached that long).
const CheckEvery = time.Second

// Watcher caches the shutdown file. Its exported fields are set before first use.
type Watcher struct {
	// Path is the shutdown file of the config in force (it may change on a reload).
	Path func() string
	// Now is the clock (the server's: tests set it).
	Now func() time.Time
	// Log receives the plans announced and the files ignored.
	Log *slog.Logger
	// WarnOnce logs a warning the first time its key is seen.
	WarnOnce func(key, msg string, args ...any)

	mu      sync.Mutex
	path    string
	checked time.Time // when the file was last looked at (the server's clock)
	mtime   time.Time
	size    int64
	file    *shutdownfile.File // nil: no shutdown planned
	bad     error              // why the file at mtime could not be read
}

// Plan returns the planned shutdown and the file's modification time, or nil. The file is read
// outside w.mu: while one caller looks at it, the others get the cached plan, so a slow file
// system never holds up connects and replies.
func (w *Watcher) Plan() (*shutdownfile.File, time.Time) {
	path := w.Path()
	now := w.Now()
	w.mu.Lock()
	if w.path == path && !w.checked.IsZero() && now.Sub(w.checked) < CheckEvery && !now.Before(w.checked) {
		defer w.mu.Unlock()
		return w.file, w.mtime
	}
	samePath := w.path == path
	w.path, w.checked = path, now
	mtime, size, known := w.mtime, w.size, samePath && (w.file != nil || w.bad != nil)
	w.mu.Unlock()

	st, err := os.Lstat(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			w.WarnOnce("shutdown-stat", "cannot look at the shutdown file", "shutdown_file", path, "err", err)
		}
		return w.store(path, nil, nil, time.Time{}, 0)
	}
	if known && st.ModTime().Equal(mtime) && st.Size() == size {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.file, w.mtime
	}
	f, err := shutdownfile.Read(path, time.Local)
	if err != nil {
		w.Log.Warn("shutdown file ignored", "shutdown_file", path, "err", err)
		w.store(path, nil, err, st.ModTime(), st.Size())
		return nil, time.Time{}
	}
	w.Log.Info("planned shutdown announced", "shutdown_file", path, "at", f.At.Format(time.RFC3339),
		"deny_from", f.DenyAt().Format(time.RFC3339), "disconnect_from", f.DisconnectAt().Format(time.RFC3339))
	return w.store(path, f, nil, st.ModTime(), st.Size())
}

// store records what was read of the file at path (unless the path changed meanwhile) and
// returns the plan.
func (w *Watcher) store(path string, f *shutdownfile.File, bad error, mtime time.Time, size int64) (*shutdownfile.File, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.path == path {
		w.file, w.bad, w.mtime, w.size = f, bad, mtime, size
	}
	if f == nil {
		return nil, time.Time{}
	}
	return f, mtime
}

// Denying returns the plan when its deny time has come (new connections and logins are
// refused), else nil.
func (w *Watcher) Denying() *shutdownfile.File {
	f, _ := w.Plan()
	if f == nil || w.Now().Before(f.DenyAt()) {
		return nil
	}
	return f
}

// Disconnecting returns the plan when its disconnect time has come (idle sessions are closed),
// else nil.
func (w *Watcher) Disconnecting() *shutdownfile.File {
	f, _ := w.Plan()
	if f == nil || w.Now().Before(f.DisconnectAt()) {
		return nil
	}
	return f
}

// Who is the session a message is shown to, for its cookies (%U, %C, %R); the zero value is a
// connection not yet known.
type Who struct {
	User, Cwd, Client string
}

// Message is the message of f as the session who sees it, cookies expanded, one string per
// line, control characters blanked.
func (w *Watcher) Message(f *shutdownfile.File, who Who) []string {
	host, _ := os.Hostname()
	now := w.Now()
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
			return who.User, true
		case 'R':
			return who.Client, true
		case 'C':
			return who.Cwd, true
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

// ReplyLines formats lines as the continuation lines of a reply with code.
func ReplyLines(code string, lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(code + "-" + l + "\r\n")
	}
	return b.String()
}

// Refusal is the login error after the deny time.
type Refusal struct {
	// Lines are the message, as the session sees it.
	Lines []string
}

func (r *Refusal) Error() string { return "the server is shutting down (planned shutdown)" }

// Reply is the text of the 530 reply: the message, then why.
func (r *Refusal) Reply() string {
	return strings.Join(append(r.Lines, "Login refused: the server is shutting down; try again later"), "\n")
}

// Notice is what one logged-in session was last shown of the plan. The caller guards it.
type Notice struct {
	at time.Time // when the message was last shown
	of time.Time // the modification time of the shutdown file it was shown from
}

// Due reports whether a session that was shown n is due to see the message of f, from the
// file of modification time version, at now, and if so records that it is shown.
func (n *Notice) Due(f *shutdownfile.File, version, now time.Time) bool {
	left := f.At.Sub(now)
	due := !n.of.Equal(version) ||
		left <= 15*time.Minute && now.Sub(n.at) >= 5*time.Minute ||
		left <= time.Minute
	if due {
		n.at, n.of = now, version
	}
	return due
}
