package server

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// NewLogger returns the daemon's logger for cfg, writing to w. Every line
// carries the process id (session ids restart at 1 in per-connection
// processes, so the pair identifies a session).
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level, _ := config.ParseLevel(cfg.Log.Level) // validated by config.Parse
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(pidHandler{h, os.Getpid()})
}

// pidHandler appends pid= as the last attribute of every record, so that the
// event's own fields (user=… from=…) keep a fixed place for log matchers.
type pidHandler struct {
	slog.Handler
	pid int
}

func (h pidHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.Int("pid", h.pid))
	return h.Handler.Handle(ctx, r)
}

func (h pidHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return pidHandler{h.Handler.WithAttrs(a), h.pid}
}

func (h pidHandler) WithGroup(n string) slog.Handler {
	return pidHandler{h.Handler.WithGroup(n), h.pid}
}
