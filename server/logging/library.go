package logging

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The filter on ftpserverlib's own log. The library logs some events once
// per client command at warn level, the first being "Unknown command": a
// client sending junk in a loop would write a log line per line it sends.
// Each session therefore lets through at most LibraryLogBurst library
// records with the same message per LibraryLogWindow; the rest are counted,
// and one line per message and window says how many were suppressed. Keying
// on the message means a flood of one kind never hides a different warning
// (a recovered panic, say).
const (
	LibraryLogBurst  = 10
	LibraryLogWindow = time.Second
)

// Limiter is the per-session state of such a limit. The library handler's
// is shared by every handler derived (WithAttrs, WithGroup) from one
// session's library handler; log.commands has one of its own.
type Limiter struct {
	out     slog.Handler // where the "suppressed" summaries go
	burst   int
	window  time.Duration
	summary string // the summaries' message ("" = "library log messages suppressed")

	mu   sync.Mutex
	msgs map[string]*logWindow
}

// logWindow counts one message's records in the current window.
type logWindow struct {
	start      time.Time
	n          int         // records let through in this window
	suppressed int         // records dropped since the last summary
	summary    *time.Timer // pending summary, nil if none
}

// NewLimiter lets through at most burst records with the same message per
// window; the summaries of what it dropped go to out, with the message
// summary ("" = "library log messages suppressed").
func NewLimiter(out slog.Handler, burst int, window time.Duration, summary string) *Limiter {
	return &Limiter{out: out, burst: burst, window: window, summary: summary, msgs: map[string]*logWindow{}}
}

// libraryHandler passes on the library's own log records at warn level and
// above only: below that it is chatty, and at debug it would log commands.
// The one exception is failedCommandMsg at info: the detail of an error whose
// reply to the client is plain words (the driver's ClientMessage). limit
// rate-limits them per session (Limiter).
type libraryHandler struct {
	slog.Handler
	limit *Limiter
	user  func() string // the session's user name ("" before login), for failedCommandMsg
}

func (h libraryHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && h.Handler.Enabled(ctx, l)
}

// failedCommandMsg is the library's info record of a command that failed
// with a driver error the client saw only in plain words.
const failedCommandMsg = "Command failed"

func (h libraryHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return libraryHandler{h.Handler.WithAttrs(a), h.limit, h.user}
}

func (h libraryHandler) WithGroup(n string) slog.Handler {
	return libraryHandler{h.Handler.WithGroup(n), h.limit, h.user}
}

// NewLibraryHandler is the handler a session gives the library: warn level
// and above only (but the info record of a failed command), rate-limited
// per message (LibraryLogBurst per LibraryLogWindow), with a PASS
// command's parameter hidden. user names the session's user in the line of
// a failed command (nil: not named).
func NewLibraryHandler(sessionLog slog.Handler, user func() string) slog.Handler {
	return libraryHandler{Handler: sessionLog, limit: NewLimiter(sessionLog, LibraryLogBurst, LibraryLogWindow, ""), user: user}
}

// Handle passes r on unless it is below warn level (but failedCommandMsg) or
// its message is over the limit.
func (h libraryHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn && r.Message != failedCommandMsg {
		return nil
	}
	if h.limit != nil && !h.limit.Allow(r.Message, time.Now()) {
		return nil
	}
	r = withoutPassword(r)
	if r.Message == failedCommandMsg && h.user != nil {
		// One line per refused or failed command: who, the command, the
		// reply the client got (it names the FTP path) and the detail.
		if u := h.user(); u != "" {
			r = r.Clone()
			r.AddAttrs(slog.String("user", u))
		}
	}
	return h.Handler.Handle(ctx, r)
}

// withoutPassword drops the parameter of a PASS command from a library
// record: the library logs command and param when a command handler fails.
func withoutPassword(r slog.Record) slog.Record {
	isPass := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "command" && strings.EqualFold(a.Value.String(), "PASS") {
			isPass = true
			return false
		}
		return true
	})
	if !isPass {
		return r
	}
	clean := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "param" {
			a = slog.String("param", "(hidden)")
		}
		clean.AddAttrs(a)
		return true
	})
	return clean
}

// Allow reports whether a record with message msg may be logged now. The
// first record dropped in a window arms a timer that logs the summary when
// the window ends.
func (l *Limiter) Allow(msg string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.msgs[msg]
	if w == nil {
		w = &logWindow{start: now}
		l.msgs[msg] = w
	}
	if now.Sub(w.start) >= l.window {
		w.start, w.n = now, 0
	}
	if w.n < l.burst {
		w.n++
		return true
	}
	w.suppressed++
	if w.summary == nil {
		w.summary = time.AfterFunc(w.start.Add(l.window).Sub(now), func() { l.summarize(msg) })
	}
	return false
}

// summarize logs how many records with message msg were dropped.
func (l *Limiter) summarize(msg string) {
	l.mu.Lock()
	w := l.msgs[msg]
	n := w.suppressed
	w.suppressed, w.summary = 0, nil
	l.mu.Unlock()
	if n == 0 {
		return
	}
	text := l.summary
	if text == "" {
		text = "library log messages suppressed"
	}
	r := slog.NewRecord(time.Now(), slog.LevelWarn, text, 0)
	r.AddAttrs(slog.String("message", msg), slog.Int("suppressed", n),
		slog.Int("limit", l.burst), slog.String("per", l.window.String()))
	if l.out.Enabled(context.Background(), slog.LevelWarn) {
		l.out.Handle(context.Background(), r) //nolint:errcheck // nowhere to report a log failure
	}
}

// Safe bounds and escapes client-supplied text for the log.
func Safe(s string) string {
	const maxLen = 256
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
