package server

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// The library logs some events once per client command at warn level, the
// first being "Unknown command": a client sending junk in a loop would
// write a log line per line it sends. Each session therefore lets through at
// most libraryLogBurst library records with the same message per
// libraryLogWindow; the rest are counted, and one line per message and
// window says how many were suppressed. Keying on the message means a flood
// of one kind never hides a different warning (a recovered panic, say).
const (
	libraryLogBurst  = 10
	libraryLogWindow = time.Second
)

// logLimiter is the per-session state of that limit. It is shared by every
// handler derived (WithAttrs, WithGroup) from one session's library handler.
type logLimiter struct {
	out    slog.Handler // where the "suppressed" summaries go
	burst  int
	window time.Duration

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

func newLogLimiter(out slog.Handler, burst int, window time.Duration) *logLimiter {
	return &logLimiter{out: out, burst: burst, window: window, msgs: map[string]*logWindow{}}
}

// libraryHandler passes on the library's own log records at warn level and
// above only: below that it is chatty, and at debug it would log commands.
// limit rate-limits them per session (logLimiter).
type libraryHandler struct {
	slog.Handler
	limit *logLimiter
}

func (h libraryHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h libraryHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return libraryHandler{h.Handler.WithAttrs(a), h.limit}
}

func (h libraryHandler) WithGroup(n string) slog.Handler {
	return libraryHandler{h.Handler.WithGroup(n), h.limit}
}

// newLibraryHandler is the handler a session gives the library: warn level
// and above only (see libraryHandler), rate-limited per message.
func newLibraryHandler(sessionLog slog.Handler) libraryHandler {
	return libraryHandler{Handler: sessionLog, limit: newLogLimiter(sessionLog, libraryLogBurst, libraryLogWindow)}
}

// Handle passes r on unless its message is over the limit.
func (h libraryHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.limit != nil && !h.limit.allow(r.Message, time.Now()) {
		return nil
	}
	return h.Handler.Handle(ctx, withoutPassword(r))
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

// allow reports whether a record with message msg may be logged now. The
// first record dropped in a window arms a timer that logs the summary when
// the window ends.
func (l *logLimiter) allow(msg string, now time.Time) bool {
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
func (l *logLimiter) summarize(msg string) {
	l.mu.Lock()
	w := l.msgs[msg]
	n := w.suppressed
	w.suppressed, w.summary = 0, nil
	l.mu.Unlock()
	if n == 0 {
		return
	}
	r := slog.NewRecord(time.Now(), slog.LevelWarn, "library log messages suppressed", 0)
	r.AddAttrs(slog.String("message", msg), slog.Int("suppressed", n),
		slog.Int("limit", l.burst), slog.String("per", l.window.String()))
	if l.out.Enabled(context.Background(), slog.LevelWarn) {
		l.out.Handle(context.Background(), r) //nolint:errcheck // nowhere to report a log failure
	}
}
