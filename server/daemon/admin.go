package daemon

import (
	"log/slog"
	"time"

	"github.com/tunnelftpd/tunnelftpd/metrics"
	"github.com/tunnelftpd/tunnelftpd/registry"
	"github.com/tunnelftpd/tunnelftpd/server"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
	"github.com/tunnelftpd/tunnelftpd/shutdownfile"
)

// adminFiles are what a process opens for the admin tools before it drops privileges: the
// session registry and the shared counters (registry_dir), the wtmp file (log.wtmp) and, in a
// process that listens, the metrics endpoint ([metrics] listen).
type adminFiles struct {
	reg      *registry.Registry
	counters *registry.Counters
	wtmp     *logging.Wtmp
	metrics  *metrics.Server
}

// openAdmin opens them for cfg; each failure is a warning, never a reason not to serve. With
// sessions false the process runs no session itself (its sessions are handed off to processes
// that register themselves): it counts refusals and may serve the metrics, but registers no
// session and writes no wtmp record. listen says whether to open the metrics endpoint.
func openAdmin(cfg *config.Config, log *slog.Logger, sessions, listen bool) *adminFiles {
	a := &adminFiles{}
	dir := cfg.RegistryPath()
	var err error
	if a.reg, err = registry.Open(dir); err != nil {
		log.Warn("no session registry: tunnelftpd who, count and metrics will not see this process's sessions or events", "registry_dir", dir, "err", err)
	} else if a.counters, err = registry.OpenCounters(dir); err != nil {
		log.Warn("no shared counters: the metrics will not count this process's events", "registry_dir", dir, "err", err)
	}
	if sessions && cfg.Log.Wtmp {
		if a.wtmp, err = logging.OpenWtmp(logging.DefaultWtmp); err != nil {
			log.Warn("log.wtmp: no login records", "err", err)
		}
	}
	if listen && cfg.Metrics.Listen != "" {
		a.serveMetrics(cfg, log)
	}
	return a
}

// serveMetrics starts the metrics endpoint; the figures come from this process's own
// descriptions of the registry files, which stay readable after a privilege drop.
func (a *adminFiles) serveMetrics(cfg *config.Config, log *slog.Logger) {
	l, err := metrics.Listen(cfg.Metrics.Listen)
	if err != nil {
		log.Warn("no metrics endpoint", "err", err)
		return
	}
	src := metrics.Source{Dir: cfg.RegistryPath(), PassivePorts: cfg.Passive.Last - cfg.Passive.First + 1, Classes: MetricsClasses(cfg)}
	shutmsg := cfg.ShutdownPath()
	src.Shutdown = func() (float64, bool) {
		f, err := shutdownfile.Read(shutmsg, time.Local)
		if err != nil {
			return 0, false
		}
		return float64(f.At.Unix()), true
	}
	if a.reg != nil {
		src.Sessions = a.reg.List
	}
	if a.counters != nil {
		c := a.counters
		src.Counters = func() ([]registry.Sample, error) { return c.Snapshot(), nil }
	}
	if a.metrics, err = metrics.Serve(l, src, log); err != nil {
		l.Close()
		log.Warn("no metrics endpoint", "err", err)
		return
	}
	log.Info("metrics endpoint listening", "listen", cfg.Metrics.Listen, "path", "/metrics")
}

// apply puts them into the server's options.
func (a *adminFiles) apply(opts *server.Options, sessions bool) {
	if sessions {
		opts.Registry = a.reg
	}
	if a.counters != nil {
		opts.Metrics = metrics.NewRecorder(a.counters)
	}
	if a.wtmp != nil {
		opts.Wtmp = a.wtmp
	}
}

// close stops the endpoint and closes the files.
func (a *adminFiles) close() {
	if a.metrics != nil {
		a.metrics.Close() //nolint:errcheck // stopping anyway
	}
	if a.reg != nil {
		a.reg.Close()
	}
	if a.counters != nil {
		a.counters.Close()
	}
	if a.wtmp != nil {
		a.wtmp.Close()
	}
}

// MetricsClasses are cfg's session classes with their limits, for the
// metrics (a refusal list, a class that holds no sessions, is left out).
func MetricsClasses(cfg *config.Config) []metrics.Class {
	var out []metrics.Class
	for _, c := range cfg.Classes {
		if c.MaxSessions == 0 && len(c.Who) == 0 && len(c.Clients) == 0 && len(c.SSHUsers) == 0 {
			continue
		}
		out = append(out, metrics.Class{Name: c.Name, MaxSessions: c.MaxSessions})
	}
	return out
}
