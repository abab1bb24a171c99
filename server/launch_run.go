package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/passive"
)

// Daemon runs a Server on its Launch: it serves the listener or the single
// connection, answers signals (SIGHUP reloads the config, SIGTERM and SIGINT
// drain and stop) and keeps systemd informed (sd_notify).
type Daemon struct {
	Server *Server
	Launch *Launch
	Log    *slog.Logger
	// Output is reconfigured on reload with the server; nil leaves logging
	// as it is.
	Output *LogOutput
	// StatusEvery is how often STATUS= is refreshed when it changed; zero
	// means 5s.
	StatusEvery time.Duration
}

// Run serves until the single session ends, or until SIGTERM/SIGINT and the
// drain that follows. It returns an error only if serving failed.
func (d *Daemon) Run() error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	n := newNotifier(d.Log)
	mode := d.Launch.Mode
	if mode.Single() {
		// The process may become the logged-in user for good.
		d.Server.SetSingleSession()
		if cfg := d.Server.Config(); cfg.MaxSessionsPerSSHUser > 0 {
			d.Log.Warn("max_sessions_per_ssh_user is not enforced in per-connection mode (each process serves one session); limit instances in inetd/xinetd or the systemd socket instead")
		}
		// Other connections' processes pick passive ports too: share a
		// lock file with them (opened now, before any privilege drop).
		path := d.Server.Config().PortLockPath()
		if f, err := passive.OpenLock(path); err != nil {
			d.Log.Warn("passive ports are not locked across connections; a PASV may fail when two pick the same port", "lock_file", path, "err", err)
		} else {
			defer f.Close()
			d.Server.SetPortLock(f)
		}
	}
	served := make(chan error, 1)
	if mode.Single() {
		go func() {
			d.Server.ServeConn(d.Launch.Conn)
			served <- nil
		}()
	} else {
		go func() { served <- d.Server.Serve(d.Launch.Listener) }()
	}
	cfg := d.Server.Config()
	attrs := []any{"mode", mode.String(), "addr", d.Launch.Addr(), "passive_ports", cfg.Passive.Ports,
		"passive_address", cfg.Passive.Address, "config", configLabel(cfg)}
	if d.Output != nil {
		attrs = append(attrs, "log_output", d.Output.Dest())
	}
	if mode != ModeStandalone {
		attrs = append(attrs, "note", "listen key not used: the socket was passed in")
	}
	if mode.Single() {
		d.Log.Debug("serving one connection", attrs...)
	} else {
		d.Log.Info("serving", attrs...)
	}
	n.ready(d.Server.statusLine())

	every := d.StatusEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	statusTick := time.NewTicker(every)
	defer statusTick.Stop()
	var watchdog <-chan time.Time
	if wd, err := daemon.SdWatchdogEnabled(false); err != nil {
		d.Log.Warn("ignoring the systemd watchdog setting", "err", err)
	} else if wd > 0 {
		t := time.NewTicker(wd / 2)
		defer t.Stop()
		watchdog = t.C
		n.watchdog()
	}

	var (
		stopped  chan struct{} // closed when Shutdown returned
		cancel   context.CancelFunc
		serveErr error
	)
	shutdown := func(why string) {
		if stopped != nil {
			return
		}
		timeout := d.Server.Config().ShutdownTimeout.Duration
		if why != "" {
			d.Log.Info("shutting down", "signal", why, "shutdown_timeout", timeout.String(),
				"sessions", d.Server.Sessions())
		}
		n.stopping("stopping: " + d.Server.statusLine())
		var ctx context.Context
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
		stopped = make(chan struct{})
		go func() {
			d.Server.Shutdown(ctx) //nolint:errcheck // a timeout is logged by Shutdown
			close(stopped)
		}()
	}
	defer func() {
		if cancel != nil {
			cancel()
		}
	}()

	for {
		select {
		case serveErr = <-served:
			served = nil
			if serveErr != nil {
				d.Log.Error("serving failed", "err", serveErr)
			}
			// The single session ended, or the listener is closed: let
			// what runs finish (Shutdown is immediate when nothing does).
			shutdown("")
		case <-stopped:
			stopped = nil
			if served != nil {
				// Shutdown is over but Serve has not returned yet.
				serveErr = <-served
			}
			d.Log.Debug("stopped")
			if !mode.Single() {
				d.Log.Info("stopped")
			}
			return serveErr
		case sig := <-sigs:
			switch {
			case sig == syscall.SIGHUP:
				d.reload(n)
			case stopped != nil || served == nil:
				// A second SIGTERM: stop waiting for transfers.
				d.Log.Warn("second signal: closing every session now", "signal", sig.String())
				cancel()
			default:
				shutdown(sig.String())
			}
		case <-statusTick.C:
			if stopped == nil {
				n.status(d.Server.statusLine())
			}
		case <-watchdog:
			n.watchdog()
		}
	}
}

// reload re-reads the config file for new sessions. An invalid file is
// logged, error by error, and the config in force stays.
func (d *Daemon) reload(n *notifier) {
	if d.Launch.Mode.Single() {
		d.Log.Info("SIGHUP: this process serves one session, which keeps its config; the next connection reads the file anew")
		return
	}
	old := d.Server.Config()
	path := old.File
	if path == "" {
		d.Log.Info("SIGHUP ignored: running on the built-in config, there is no file to reload")
		return
	}
	n.reloading()
	defer func() { n.ready(d.Server.statusLine()) }()

	cfg, err := config.Load(path)
	var commit, discard func()
	if err == nil && d.Output != nil {
		commit, discard, err = d.Output.Prepare(cfg)
	}
	if err == nil {
		if err = d.Server.Reload(cfg); err != nil && discard != nil {
			discard()
		}
	}
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				d.Log.Error("reload: config error", "err", e.Error())
			}
		}
		d.Log.Error("reload failed, keeping the current config", "config", path, "err", err.Error())
		return
	}
	if commit != nil {
		commit()
	}
	if d.Launch.Mode == ModeStandalone && cfg.Listen != old.Listen {
		d.Log.Warn("listen changed: the daemon keeps listening on the old address until restarted",
			"listening", d.Launch.Addr(), "listen", cfg.Listen)
	}
	d.Log.Info("config reloaded for new sessions", "config", path, "passive_ports", cfg.Passive.Ports,
		"users", len(cfg.Users))
}

func configLabel(cfg *config.Config) string {
	if cfg.File == "" {
		return "built-in config"
	}
	return cfg.File
}

// recoverSession turns a panic in a session's goroutine into a log line and
// the end of that session: the other sessions keep running, and nothing of
// the panic reaches the client. ServeConn defers it.
func recoverSession(log *slog.Logger, c net.Conn) {
	if r := recover(); r != nil {
		log.Error("session crashed (a bug: please report it)", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		c.Close()
	}
}
