// Command tunnelftpd is an FTP daemon made for FTP over SSH port forwarding.
//
// Usage:
//
//	tunnelftpd serve [-c FILE] [--inetd]  run the daemon in the foreground
//	tunnelftpd check [-c FILE] [-q]       validate the config and print the effective one
//	tunnelftpd passwd                     read a password, print a hash for the config
//	tunnelftpd tunnel [-c FILE] --host [user@]server [--format F] [--local-port N]
//	                                      print the SSH setup that forwards every port
//	tunnelftpd version                    print the version
//
// The package holds the flags, the subcommands and the serve sequence (a
// list of calls into server/config, server/launch, server/logging,
// server/daemon and server), the demo banner, and the config → tunnel.Spec
// adapter. It must not hold policy, parse FTP, or touch sockets beyond
// handing them on.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/etc"
	"github.com/tunnelftpd/tunnelftpd/server"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/daemon"
	"github.com/tunnelftpd/tunnelftpd/server/launch"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

const usage = `tunnelftpd: an FTP daemon for FTP over SSH port forwarding

Usage:
  tunnelftpd serve [-c FILE] [--inetd]
                                run the daemon in the foreground; with --inetd,
                                serve the socket on standard input (inetd, xinetd);
                                sockets passed by systemd (LISTEN_FDS) are used
  tunnelftpd check [-c FILE] [-q] [--sample]
                                validate the config, print the effective config
                                (-q: print only errors; --sample: print the
                                documented sample config)
  tunnelftpd passwd             read a password, print its hash for the config
  tunnelftpd tunnel [-c FILE] --host [user@]server [--format ssh|ssh-config|sshd-match|putty] [--local-port N]
                                print the SSH client command (or config) that forwards
                                the control port and every passive port
  tunnelftpd version            print the version, the Go version and whether PAM is built in
  tunnelftpd COMMAND -h         the usage of one command

Without -c, the config is ` + config.DefaultConfigPath + `; if that file does not
exist, serve runs on a built-in demo config.

Exit codes: 0 success (check: the config is valid), 1 failure (an invalid
config, or an error at run time), 2 bad command line.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit code.
func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "passwd":
		return cmdPasswd(args[1:], stdin, stdout, stderr)
	case "tunnel":
		return cmdTunnel(args[1:], stdout, stderr)
	case "version", "--version", "-v", "-version":
		printVersion(stdout)
		return exitOK
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "tunnelftpd: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
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

// configFlags parses the flags shared by serve and check (-c, and a
// subcommand's own added by extra). done says the caller returns code now
// (after -h, or a bad command line).
func configFlags(sc *subcommand, args []string, extra func(*flag.FlagSet)) (path string, explicit bool, code int, done bool) {
	sc.StringVar(&path, "c", "", "config file (default "+config.DefaultConfigPath+")")
	if extra != nil {
		extra(sc.FlagSet)
	}
	if code, done := sc.parse(args); done {
		return "", false, code, true
	}
	if sc.NArg() > 0 {
		return "", false, sc.usageError("unexpected argument %q", sc.Arg(0)), true
	}
	if path != "" {
		return path, true, exitOK, false
	}
	return config.DefaultConfigPath, false, exitOK, false
}

// loadConfig loads path; when it was not given explicitly and does not exist,
// it returns (nil, nil) so that the caller can fall back to the built-in one.
func loadConfig(path string, explicit bool) (*config.Config, error) {
	if _, err := os.Stat(path); !explicit && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return config.Load(path)
}

const checkUsage = `Usage: tunnelftpd check [-c FILE] [-q] [--as USER] [--sample]

Validates the config: every problem is printed as FILE:LINE: key: problem,
with the fix. Then checks what it can of the running system, as the account
the daemon will run as (--as, else run_as when run by root, else the current
user): the passive range against the control port, the users' roots and the
log files usable by that account, a privileged port, ports other programs
hold (warnings). A valid config is printed in full, with every default
filled in and password hashes hidden. Exit code 0: valid (warnings
allowed); 1: invalid, or it would fail at run time; 2: bad command line.

Flags:
`

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	var quiet, sample bool
	var as string
	sc := newSubcommand("check", checkUsage, stdout, stderr)
	path, explicit, code, done := configFlags(sc, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&quiet, "q", false, "print nothing when the config is valid (for ExecStartPre=)")
		fs.StringVar(&as, "as", "", "check roots, logs and ports as this account (default: run_as when run as root, else the current user)")
		fs.BoolVar(&sample, "sample", false, "print the sample config, every key documented with its default, and exit")
	})
	if done {
		return code
	}
	if sample {
		stdout.Write(etc.SampleConfig)
		return exitOK
	}
	cfg, err := loadConfig(path, explicit)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cfg == nil {
		fmt.Fprintf(stderr, "%s does not exist: serve would run on the built-in demo config\n", path)
		cfg, _, err = config.Builtin("tunnelftpd-data")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	if !runtimeChecks(cfg, as, quiet, stderr) {
		return exitFailure
	}
	if quiet {
		return 0
	}
	out, err := cfg.WriteTOML()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprint(stdout, out)
	return 0
}

const serveUsage = `Usage: tunnelftpd serve [-c FILE] [--inetd]

Runs the daemon in the foreground. It listens on the config's listen
address, or serves the sockets systemd passes (LISTEN_FDS), or with --inetd
the socket on standard input (inetd, xinetd). SIGHUP reloads the config,
SIGTERM/SIGINT drain and stop. Without a config file at the default path it
runs on a built-in demo config (standalone only). Exit code 0: stopped
cleanly; 1: could not start, or failed; 2: bad command line.

Flags:
`

func cmdServe(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == daemon.ChildArg {
		// A per-session process started by the daemon (system users).
		if err := daemon.RunSessionChild(stderr); err != nil {
			fmt.Fprintln(stderr, "tunnelftpd session:", err)
			return 1
		}
		return 0
	}
	// With --inetd, fds 0/1/2 are the client's socket: take it over before
	// anything (a flag error, a config error) could be printed into it.
	var inetdSock *os.File
	if wantsInetd(args) {
		sock, err := launch.TakeInetdSocket()
		if err != nil {
			fmt.Fprintln(stderr, "tunnelftpd serve:", err)
			return 2
		}
		inetdSock = sock
		stdout, stderr = io.Discard, logging.InetdErrorWriter()
	}
	var inetd bool
	sc := newSubcommand("serve", serveUsage, stdout, stderr)
	path, explicit, code, stop := configFlags(sc, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&inetd, "inetd", false, "serve the connection (or listening socket) on standard input, as inetd/xinetd start it")
	})
	if !stop && inetd != (inetdSock != nil) {
		code, stop = sc.usageError("--inetd must be given as a flag of its own"), true
	}
	if stop {
		if inetdSock != nil {
			inetdSock.Close()
		}
		return code
	}
	from, err := launch.Find(inetdSock)
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd serve:", err)
		return 1
	}
	// fail reports a startup failure; a single waiting client gets a 421.
	fail := func(msg string) int {
		fmt.Fprintln(stderr, msg)
		from.Refuse("Service not available: the server cannot start (see its log)")
		return 1
	}

	cfg, err := loadConfig(path, explicit)
	if err != nil {
		return fail(err.Error())
	}
	if cfg == nil {
		if from.Mode != launch.ModeStandalone {
			return fail(fmt.Sprintf("tunnelftpd serve: no config file at %s: the built-in demo config is for standalone runs only, %s mode needs a config file (or -c FILE)", path, from.Mode))
		}
		var password string
		cfg, password, err = config.Builtin("tunnelftpd-data")
		if err != nil {
			return fail("tunnelftpd: " + err.Error())
		}
		_, port := forwardTarget(cfg)
		fmt.Fprintf(stdout, `No config file at %s: running on the built-in demo config.
  user:     %s
  password: %s
  root:     %s
  control:  %s, passive ports %s advertised as %s
Client side, forward the control port and every passive port through SSH:
  %s
then connect an FTP client to localhost port %s in passive mode, e.g.
  curl --user %s:%s ftp://localhost:%s/
`, config.DefaultConfigPath, config.DemoUser, password, cfg.Users[0].Root, cfg.Listen,
			cfg.Passive.Ports, cfg.Passive.Address, sshCommand(cfg, "you@this-server", mustAtoi(port)),
			port, config.DemoUser, password, port)
	}

	out, log, err := logging.New(cfg, from.Mode.StdioIsClient(), stderr)
	if err != nil {
		return fail("tunnelftpd: " + err.Error())
	}
	defer out.Close()
	opts, done, err := daemon.ServerOptions(cfg, from.Mode, log)
	if err != nil {
		log.Error("cannot start", "err", err.Error())
		return fail("tunnelftpd: " + err.Error())
	}
	defer done()
	srv, err := server.New(cfg, opts)
	if err != nil {
		log.Error("cannot start", "err", err.Error())
		return fail("tunnelftpd: " + err.Error())
	}
	if err := from.Listen(cfg); err != nil {
		log.Error("cannot start", "err", err.Error())
		return fail("tunnelftpd: " + err.Error())
	}
	if err := daemon.DropPrivileges(cfg, from.Mode, log); err != nil {
		log.Error("cannot start", "err", err.Error())
		return fail("tunnelftpd: " + err.Error())
	}
	d := &daemon.Daemon{Server: srv, Launch: from, Log: log, Output: out}
	if err := d.Run(); err != nil {
		return 1
	}
	return 0
}

// wantsInetd reports whether the serve arguments hold --inetd (or -inetd),
// before they are parsed: parsing may print, and with --inetd standard error
// is the client's socket.
func wantsInetd(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "inetd" {
			continue
		}
		if !hasVal {
			return true
		}
		b, err := strconv.ParseBool(val)
		return err == nil && b
	}
	return false
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

const passwdUsage = `Usage: tunnelftpd passwd

Reads a password, from the terminal without echo (asked twice) or as one
line of standard input, and prints its bcrypt hash for a [[users]] entry's
password key. Exit code 0: hash printed; 1: no password read; 2: bad
command line.
`

// cmdPasswd reads a password, from the terminal without echo (asked twice) or
// as one line of standard input, and prints its bcrypt hash.
func cmdPasswd(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	sc := newSubcommand("passwd", passwdUsage, stdout, stderr)
	if code, done := sc.parse(args); done {
		return code
	}
	if sc.NArg() > 0 {
		return sc.usageError("unexpected argument %q", sc.Arg(0))
	}
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
