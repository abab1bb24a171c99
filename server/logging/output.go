// Package logging owns where tunnelftpd's log lines go: standard error
// (with each line's priority for journald when standard error is the
// journal), syslog or a file, by log.output (never standard error under
// --inetd, where fds 0-2 were the client's socket), swapped under the
// loggers on a reload, reopened for logrotate, with pid= as every line's
// last field; the wu-ftpd transfer log (xferlog), which follows the
// same swap-on-reload and reopen rules; wtmp records; and the filter on
// ftpserverlib's own log (library.go: its level, a rate limit per message,
// a PASS parameter hidden), whose Limiter log.commands shares.
//
// It must not decide what the server itself logs, nor format secrets:
// callers pass text already made safe for the log.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// Log destinations (log.output). With --inetd, fds 0/1/2 are the client's
// socket: log lines then never go to standard error, whatever the config
// says, but to syslog or a file.

// Output is where the daemon's log lines go, with the level and format of
// the config in force. Loggers made by New follow a reload: the
// destination, level and format are swapped under them.
type Output struct {
	inetd  bool      // fds 0/1/2 are (were) the client's socket
	stderr io.Writer // standard error, when it may be used

	mu  sync.Mutex // serialises swaps
	cur atomic.Pointer[logBase]
}

// logBase is one destination with its level and format.
type logBase struct {
	h    slog.Handler
	dest string         // "stderr", "syslog" or a file path
	file *os.File       // the log file, if dest is one
	cfg  *config.Config // the level and format it was made with
}

// New opens the destination cfg.Log.Output asks for and returns a logger
// writing there; every line carries the pid. inetd says that standard error
// must not be used (--inetd). stderr is standard error otherwise.
func New(cfg *config.Config, inetd bool, stderr io.Writer) (*Output, *slog.Logger, error) {
	o := &Output{inetd: inetd, stderr: stderr}
	b, err := o.open(cfg)
	if err != nil {
		return nil, nil, err
	}
	o.install(b)
	return o, slog.New(&swapHandler{out: o, pid: os.Getpid()}), nil
}

// NewLogger returns a logger writing to w with the level and format of cfg,
// whatever log.output says, through the daemon's own handler (pid= last):
// for tests and the benchmark's profiling build. Every line carries the
// process id (session ids restart at 1 in per-connection processes, so the
// pair identifies a session).
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	o := &Output{stderr: w}
	b, _ := o.openDest(cfg, "stderr") // standard error cannot fail to open
	o.cur.Store(b)
	return slog.New(&swapHandler{out: o, pid: os.Getpid()})
}

// Dest names the destination in force, for the log.
func (o *Output) Dest() string { return o.cur.Load().dest }

// open builds the destination for cfg without installing it.
func (o *Output) open(cfg *config.Config) (*logBase, error) {
	dest := cfg.Log.Output
	if dest == "auto" || dest == "stderr" {
		dest = "stderr"
		if o.inetd {
			dest = "syslog"
		}
	}
	return o.openDest(cfg, dest)
}

// openDest builds destination dest ("stderr", "syslog" or a file path) with
// cfg's level and format.
func (o *Output) openDest(cfg *config.Config, dest string) (*logBase, error) {
	level, _ := config.ParseLevel(cfg.Log.Level) // validated by config.Parse
	opts := &slog.HandlerOptions{Level: level}
	format := func(w io.Writer, o *slog.HandlerOptions) slog.Handler {
		if cfg.Log.Format == "json" {
			return slog.NewJSONHandler(w, o)
		}
		return slog.NewTextHandler(w, o)
	}
	switch dest {
	case "stderr":
		if toJournal(o.stderr) {
			// journald reads a "<N>" prefix as the line's priority (so
			// journalctl -p warning shows failed logins) and stamps the
			// time itself.
			opts := &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime}
			return &logBase{h: &bySeverity{
				debug: format(prefixWriter{o.stderr, "<7>"}, opts),
				info:  format(prefixWriter{o.stderr, "<6>"}, opts),
				warn:  format(prefixWriter{o.stderr, "<4>"}, opts),
				err:   format(prefixWriter{o.stderr, "<3>"}, opts),
			}, dest: dest, cfg: cfg}, nil
		}
		return &logBase{h: format(o.stderr, opts), dest: dest, cfg: cfg}, nil
	case "syslog":
		sink := &syslogSink{}
		if !o.inetd {
			// Say so at startup when there is no syslog; with --inetd there
			// is nowhere to say it, and lines are dropped until one appears.
			if err := sink.connect(); err != nil {
				return nil, fmt.Errorf("%s: log.output: syslog: %w", cfg.File, err)
			}
		}
		// syslog stamps the time itself.
		opts := &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime}
		return &logBase{h: &bySeverity{
			debug: format(sink.writer(syslog.LOG_DEBUG), opts),
			info:  format(sink.writer(syslog.LOG_INFO), opts),
			warn:  format(sink.writer(syslog.LOG_WARNING), opts),
			err:   format(sink.writer(syslog.LOG_ERR), opts),
		}, dest: dest, cfg: cfg}, nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log.output: %w", err)
	}
	return &logBase{h: format(f, opts), dest: dest, file: f, cfg: cfg}, nil
}

// install puts b in force. A crash (Go panic) is reported in the log file
// when there is one; standard error gets it too, unless it is /dev/null
// (--inetd). The previous file is closed a little later, so that a line
// being written to it as we swap is not lost.
func (o *Output) install(b *logBase) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.installLocked(b)
}

func (o *Output) installLocked(b *logBase) {
	if b.file != nil {
		debug.SetCrashOutput(b.file, debug.CrashOptions{}) //nolint:errcheck // best effort
	} else {
		debug.SetCrashOutput(nil, debug.CrashOptions{}) //nolint:errcheck
	}
	old := o.cur.Swap(b)
	if old != nil && old.file != nil {
		time.AfterFunc(time.Second, func() { old.file.Close() })
	}
}

// Prepare opens the destination of a new config (a reload) and returns the
// function that puts it in force, or an error leaving the current one.
// Calling neither commit nor Discard leaks the new file: call one.
func (o *Output) Prepare(cfg *config.Config) (commit func(), discard func(), err error) {
	b, err := o.open(cfg)
	if err != nil {
		return nil, nil, err
	}
	return func() { o.install(b) }, func() {
		if b.file != nil {
			b.file.Close()
		}
	}, nil
}

// Reopen opens the log file in force anew, by its path, and puts it in
// force: after logrotate moved the old one away, lines go to the new file
// (the old one is closed a little later, as on a reload). Nothing happens
// when the destination is not a file. On an error the old file stays.
func (o *Output) Reopen() error {
	o.mu.Lock() // serialised with a reload's swap
	defer o.mu.Unlock()
	b := o.cur.Load()
	if b == nil || b.file == nil {
		return nil
	}
	nb, err := o.openDest(b.cfg, b.dest)
	if err != nil {
		return err
	}
	o.installLocked(nb)
	return nil
}

// Close closes the log file, if any.
func (o *Output) Close() {
	if b := o.cur.Load(); b != nil && b.file != nil {
		b.file.Close()
	}
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// swapHandler is the handler of the daemon's loggers: it writes to the base
// in force at the time of each record, replaying the attributes and groups
// the logger was derived with. It appends pid= as the last
// attribute of every record, so that an event's own fields keep a fixed
// place for log matchers (fail2ban).
type swapHandler struct {
	out *Output
	pid int
	ops []func(slog.Handler) slog.Handler

	// derived caches ops applied to one base: deriving (a TextHandler
	// formats the attributes again) cost a few percent of a small file's
	// transfer when it was done for every record.
	derived atomic.Pointer[derivedHandler]
}

// derivedHandler is base with a swapHandler's attributes and groups.
type derivedHandler struct {
	base *logBase
	h    slog.Handler
}

func (h *swapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.out.cur.Load().h.Enabled(ctx, l)
}

func (h *swapHandler) Handle(ctx context.Context, r slog.Record) error {
	base := h.out.cur.Load()
	d := h.derived.Load()
	if d == nil || d.base != base {
		b := base.h
		for _, op := range h.ops {
			b = op(b)
		}
		d = &derivedHandler{base: base, h: b}
		h.derived.Store(d)
	}
	r.AddAttrs(slog.Int("pid", h.pid))
	return d.h.Handle(ctx, r)
}

func (h *swapHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &swapHandler{out: h.out, pid: h.pid, ops: append(slices.Clip(h.ops), func(b slog.Handler) slog.Handler { return b.WithAttrs(as) })}
}

func (h *swapHandler) WithGroup(name string) slog.Handler {
	return &swapHandler{out: h.out, pid: h.pid, ops: append(slices.Clip(h.ops), func(b slog.Handler) slog.Handler { return b.WithGroup(name) })}
}

// toJournal reports whether w is the stream systemd connected to journald:
// standard error whose device and inode are those JOURNAL_STREAM names
// (see systemd.exec(5)), and not a file or terminal it was redirected to.
func toJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	var dev, ino uint64
	if _, err := fmt.Sscanf(os.Getenv("JOURNAL_STREAM"), "%d:%d", &dev, &ino); err != nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && uint64(sys.Dev) == dev && sys.Ino == ino
}

// prefixWriter writes each line (a handler writes one record per Write)
// with a syslog priority prefix, in one write so that lines of concurrent
// records never interleave.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// bySeverity sends each record to the handler for its syslog severity.
type bySeverity struct{ debug, info, warn, err slog.Handler }

func (h *bySeverity) pick(l slog.Level) slog.Handler {
	switch {
	case l >= slog.LevelError:
		return h.err
	case l >= slog.LevelWarn:
		return h.warn
	case l >= slog.LevelInfo:
		return h.info
	}
	return h.debug
}

func (h *bySeverity) Enabled(ctx context.Context, l slog.Level) bool {
	return h.pick(l).Enabled(ctx, l)
}

func (h *bySeverity) Handle(ctx context.Context, r slog.Record) error {
	return h.pick(r.Level).Handle(ctx, r)
}

func (h *bySeverity) WithAttrs(as []slog.Attr) slog.Handler {
	return &bySeverity{h.debug.WithAttrs(as), h.info.WithAttrs(as), h.warn.WithAttrs(as), h.err.WithAttrs(as)}
}

func (h *bySeverity) WithGroup(name string) slog.Handler {
	return &bySeverity{h.debug.WithGroup(name), h.info.WithGroup(name), h.warn.WithGroup(name), h.err.WithGroup(name)}
}

// syslogSink is a connection to the local syslog daemon (/dev/log), facility
// daemon, tag tunnelftpd. It connects on first use and retries now and then
// while no syslog daemon listens; lines written meanwhile are dropped.
type syslogSink struct {
	mu        sync.Mutex
	w         *syslog.Writer
	lastTry   time.Time
	lastError error
}

const syslogRetry = 5 * time.Second

func (s *syslogSink) connect() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectLocked()
}

func (s *syslogSink) connectLocked() error {
	if s.w != nil {
		return nil
	}
	if !s.lastTry.IsZero() && time.Since(s.lastTry) < syslogRetry {
		return s.lastError
	}
	s.lastTry = time.Now()
	s.w, s.lastError = syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "tunnelftpd")
	return s.lastError
}

func (s *syslogSink) send(sev syslog.Priority, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connectLocked() != nil {
		return
	}
	switch sev {
	case syslog.LOG_DEBUG:
		s.w.Debug(line)
	case syslog.LOG_INFO:
		s.w.Info(line)
	case syslog.LOG_WARNING:
		s.w.Warning(line)
	default:
		s.w.Err(line)
	}
}

// writer is an io.Writer sending each write as one line of severity sev.
func (s *syslogSink) writer(sev syslog.Priority) io.Writer {
	return syslogLineWriter{s, sev}
}

type syslogLineWriter struct {
	s   *syslogSink
	sev syslog.Priority
}

func (w syslogLineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.s.send(w.sev, line)
	}
	return len(p), nil
}

// InetdErrorWriter is where `serve --inetd` reports problems found before
// its config is loaded (bad flags, a bad config file): syslog, severity err.
// Standard error is /dev/null by then (launch.TakeInetdSocket).
func InetdErrorWriter() io.Writer {
	return (&syslogSink{}).writer(syslog.LOG_ERR)
}
