// Package daemon is the process around a server.Server: the signal loop
// (SIGHUP reloads the config, keeping the old one if the new one is
// invalid; SIGTERM and SIGINT drain, a second one cuts), sd_notify
// (READY, RELOADING, STOPPING, STATUS, WATCHDOG), the switch to run_as at
// startup, and per-session processes for system users (Spawner, plugged into
// the server as its Handoff, and RunSessionChild, their body).
//
// It must not parse FTP or open user paths: the server and the driver do.
package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/tunnelftpd/tunnelftpd/server"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/launch"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
	"github.com/tunnelftpd/tunnelftpd/server/passive"
)

// Daemon runs a Server on its Launch: it serves the listener or the single
// connection, answers signals (SIGHUP reloads the config, SIGTERM and SIGINT
// drain and stop) and keeps systemd informed (sd_notify). Build the Server
// with the options of ServerOptions.
type Daemon struct {
	Server *server.Server
	Launch *launch.Launch
	Log    *slog.Logger
	// Output is reconfigured on reload with the server; nil leaves logging
	// as it is.
	Output *logging.Output
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
	if mode != launch.ModeStandalone {
		attrs = append(attrs, "note", "listen key not used: the socket was passed in")
	}
	if mode.Single() {
		d.Log.Debug("serving one connection", attrs...)
	} else {
		d.Log.Info("serving", attrs...)
	}
	n.ready(statusLine(d.Server))

	every := d.StatusEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	statusTick := time.NewTicker(every)
	defer statusTick.Stop()
	var watchdog <-chan time.Time
	if wd, err := sd.SdWatchdogEnabled(false); err != nil {
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
		n.stopping("stopping: " + statusLine(d.Server))
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
				n.status(statusLine(d.Server))
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
	defer func() { n.ready(statusLine(d.Server)) }()

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
	if d.Launch.Mode == launch.ModeStandalone && cfg.Listen != old.Listen {
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

// ServerOptions are the server.Options for a process serving mode under
// cfg, logging to log. A process of one session (inetd, Accept=yes) may
// switch to the user after login, and shares a passive-port lock file with
// the other connections' processes (opened now, before any privilege drop);
// with system users, a process of many sessions hands each to a process of
// its own (Spawner). Call done when the server has stopped.
func ServerOptions(cfg *config.Config, mode launch.Mode, log *slog.Logger) (opts server.Options, done func(), err error) {
	opts = server.Options{Log: log}
	done = func() {}
	switch {
	case mode.Single():
		opts.OneSession = true
		if cfg.MaxSessionsPerSSHUser > 0 {
			log.Warn("max_sessions_per_ssh_user is not enforced in per-connection mode (each process serves one session); limit instances in inetd/xinetd or the systemd socket instead")
		}
		path := cfg.PortLockPath()
		if f, err := passive.OpenLock(path); err != nil {
			log.Warn("passive ports are not locked across connections; a PASV may fail when two pick the same port", "lock_file", path, "err", err)
		} else {
			opts.PortLock = f
			done = func() { f.Close() }
		}
	case cfg.Auth.SystemUsers:
		// System users: each session gets a process of its own, which
		// becomes the user after login.
		sp, err := NewSpawner("/proc/self/exe", mode.StdioIsClient())
		if err != nil {
			return server.Options{}, nil, err
		}
		opts.Handoff = sp
		done = sp.Close
	}
	return opts, done, nil
}
