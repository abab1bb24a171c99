package server

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/tunnel"
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
// every passive port of cfg (a validated config) to host; localPort is the
// client's control port. It is package tunnel's SSHCommand; should host be
// unusable, the returned line says why instead.
func SSHCommand(cfg *Config, host string, localPort int) string {
	line, err := tunnel.SSHCommand(TunnelSpec(cfg, host, localPort))
	if err != nil {
		return "(no ssh command: " + err.Error() + ")"
	}
	return line
}

// ForwardTarget is the host (as ssh -L writes it) and port that sshd must
// forward to on the server: the listen address, or 127.0.0.1 when the daemon
// listens on every address. See tunnel.Target.
func ForwardTarget(cfg *Config) (host, port string) {
	host, p, err := tunnel.Target(cfg.Listen)
	if err != nil {
		_, port, _ = net.SplitHostPort(cfg.Listen)
		return "127.0.0.1", port
	}
	return host, strconv.Itoa(p)
}
