package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The one skip policy of the test tree. A test that needs root, a tool or
// a file of the system skips when it is absent, saying what is missing and
// how to get it. Under TUNNELFTPD_E2E=1 (set by .ci/run, which runs as root
// and installs every tool) the same test fails instead: a skip there would
// hide a broken setup, and the security tests SECURITY.md cites must run.

// e2eEnv is the variable that turns skips into failures.
const e2eEnv = "TUNNELFTPD_E2E"

// Require skips the test unless ok, with why as the reason; under
// TUNNELFTPD_E2E=1 it fails the test instead.
func Require(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv(e2eEnv) == "1" {
		t.Fatalf("%s=1 but %s", e2eEnv, why)
	}
	t.Skip("SKIP: " + why)
}

// Privileged requires root (Require): why says what the test does with it.
func Privileged(t testing.TB, why string) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "not root (the test "+why+")")
}

// debianPackage names the Debian package of each tool the tests run, for
// the skip message (.ci/run installs them).
var debianPackage = map[string]string{
	"ip": "iproute2", "nft": "nftables", "sshd": "openssh-server", "ssh": "openssh-client",
	"ssh-keygen": "openssh-client", "curl": "curl", "lftp": "lftp", "python3": "python3",
	"useradd": "passwd", "userdel": "passwd", "usermod": "passwd", "chpasswd": "passwd",
	"fail2ban-regex": "fail2ban", "strace": "strace", "systemd-socket-activate": "systemd",
	"systemd-analyze": "systemd", "systemd-tmpfiles": "systemd", "inetd": "openbsd-inetd",
	"xinetd": "xinetd", "go": "the Go toolchain (/usr/local/go/bin on PATH)",
}

// RequireTool requires every named program (a name looked up in PATH, or
// a path) to be installed (Require); the reason names the missing ones and
// their Debian packages.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	var missing []string
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			base := name[strings.LastIndex(name, "/")+1:]
			if pkg, ok := debianPackage[base]; ok {
				name = fmt.Sprintf("%s (Debian package: %s)", name, pkg)
			}
			missing = append(missing, name)
		}
	}
	Require(t, len(missing) == 0, "not installed: "+strings.Join(missing, ", "))
}
