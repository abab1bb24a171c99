// Command tunnelftpd is an FTP daemon made for FTP over SSH port forwarding.
//
// Usage:
//
//	tunnelftpd serve [-c FILE] [--inetd]  run the daemon in the foreground
//	tunnelftpd check [-c FILE] [-q]       validate the config and print the effective one
//	tunnelftpd passwd             read a password, print a hash for the config
//	tunnelftpd version            print the version
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
	"github.com/tunnelftpd/tunnelftpd/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

const usage = `tunnelftpd: an FTP daemon for FTP over SSH port forwarding

Usage:
  tunnelftpd serve [-c FILE] [--inetd]
                                run the daemon in the foreground; with --inetd,
                                serve the socket on standard input (inetd, xinetd);
                                sockets passed by systemd (LISTEN_FDS) are used
  tunnelftpd check [-c FILE] [-q]
                                validate the config, print the effective config
                                (-q: print only errors)
  tunnelftpd passwd             read a password, print its hash for the config
  tunnelftpd tunnel [-c FILE] --host [user@]server [--format ssh|ssh-config|sshd-match|putty] [--local-port N]
                                print the SSH client command (or config) that forwards
                                the control port and every passive port
  tunnelftpd ident-helper [--socket PATH]
                                answer the daemon's "who is behind this loopback
                                connection" with the privilege that takes
                                (tunnelftpd-ident.service; see SECURITY.md)
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
	case "ident-helper":
		return cmdIdentHelper(args[1:], stderr)
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

// configFlags parses the flags shared by serve and check; extra, if not
// nil, adds a subcommand's own.
func configFlags(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (path string, explicit bool, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&path, "c", "", "config file (default "+server.DefaultConfigPath+")")
	if extra != nil {
		extra(fs)
	}
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
	var quiet bool
	path, explicit, err := configFlags("check", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&quiet, "q", false, "print nothing when the config is valid (for ExecStartPre=)")
	})
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

func cmdServe(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == server.ChildArg {
		// A per-session process started by the daemon (system users).
		if err := server.RunSessionChild(stderr); err != nil {
			fmt.Fprintln(stderr, "tunnelftpd session:", err)
			return 1
		}
		return 0
	}
	// With --inetd, fds 0/1/2 are the client's socket: take it over before
	// anything (a flag error, a config error) could be printed into it.
	var inetdSock *os.File
	if wantsInetd(args) {
		sock, err := server.TakeInetdSocket()
		if err != nil {
			fmt.Fprintln(stderr, "tunnelftpd serve:", err)
			return 2
		}
		inetdSock = sock
		stdout, stderr = io.Discard, server.InetdErrorWriter()
	}
	var inetd bool
	path, explicit, err := configFlags("serve", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&inetd, "inetd", false, "serve the connection (or listening socket) on standard input, as inetd/xinetd start it")
	})
	if err == nil && inetd != (inetdSock != nil) {
		err = errors.New("--inetd must be given as a flag of its own")
	}
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd serve:", err)
		if inetdSock != nil {
			inetdSock.Close()
		}
		return 2
	}
	launch, err := server.FindLaunch(inetdSock)
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd serve:", err)
		return 1
	}
	// fail reports a startup failure; a single waiting client gets a 421.
	fail := func(msg string) int {
		fmt.Fprintln(stderr, msg)
		launch.Refuse("Service not available: the server cannot start (see its log)")
		return 1
	}

	cfg, err := loadConfig(path, explicit)
	if err != nil {
		return fail(err.Error())
	}
	if cfg == nil {
		if launch.Mode != server.ModeStandalone {
			return fail(fmt.Sprintf("tunnelftpd serve: no config file at %s: the built-in demo config is for standalone runs only, %s mode needs a config file (or -c FILE)", path, launch.Mode))
		}
		var password string
		cfg, password, err = server.BuiltinConfig("tunnelftpd-data")
		if err != nil {
			return fail("tunnelftpd: " + err.Error())
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

	out, log, err := server.NewLogOutput(cfg, launch.Mode.StdioIsClient(), stderr)
	if err != nil {
		return fail("tunnelftpd: " + err.Error())
	}
	defer out.Close()
	srv, err := server.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err.Error())
		return fail("tunnelftpd: " + err.Error())
	}
	if cfg.Auth.SystemUsers && !launch.Mode.Single() {
		// System users: each session gets a process of its own, which
		// becomes the user after login.
		if err := srv.SpawnSessions("/proc/self/exe", launch.Mode.StdioIsClient()); err != nil {
			log.Error("cannot start", "err", err.Error())
			return fail("tunnelftpd: " + err.Error())
		}
	}
	if err := launch.Listen(cfg); err != nil {
		log.Error("cannot start", "err", err.Error())
		return fail("tunnelftpd: " + err.Error())
	}
	if err := server.DropPrivileges(cfg, launch.Mode, log); err != nil {
		log.Error("cannot start", "err", err.Error())
		return fail("tunnelftpd: " + err.Error())
	}
	d := &server.Daemon{Server: srv, Launch: launch, Log: log, Output: out}
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
