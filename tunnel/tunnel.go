// Package tunnel generates client/server SSH configuration for forwarding the
// control and passive ports; it knows nothing about FTP commands.
//
// Every generator is a pure function of a Spec: the daemon's listen address,
// its passive port range, the SSH server as the client names it and the
// client's local control port. The output is text for an operator to copy
// (or for a test to run), so every name that goes into it is checked against
// a shell-safe character set first.
package tunnel

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Formats are the output formats Generate knows, in the order the usage
// message lists them.
var Formats = []string{"ssh", "ssh-config", "sshd-match", "putty"}

// FallbackLocalPort is the client's control port when the server's is
// privileged (below 1024): binding it on the client would need root there.
const FallbackLocalPort = 2121

// PlaceholderUser is the user named in the sshd Match block when the host
// was given without one; the block says to edit it.
const PlaceholderUser = "ftpuser"

// Spec is what the SSH setup is generated from.
type Spec struct {
	// Listen is the daemon's control address, host:port (the config's listen
	// key). An unspecified host (0.0.0.0, ::, "") is forwarded to 127.0.0.1.
	Listen string
	// PassiveFirst and PassiveLast are the passive port range, inclusive.
	PassiveFirst, PassiveLast int
	// Host is the SSH server as the client names it: "[user@]server".
	Host string
	// LocalPort is the client's local control port; 0 means DefaultLocalPort.
	LocalPort int
}

// plan is a checked Spec, ready to print.
type plan struct {
	target      string // forward target as ssh writes it: IPv6 in brackets
	ctrl        int    // the daemon's control port
	local       int    // the client's control port
	first, last int    // passive range
	user        string // SSH user, "" when not given
	server      string // SSH server name or address, no brackets
}

// Target is the host (as ssh -L writes it) and port that sshd must forward
// to on the server: the listen address, or 127.0.0.1 when the daemon
// listens on every address. IPv6 addresses are returned in brackets.
func Target(listen string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q is not host:port", listen)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("listen address %q: port must be a number from 1 to 65535", listen)
	}
	ip := net.ParseIP(h)
	switch {
	case h == "" || (ip != nil && ip.IsUnspecified()):
		return "127.0.0.1", port, nil
	case ip == nil:
		return "", 0, fmt.Errorf("listen address %q: host must be an IP address", listen)
	case ip.To4() == nil:
		return "[" + ip.String() + "]", port, nil
	}
	return ip.String(), port, nil
}

// DefaultLocalPort is the client's control port when none is chosen: the
// server's own, unless it is privileged, then FallbackLocalPort.
func DefaultLocalPort(ctrl int) int {
	if ctrl >= 1024 {
		return ctrl
	}
	return FallbackLocalPort
}

// SplitHost splits "[user@]server" at its last "@" and checks both parts.
// The server may be a name, an IPv4 address or an IPv6 address (brackets
// optional); user is "" when not given.
func SplitHost(host string) (user, server string, err error) {
	if i := strings.LastIndex(host, "@"); i >= 0 {
		user, server = host[:i], host[i+1:]
		if err := checkName("user", user, "._-@"); err != nil {
			return "", "", err
		}
	} else {
		server = host
	}
	if strings.HasPrefix(server, "[") && strings.HasSuffix(server, "]") {
		server = server[1 : len(server)-1]
		if ip := net.ParseIP(server); ip == nil || ip.To4() != nil {
			return "", "", fmt.Errorf("server %q: only IPv6 addresses go in brackets", host)
		}
	}
	if err := checkName("server", server, ".-_:%"); err != nil {
		return "", "", err
	}
	return user, server, nil
}

// checkName accepts letters, digits and the given punctuation, not leading
// with "-" (which ssh and plink would read as an option).
func checkName(what, s, punct string) error {
	if s == "" {
		return fmt.Errorf("the %s name is empty; write --host [user@]server", what)
	}
	if s[0] == '-' {
		return fmt.Errorf("%s %q must not start with \"-\"", what, s)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(punct, r)
		if !ok {
			return fmt.Errorf("%s %q: character %q is not allowed (letters, digits and %q only)", what, s, r, punct)
		}
	}
	return nil
}

// resolve checks s and works out every value the generators print.
func (s Spec) resolve() (plan, error) {
	var p plan
	var err error
	if p.target, p.ctrl, err = Target(s.Listen); err != nil {
		return plan{}, err
	}
	if s.PassiveFirst < 1 || s.PassiveLast > 65535 || s.PassiveFirst > s.PassiveLast {
		return plan{}, fmt.Errorf("passive range %d-%d is not a port range", s.PassiveFirst, s.PassiveLast)
	}
	p.first, p.last = s.PassiveFirst, s.PassiveLast
	if p.user, p.server, err = SplitHost(s.Host); err != nil {
		return plan{}, err
	}
	p.local = s.LocalPort
	if p.local == 0 {
		p.local = DefaultLocalPort(p.ctrl)
	}
	if p.local < 1 || p.local > 65535 {
		return plan{}, fmt.Errorf("local port %d must be from 1 to 65535", p.local)
	}
	if p.local >= p.first && p.local <= p.last {
		return plan{}, fmt.Errorf("local control port %d is one of the passive ports %d-%d, which the client must forward as themselves; choose another with --local-port", p.local, p.first, p.last)
	}
	return p, nil
}

// destination is the SSH destination as given: user@server or server.
func (p plan) destination() string {
	if p.user == "" {
		return p.server
	}
	return p.user + "@" + p.server
}

// forwards calls f for the control forward and then each passive one, with
// the client's local port and the server-side port.
func (p plan) forwards(f func(local, remote int)) {
	f(p.local, p.ctrl)
	for port := p.first; port <= p.last; port++ {
		f(port, port)
	}
}

// Generate prints s in format, one of Formats.
func Generate(format string, s Spec) (string, error) {
	switch format {
	case "ssh":
		return SSHCommand(s)
	case "ssh-config":
		return SSHConfig(s)
	case "sshd-match":
		return SSHDMatch(s)
	case "putty":
		return Putty(s)
	}
	return "", fmt.Errorf("unknown format %q; use one of %s", format, strings.Join(Formats, ", "))
}

// SSHCommand is the OpenSSH client command, on one line and without a
// trailing newline: ssh -N -o ExitOnForwardFailure=yes -L … [user@]server.
func SSHCommand(s Spec) (string, error) {
	p, err := s.resolve()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("ssh -N -o ExitOnForwardFailure=yes")
	p.forwards(func(local, remote int) {
		fmt.Fprintf(&b, " -L %d:%s:%d", local, p.target, remote)
	})
	b.WriteString(" " + p.destination())
	return b.String(), nil
}

// SSHConfig is a Host block for the client's ~/.ssh/config.
func SSHConfig(s Spec) (string, error) {
	p, err := s.resolve()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# tunnelftpd: add this block to ~/.ssh/config on the client, then start
# the tunnel with
#   ssh -N %[1]s
# and point the FTP client at 127.0.0.1 port %[2]d, passive mode (EPSV or PASV).
# "SessionType none" needs OpenSSH 8.7 or later; with older clients remove
# that line (ssh -N does the same).
Host %[1]s
	HostName %[1]s
`, p.server, p.local)
	if p.user != "" {
		fmt.Fprintf(&b, "\tUser %s\n", p.user)
	}
	p.forwards(func(local, remote int) {
		fmt.Fprintf(&b, "\tLocalForward %d %s:%d\n", local, p.target, remote)
	})
	b.WriteString("\tExitOnForwardFailure yes\n\tSessionType none\n")
	return b.String(), nil
}

// SSHDMatch is the server's sshd_config block that lets the SSH user open
// exactly the daemon's forwards and nothing else.
func SSHDMatch(s Spec) (string, error) {
	p, err := s.resolve()
	if err != nil {
		return "", err
	}
	user := p.user
	var b strings.Builder
	b.WriteString(`# tunnelftpd: sshd_config block for the FTP tunnel user.
# Append it to the END of /etc/ssh/sshd_config (a Match block runs to the next
# Match line; the closing "Match all" makes it safe in a drop-in file too),
# after any other Match block that could match this user: for each keyword,
# the first matching block wins. Then check with "sshd -t" and reload sshd.
`)
	if user == "" {
		user = PlaceholderUser
		fmt.Fprintf(&b, "# EDIT: %q is a placeholder; put the SSH user of the FTP tunnel here\n# (or give --host user@server).\n", PlaceholderUser)
	}
	var opens []string
	p.forwards(func(_, remote int) {
		opens = append(opens, fmt.Sprintf("%s:%d", p.target, remote))
	})
	fmt.Fprintf(&b, `Match User %s
	# Local forwarding (ssh -L) only: no remote (-R) listeners on this host.
	AllowTcpForwarding local
	# ...and only to the FTP control port and each passive port.
	PermitOpen %s
	# Unix-socket forwarding is not covered by PermitOpen: turn it off.
	AllowStreamLocalForwarding no
	# Forwarded ports never listen on other hosts' behalf.
	GatewayPorts no
	# No terminal, X11, agent or tun/tap device forwarding.
	PermitTTY no
	X11Forwarding no
	AllowAgentForwarding no
	PermitTunnel no
	PermitUserRC no
	# No shell or sftp: the tunnel client runs "ssh -N", which starts no
	# command; anything else gets nologin. Remove this line if the user also
	# needs a shell.
	ForceCommand /usr/sbin/nologin
Match all
`, user, strings.Join(opens, " "))
	return b.String(), nil
}

// Putty is the plink command line, with the PuTTY GUI equivalent as comments.
func Putty(s Spec) (string, error) {
	p, err := s.resolve()
	if err != nil {
		return "", err
	}
	var b, gui strings.Builder
	b.WriteString("plink -N")
	p.forwards(func(local, remote int) {
		fmt.Fprintf(&b, " -L %d:%s:%d", local, p.target, remote)
		fmt.Fprintf(&gui, "#     Source port %d, Destination %s:%d, Local, Add\n", local, p.target, remote)
	})
	b.WriteString(" " + p.destination() + "\n")
	fmt.Fprintf(&b, `# Run the line above in a command prompt (plink comes with PuTTY) and leave
# it open; then point the FTP client at 127.0.0.1 port %d, passive mode.
# plink has no ExitOnForwardFailure: if a local port is taken, plink only
# warns, so check its output.
# In the PuTTY GUI instead:
#   Session: Host Name %s, port 22
`, p.local, p.server)
	if p.user != "" {
		fmt.Fprintf(&b, "#   Connection > Data: Auto-login username %s\n", p.user)
	}
	b.WriteString("#   Connection > SSH: tick \"Don't start a shell or command at all\"\n")
	b.WriteString("#   Connection > SSH > Tunnels, once per line below:\n")
	b.WriteString(gui.String())
	b.WriteString("#   Session: Save, then Open.\n")
	return b.String(), nil
}
