package logging

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// TestLogLimiterKeysOnMessage: a flood of one message does not hide another
// (a recovered panic, say), and the limit starts afresh each window.
// Guards: the per-message keying of the limit.
func TestLogLimiterKeysOnMessage(t *testing.T) {
	var out testutil.SyncBuffer
	l := NewLimiter(NewLogger(&config.Config{Log: config.LogConfig{Level: "info", Format: "text"}}, &out).Handler(), 3, time.Hour, "")
	now := time.Now()
	for range 10 {
		l.Allow("Unknown command", now)
	}
	if !l.Allow("Internal command handling error", now) {
		t.Error("a flood of one message suppressed another")
	}
	if l.Allow("Unknown command", now.Add(30*time.Minute)) {
		t.Error("over the limit within the window, yet allowed")
	}
	if !l.Allow("Unknown command", now.Add(time.Hour)) {
		t.Error("not allowed again in the next window")
	}
	l.summarize("Unknown command")
	if !strings.Contains(out.String(), `message="Unknown command" suppressed=8 limit=3 per=1h0m0s`) {
		t.Errorf("summary: %q", out.String())
	}
}

// TestLibraryLogHidesPASSParam: a library record about a failed PASS never
// carries the password.
func TestLibraryLogHidesPASSParam(t *testing.T) {
	var buf testutil.SyncBuffer
	h := NewLibraryHandler(slog.NewTextHandler(&buf, nil), nil)
	slog.New(h).Warn("Internal command handling error", "err", "boom", "command", "PASS", "param", "s3cret-pw")
	slog.New(h).Warn("Internal command handling error", "err", "boom", "command", "CWD", "param", "/dir")
	if strings.Contains(buf.String(), "s3cret-pw") || !strings.Contains(buf.String(), "param=/dir") {
		t.Errorf("log: %s", buf.String())
	}
}
