package main

import (
	"io"
	"os"
	"strings"
	"time"

	"github.com/tunnelftpd/tunnelftpd/metrics"
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
