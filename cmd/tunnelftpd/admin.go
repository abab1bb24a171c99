package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tunnelftpd/tunnelftpd/metrics"
	"github.com/tunnelftpd/tunnelftpd/registry"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/daemon"
)

// The admin tools (who, count, shutdown, metrics) share this: a -c flag and the config they
// read the registry directory, the shutdown file, the classes and the passive range from.

// clock is the admin tools' time (tests set it).
var clock = time.Now

// adminCommand makes the subcommand of an admin tool, with its -c flag.
func adminCommand(name, usage string, stdout, stderr io.Writer) (*subcommand, *string) {
	sc := newSubcommand(name, usage, stdout, stderr)
	path := sc.String("c", "", "config file (default "+config.DefaultConfigPath+")")
	return sc, path
}

// adminSetup parses an admin tool's command line (no arguments besides the
// flags) and loads its config. done says the caller returns code now.
func adminSetup(sc *subcommand, path *string, args []string) (cfg *config.Config, code int, done bool) {
	if code, done := sc.parse(args); done {
		return nil, code, true
	}
	if sc.NArg() > 0 {
		return nil, sc.usageError("unexpected argument %q", sc.Arg(0)), true
	}
	cfg, err := adminConfig(*path)
	if err != nil {
		fmt.Fprintln(sc.stderr, err)
		return nil, exitFailure, true
	}
	return cfg, exitOK, false
}

// adminEntries is adminSetup, then the registry's live sessions.
func adminEntries(sc *subcommand, path *string, args []string) (cfg *config.Config, entries []registry.Entry, code int, done bool) {
	cfg, code, done = adminSetup(sc, path, args)
	if done {
		return nil, nil, code, true
	}
	entries, err := registry.ReadDir(cfg.RegistryPath())
	if err != nil {
		fmt.Fprintf(sc.stderr, "tunnelftpd %s: %v\n", sc.name, err)
		return nil, nil, exitFailure, true
	}
	return cfg, entries, exitOK, false
}

// adminConfig loads the config an admin tool works on: the file given with -c, else the
// default file, else (when that does not exist) the defaults, which name the default registry
// directory and shutdown file.
func adminConfig(path string) (*config.Config, error) {
	explicit := path != ""
	if !explicit {
		path = config.DefaultConfigPath
	}
	cfg, err := loadConfig(path, explicit)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return config.Default(), nil
	}
	return cfg, nil
}

// metricsSource is what the metrics of cfg's registry are read from.
func metricsSource(cfg *config.Config) metrics.Source {
	path := cfg.ShutdownPath()
	return metrics.Source{
		Dir:          cfg.RegistryPath(),
		PassivePorts: cfg.Passive.Last - cfg.Passive.First + 1,
		Classes:      daemon.MetricsClasses(cfg),
		Shutdown: func() (float64, bool) {
			f, err := readShutdown(path)
			if err != nil || f == nil {
				return 0, false
			}
			return float64(f.At.Unix()), true
		},
	}
}

// writeFileAtomic replaces path with data (a temporary file in the same directory, then
// rename), so that a reader such as node_exporter never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir, base := ".", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, base = path[:max(i, 1)], path[i+1:]
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
