package server

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/tunnelftpd/tunnelftpd/auth"
)

// DemoUser is the user of the built-in default config.
const DemoUser = "demo"

// BuiltinConfig is the config `tunnelftpd serve` runs on when no config file
// exists: the defaults, plus one user "demo" with a fresh random password and
// root dataDir (created if missing). It returns the password so that it can
// be shown once to the operator.
func BuiltinConfig(dataDir string) (*Config, string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, "", fmt.Errorf("data directory %q: %w", dataDir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, "", fmt.Errorf("creating data directory: %w", err)
	}
	password := rand.Text()[:16]
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, "", fmt.Errorf("hashing the demo password: %w", err)
	}
	c := defaultConfig()
	c.Users = []UserConfig{{Name: DemoUser, Password: hash, Root: abs}}
	if errs := c.validate(lineIndex{}); len(errs) > 0 {
		return nil, "", errs
	}
	return &c, password, nil
}

// SSHCommand is the client-side command that forwards the control port and
// every passive port of cfg to host; localPort is the client's control port.
func SSHCommand(cfg *Config, host string, localPort int) string {
	target, ctrlPort := ForwardTarget(cfg)
	var b strings.Builder
	fmt.Fprintf(&b, "ssh -N -o ExitOnForwardFailure=yes -L %d:%s:%s", localPort, target, ctrlPort)
	for p := cfg.Passive.First; p <= cfg.Passive.Last; p++ {
		fmt.Fprintf(&b, " -L %d:%s:%d", p, target, p)
	}
	b.WriteString(" " + host)
	return b.String()
}

// ForwardTarget is the host (as ssh -L writes it) and port that sshd must
// forward to on the server: the listen address, or 127.0.0.1 when the daemon
// listens on every address.
func ForwardTarget(cfg *Config) (host, port string) {
	host, port, _ = net.SplitHostPort(cfg.Listen)
	ip := net.ParseIP(host)
	switch {
	case ip == nil || ip.IsUnspecified():
		host = "127.0.0.1"
	case ip.To4() == nil:
		host = "[" + ip.String() + "]"
	}
	return host, port
}
