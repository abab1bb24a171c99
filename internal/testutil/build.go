package testutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var (
	hashMu sync.Mutex
	hashes = map[string]string{}
)

// CheapHash returns a bcrypt hash of password at the minimum cost, made once
// per password, so that tests log in fast.
func CheapHash(password string) string {
	hashMu.Lock()
	defer hashMu.Unlock()
	if h, ok := hashes[password]; ok {
		return h
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	hashes[password] = string(h)
	return string(h)
}

// BuildTunnelftpd builds the daemon into a new temporary directory whose
// name starts with prefix (for a TestMain). It returns the binary's path and
// a function that removes the directory.
func BuildTunnelftpd(prefix string) (string, func(), error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	bin := filepath.Join(dir, "tunnelftpd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tunnelftpd/tunnelftpd/cmd/tunnelftpd").CombinedOutput()
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building tunnelftpd: %v\n%s", err, out)
	}
	return bin, cleanup, nil
}

// MainWithTunnelftpd is a package's TestMain body: it builds the daemon
// (BuildTunnelftpd) into *bin, runs the tests, removes the build and exits
// with the tests' status. A failed build ends the run with status 1.
func MainWithTunnelftpd(m *testing.M, prefix string, bin *string) {
	b, cleanup, err := BuildTunnelftpd(prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}
