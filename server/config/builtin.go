package config

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tunnelftpd/tunnelftpd/auth"
)

// DemoUser is the user of the built-in default config.
const DemoUser = "demo"

// Builtin is the config `tunnelftpd serve` runs on when no config file
// exists: the defaults, plus one user "demo" with a fresh random password and
// root dataDir (created if missing). It returns the password so that it can
// be shown once to the operator.
func Builtin(dataDir string) (*Config, string, error) {
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
	c := Default()
	c.Users = []UserConfig{{Name: DemoUser, Password: hash, Root: abs}}
	if err := c.Validate(); err != nil {
		return nil, "", err
	}
	return c, password, nil
}
