package launchtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// The shipped unit files, inetd.conf line and xinetd service.

const installedBinary = "/usr/local/bin/tunnelftpd"

var unitFiles = []string{"tunnelftpd.socket", "tunnelftpd.service", "tunnelftpd-conn.socket", "tunnelftpd-conn@.service"}

// verifyUnits runs systemd-analyze verify on the units in dir and returns
// its output; verify exits 0 on unknown keys and such, so any output counts.
func verifyUnits(t *testing.T, dir string, units ...string) (string, error) {
	t.Helper()
	testutil.RequireTool(t, "systemd-analyze")
	args := []string{"verify", "--man=no"}
	for _, u := range units {
		args = append(args, filepath.Join(dir, u))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemd-analyze", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// copyUnits copies the shipped units to a temp dir, with ExecStart and
// friends pointing at the test binary (verify checks that it exists), and
// edit applied to each file's text.
func copyUnits(t *testing.T, edit func(name, text string) string) string {
	t.Helper()
	dir := t.TempDir()
	for _, u := range unitFiles {
		b, err := os.ReadFile(filepath.Join("..", "systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), installedBinary, binary)
		if edit != nil {
			text = edit(u, text)
		}
		if err := os.WriteFile(filepath.Join(dir, u), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSystemdAnalyzeVerify: systemd-analyze verify accepts every shipped
// unit without a warning (run on Debian 12's systemd 252 in CI).
func TestSystemdAnalyzeVerify(t *testing.T) {
	t.Parallel()
	dir := copyUnits(t, nil)
	out, err := verifyUnits(t, dir, unitFiles...)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	v, _ := exec.Command("systemd-analyze", "--version").Output()
	t.Logf("verified with %s", strings.SplitN(string(v), "\n", 2)[0])

	// The check itself catches mistakes: a misspelt key is reported.
	dir = copyUnits(t, func(name, text string) string {
		if name == "tunnelftpd.service" {
			text = strings.Replace(text, "PrivateTmp=yes", "PrivateTmpp=yes", 1)
		}
		return text
	})
	if out, _ := verifyUnits(t, dir, "tunnelftpd.service"); !strings.Contains(out, "PrivateTmpp") {
		t.Errorf("systemd-analyze verify did not report a misspelt key: %q", out)
	}
}

// TestUnitFilesContents: the settings the issue asks for are in the units,
// and each hardening setting is explained by a comment.
func TestUnitFilesContents(t *testing.T) {
	t.Parallel()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	sample, err := os.ReadFile("../etc/tunnelftpd.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ports = "(\d+-\d+)"`).FindSubmatch(sample)
	if m == nil {
		t.Fatal("no passive ports in etc/tunnelftpd.toml")
	}
	hardening := []string{
		"User=tunnelftpd", "CapabilityBoundingSet=", "AmbientCapabilities=", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "ReadWritePaths=/srv/ftp", "PrivateTmp=yes", "IPAddressDeny=any",
		"IPAddressAllow=localhost", "SocketBindAllow=tcp:" + string(m[1]), "SocketBindDeny=any",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
		"ProtectHome=yes", "PrivateDevices=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
	}
	for _, svc := range []string{"tunnelftpd.service", "tunnelftpd-conn@.service"} {
		text := read(svc)
		lines := strings.Split(text, "\n")
		for _, want := range hardening {
			i := lineIndex(lines, want)
			if i < 0 {
				t.Errorf("%s lacks %s", svc, want)
				continue
			}
			// The setting's paragraph starts with a comment.
			j := i
			for j > 0 && lines[j-1] != "" && !strings.HasPrefix(lines[j-1], "#") {
				j--
			}
			if j == 0 || !strings.HasPrefix(lines[j-1], "#") {
				t.Errorf("%s: %s has no comment explaining it", svc, want)
			}
		}
		if lineIndex(lines, "Type=notify") < 0 {
			t.Errorf("%s is not Type=notify", svc)
		}
		if regexp.MustCompile(`(?m)^\s*StandardInput\s*=\s*socket`).MatchString(text) {
			t.Errorf("%s uses StandardInput=socket: stdio would be the client's socket", svc)
		}
	}
	svc := strings.Split(read("tunnelftpd.service"), "\n")
	for _, want := range []string{
		"ExecStartPre=" + installedBinary + " check -q -c /etc/tunnelftpd/tunnelftpd.toml",
		"ExecReload=/bin/kill -HUP $MAINPID",
	} {
		if lineIndex(svc, want) < 0 {
			t.Errorf("tunnelftpd.service lacks %s", want)
		}
	}
	if lineIndex(strings.Split(read("tunnelftpd.socket"), "\n"), "Accept=no") < 0 {
		t.Error("tunnelftpd.socket is not Accept=no")
	}
	if lineIndex(strings.Split(read("tunnelftpd-conn.socket"), "\n"), "Accept=yes") < 0 {
		t.Error("tunnelftpd-conn.socket is not Accept=yes")
	}

	// inetd.conf: one service line, nowait, running serve --inetd.
	b, err := os.ReadFile("../etc/inetd.conf")
	if err != nil {
		t.Fatal(err)
	}
	var services [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			services = append(services, strings.Fields(l))
		}
	}
	if len(services) != 1 || len(services[0]) < 7 || services[0][1] != "stream" || services[0][2] != "tcp" ||
		services[0][3] != "nowait" || services[0][5] != installedBinary ||
		!strings.Contains(strings.Join(services[0][6:], " "), "serve --inetd -c ") {
		t.Errorf("etc/inetd.conf: want one stream tcp nowait line running %s serve --inetd; got %q", installedBinary, services)
	}
	b, err = os.ReadFile("../etc/xinetd.d/tunnelftpd")
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^\s*wait\s*=\s*no$`, `(?m)^\s*server\s*=\s*` + installedBinary + `$`,
		`(?m)^\s*server_args\s*=\s*serve --inetd -c `, `(?m)^\s*bind\s*=\s*127\.0\.0\.1$`} {
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("etc/xinetd.d/tunnelftpd does not match %s", re)
		}
	}
}

// lineIndex returns the index of the line equal to want, or -1.
func lineIndex(lines []string, want string) int {
	for i, l := range lines {
		if strings.TrimSpace(l) == want {
			return i
		}
	}
	return -1
}
