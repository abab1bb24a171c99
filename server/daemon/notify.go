package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/tunnelftpd/tunnelftpd/server"
)

// notifier speaks the sd_notify protocol to systemd (Type=notify units):
// READY=1 once serving, STATUS= lines, RELOADING=1/READY=1 around a reload,
// STOPPING=1, WATCHDOG=1. Without NOTIFY_SOCKET it does nothing.
type notifier struct {
	log *slog.Logger
	on  bool

	mu         sync.Mutex
	lastStatus string
	failed     bool
}

func newNotifier(log *slog.Logger) *notifier {
	return &notifier{log: log, on: os.Getenv("NOTIFY_SOCKET") != ""}
}

// send sends one message (lines "KEY=value"). A failure is logged once: the
// service keeps running, systemd just knows less.
func (n *notifier) send(lines ...string) {
	if !n.on {
		return
	}
	msg := strings.Join(lines, "\n")
	if _, err := sd.SdNotify(false, msg); err != nil {
		n.mu.Lock()
		first := !n.failed
		n.failed = true
		n.mu.Unlock()
		if first {
			n.log.Warn("sd_notify failed", "socket", os.Getenv("NOTIFY_SOCKET"), "err", err)
		}
	}
}

// ready says the service is up (again, after a reload) and how it is.
func (n *notifier) ready(status string) {
	n.mu.Lock()
	n.lastStatus = status
	n.mu.Unlock()
	n.send(sd.SdNotifyReady, "STATUS="+status)
}

// reloading says a reload started; systemd ≥ 253 (Type=notify-reload) wants
// the monotonic time with it.
func (n *notifier) reloading() {
	lines := []string{sd.SdNotifyReloading}
	if m := strings.TrimSpace(sd.SdNotifyMonotonicUsec()); m != "" {
		lines = append(lines, m)
	}
	n.send(lines...)
}

// status sends STATUS= if it changed since the last one.
func (n *notifier) status(status string) {
	n.mu.Lock()
	changed := status != n.lastStatus
	n.lastStatus = status
	n.mu.Unlock()
	if changed {
		n.send("STATUS=" + status)
	}
}

func (n *notifier) stopping(status string) {
	n.mu.Lock()
	n.lastStatus = status
	n.mu.Unlock()
	n.send(sd.SdNotifyStopping, "STATUS="+status)
}

func (n *notifier) watchdog() { n.send(sd.SdNotifyWatchdog) }

// statusLine is the STATUS= text: sessions and passive ports in use.
func statusLine(s *server.Server) string {
	cfg := s.Config()
	sessions := s.Sessions()
	noun := "sessions"
	if sessions == 1 {
		noun = "session"
	}
	return fmt.Sprintf("%d %s; passive ports %s: %d of %d busy", sessions, noun, cfg.Passive.Ports,
		s.PassivePortsBusy(), cfg.Passive.Last-cfg.Passive.First+1)
}
