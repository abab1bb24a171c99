// Command tunnelftpd is an FTP daemon made for FTP over SSH port forwarding.
//
// Usage:
//
//	tunnelftpd serve [-c FILE]    run the daemon in the foreground
//	tunnelftpd check [-c FILE]    validate the config and print the effective one
//	tunnelftpd passwd             read a password, print a hash for the config
//	tunnelftpd version            print the version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

const usage = `tunnelftpd: an FTP daemon for FTP over SSH port forwarding

Usage:
  tunnelftpd serve [-c FILE]    run the daemon in the foreground
  tunnelftpd check [-c FILE]    validate the config, print the effective config
  tunnelftpd passwd             read a password, print its hash for the config
  tunnelftpd tunnel [-c FILE] --host [user@]server [--format ssh|ssh-config|sshd-match|putty] [--local-port N]
                                print the SSH client command (or config) that forwards
                                the control port and every passive port
  tunnelftpd version            print the version

Without -c, the config is ` + server.DefaultConfigPath + `; if that file does not
exist, serve runs on a built-in demo config (see README.md).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit code.
func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "passwd":
		return cmdPasswd(stdin, stdout, stderr)
	case "tunnel":
		return cmdTunnel(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "tunnelftpd", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tunnelftpd: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// configFlags parses the flags shared by serve and check.
func configFlags(name string, args []string, stderr io.Writer) (path string, explicit bool, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&path, "c", "", "config file (default "+server.DefaultConfigPath+")")
	if err := fs.Parse(args); err != nil {
		return "", false, err
	}
	if fs.NArg() > 0 {
		return "", false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if path != "" {
		return path, true, nil
	}
	return server.DefaultConfigPath, false, nil
}

// loadConfig loads path; when it was not given explicitly and does not exist,
// it returns (nil, nil) so that the caller can fall back to the built-in one.
func loadConfig(path string, explicit bool) (*server.Config, error) {
	if _, err := os.Stat(path); !explicit && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return server.LoadConfig(path)
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	path, explicit, err := configFlags("check", args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd check:", err)
		return 2
	}
	cfg, err := loadConfig(path, explicit)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cfg == nil {
		fmt.Fprintf(stderr, "%s does not exist: serve would run on the built-in demo config\n", path)
		cfg, _, err = server.BuiltinConfig("tunnelftpd-data")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	out, err := cfg.WriteTOML()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprint(stdout, out)
	return 0
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	path, explicit, err := configFlags("serve", args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd serve:", err)
		return 2
	}
	cfg, err := loadConfig(path, explicit)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cfg == nil {
		var password string
		cfg, password, err = server.BuiltinConfig("tunnelftpd-data")
		if err != nil {
			fmt.Fprintln(stderr, "tunnelftpd:", err)
			return 1
		}
		_, port := server.ForwardTarget(cfg)
		fmt.Fprintf(stdout, `No config file at %s: running on the built-in demo config.
  user:     %s
  password: %s
  root:     %s
  control:  %s, passive ports %s advertised as %s
Client side, forward the control port and every passive port through SSH:
  %s
then connect an FTP client to localhost port %s in passive mode, e.g.
  curl --user %s:%s ftp://localhost:%s/
`, server.DefaultConfigPath, server.DemoUser, password, cfg.Users[0].Root, cfg.Listen,
			cfg.Passive.Ports, cfg.Passive.Address, server.SSHCommand(cfg, "you@this-server", mustAtoi(port)),
			port, server.DemoUser, password, port)
	}

	log := server.NewLogger(cfg, stderr)
	srv, err := server.New(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd:", err)
		return 1
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "tunnelftpd: cannot listen on %s (key listen in %s): %v\n", cfg.Listen, configName(cfg), err)
		return 1
	}
	log.Info("serving", "listen", l.Addr().String(), "passive_ports", cfg.Passive.Ports,
		"passive_address", cfg.Passive.Address, "config", configName(cfg))

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	for {
		select {
		case err := <-served:
			if err != nil {
				log.Error("stopped", "err", err)
				return 1
			}
			return 0
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(srv, cfg.File, log)
				continue
			}
			log.Info("shutting down", "signal", sig.String(), "shutdown_timeout", srv.Config().ShutdownTimeout.String())
			ctx, cancel := context.WithTimeout(context.Background(), srv.Config().ShutdownTimeout.Duration)
			srv.Shutdown(ctx) //nolint:errcheck // a timeout is logged by Shutdown
			cancel()
			<-served
			log.Info("stopped")
			return 0
		}
	}
}

// reload re-reads the config file for new sessions; a bad file keeps the old config.
func reload(srv *server.Server, path string, log interface {
	Info(string, ...any)
	Error(string, ...any)
}) {
	if path == "" {
		log.Info("SIGHUP ignored: running on the built-in config, there is no file to reload")
		return
	}
	cfg, err := server.LoadConfig(path)
	if err == nil {
		err = srv.Reload(cfg)
	}
	if err != nil {
		log.Error("reload failed, keeping the current config", "config", path, "err", err.Error())
		return
	}
	log.Info("config reloaded for new sessions", "config", path)
}

func configName(cfg *server.Config) string {
	if cfg.File == "" {
		return "built-in config"
	}
	return cfg.File
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// cmdPasswd reads a password, from the terminal without echo (asked twice) or
// as one line of standard input, and prints its bcrypt hash.
func cmdPasswd(stdin *os.File, stdout, stderr io.Writer) int {
	var password string
	if fd := int(stdin.Fd()); term.IsTerminal(fd) {
		fmt.Fprint(stderr, "Password: ")
		p1, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			fmt.Fprintln(stderr, "tunnelftpd passwd:", err)
			return 1
		}
		fmt.Fprint(stderr, "Again: ")
		p2, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			fmt.Fprintln(stderr, "tunnelftpd passwd:", err)
			return 1
		}
		if string(p1) != string(p2) {
			fmt.Fprintln(stderr, "tunnelftpd passwd: the passwords differ")
			return 1
		}
		password = string(p1)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			fmt.Fprintln(stderr, "tunnelftpd passwd: reading a password from standard input:", err)
			return 1
		}
		password = strings.TrimRight(line, "\r\n")
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd passwd:", err)
		return 1
	}
	fmt.Fprintln(stdout, hash)
	return 0
}
