package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/tunnel"
)

const tunnelUsage = `Usage: tunnelftpd tunnel [-c FILE] --host [user@]server [--format FORMAT] [--local-port N]

Prints, from the server's config, the SSH setup that forwards the control
port and every passive port. FORMAT is one of:
  ssh          the OpenSSH client command (default)
  ssh-config   a Host block for the client's ~/.ssh/config
  sshd-match   the server's sshd_config Match block allowing exactly these forwards
  putty        a plink command line, and the PuTTY GUI settings

Flags:
`

// cmdTunnel prints the client-side (or sshd-side) SSH setup for the server's config.
func cmdTunnel(args []string, stdout, stderr io.Writer) int {
	sc := newSubcommand("tunnel", tunnelUsage, stdout, stderr)
	fs := sc.FlagSet
	path := fs.String("c", "", "config file (default "+config.DefaultConfigPath+")")
	host := fs.String("host", "", "the SSH server as the client names it: [user@]server (required)")
	format := fs.String("format", "ssh", "output format: "+strings.Join(tunnel.Formats, ", "))
	localPort := fs.Int("local-port", 0, "the client's local control port (default: the server's control port, or 2121 if that is below 1024)")
	if code, done := sc.parse(args); done {
		return code
	}
	usageErr := sc.usageError
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *host == "":
		return usageErr("--host is required: the SSH server as the client names it, [user@]server")
	case !slices.Contains(tunnel.Formats, *format):
		return usageErr("unknown --format %q; use one of %s", *format, strings.Join(tunnel.Formats, ", "))
	case isSet(fs, "local-port") && (*localPort < 1 || *localPort > 65535):
		return usageErr("--local-port %d must be a port from 1 to 65535", *localPort)
	}
	if _, _, err := tunnel.SplitHost(*host); err != nil {
		return usageErr("--host: %v", err)
	}

	explicit := *path != ""
	if !explicit {
		*path = config.DefaultConfigPath
	}
	cfg, err := loadConfig(*path, explicit)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cfg == nil {
		cfg = config.Default()
		fmt.Fprintf(stderr, "%s does not exist: using the built-in defaults (listen %s, passive ports %s)\n",
			*path, cfg.Listen, cfg.Passive.Ports)
	}

	out, err := tunnel.Generate(*format, tunnelSpec(cfg, *host, *localPort))
	if err != nil {
		// The flags were checked above; what is left is a clash between them
		// and the config (the local port inside the passive range).
		return usageErr("%v", err)
	}
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	fmt.Fprint(stdout, out)
	return 0
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// tunnelSpec is the input of package tunnel's generators for cfg: its listen
// address and passive range, the client's name for the SSH server ("[user@]
// server") and the client's control port (0 for tunnel.DefaultLocalPort).
func tunnelSpec(cfg *config.Config, host string, localPort int) tunnel.Spec {
	return tunnel.Spec{
		Listen:       cfg.Listen,
		PassiveFirst: cfg.Passive.First,
		PassiveLast:  cfg.Passive.Last,
		Host:         host,
		LocalPort:    localPort,
	}
}

// sshCommand is the client-side command that forwards the control port and
// every passive port of cfg (a validated config) to host; localPort is the
// client's control port. It is package tunnel's SSHCommand; should host be
// unusable, the returned line says why instead.
func sshCommand(cfg *config.Config, host string, localPort int) string {
	line, err := tunnel.SSHCommand(tunnelSpec(cfg, host, localPort))
	if err != nil {
		return "(no ssh command: " + err.Error() + ")"
	}
	return line
}

// forwardTarget is the host (as ssh -L writes it) and port that sshd must
// forward to on the server: the listen address, or 127.0.0.1 when the daemon
// listens on every address. See tunnel.Target.
func forwardTarget(cfg *config.Config) (host, port string) {
	host, p, err := tunnel.Target(cfg.Listen)
	if err != nil {
		_, port, _ = net.SplitHostPort(cfg.Listen)
		return "127.0.0.1", port
	}
	return host, strconv.Itoa(p)
}
