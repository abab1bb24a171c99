package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tunnelftpd/tunnelftpd/metrics"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// The admin tools (who, count, shutdown, metrics) share this: a -c flag, usage on -h/--help
// (standard output, exit 0), and the config they read the registry directory, the shutdown
// file, the classes and the passive range from.

// clock is the admin tools' time (tests set it).
var clock = time.Now

// adminFlags makes the flag set of an admin tool; usage is printed on -h/--help.
func adminFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	path := fs.String("c", "", "config file (default "+config.DefaultConfigPath+")")
	return fs, path
}

// parseAdmin parses args; done reports that the tool must return code now (help printed, or a
// usage error reported).
func parseAdmin(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (done bool, code int) {
	if err := fs.Parse(args); err != nil {
		return true, parseFailed(fs, err, usage, stdout, stderr)
	}
	return false, 0
}

// parseFailed answers a flag parsing error: the usage on standard output for -h/--help (exit
// 0), else a hint after the flag package's message (exit 2).
func parseFailed(fs *flag.FlagSet, err error, usage string, stdout, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "Run 'tunnelftpd %s -h' for usage.\n", fs.Name())
	return 2
}

// usageError reports a wrong argument of an admin tool; its exit code is 2.
func usageError(stderr io.Writer, name, format string, a ...any) int {
	fmt.Fprintf(stderr, "tunnelftpd %s: %s\n", name, fmt.Sprintf(format, a...))
	fmt.Fprintf(stderr, "Run 'tunnelftpd %s -h' for usage.\n", name)
	return 2
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

// configClasses are the [[classes]] of cfg, name and max_sessions, in file order.
func configClasses(cfg *config.Config) []metrics.Class {
	var doc struct {
		Classes []struct {
			Name        string `toml:"name"`
			MaxSessions int    `toml:"max_sessions"`
		} `toml:"classes"`
	}
	if _, err := toml.Decode(string(cfg.Text()), &doc); err != nil {
		return nil // a loaded config has parsed already; nothing to add
	}
	var out []metrics.Class
	for _, c := range doc.Classes {
		out = append(out, metrics.Class{Name: c.Name, MaxSessions: c.MaxSessions})
	}
	return out
}

// metricsSource is what the metrics of cfg's registry are read from.
func metricsSource(cfg *config.Config) metrics.Source {
	path := cfg.ShutdownPath()
	return metrics.Source{
		Dir:          cfg.RegistryPath(),
		PassivePorts: cfg.Passive.Last - cfg.Passive.First + 1,
		Classes:      configClasses(cfg),
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
