package testbed

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestLogrotate: the shipped etc/logrotate.d/tunnelftpd, installed as
// README says, rotated by the real logrotate: the daemon reopens its log
// file and transfer log, transfers after the rotation (from a session
// logged in before it, and from new ones) are in the new files, those
// before it in the rotated ones, none lost, none twice.
func TestLogrotate(t *testing.T) {
	requireHostTools(t)
	const (
		logFile = "/var/log/tunnelftpd/tunnelftpd.log"
		xferlog = "/var/log/tunnelftpd/xferlog"
	)
	bed := Boot(t, Options{})
	s := install(t, bed, func(cfg string) string {
		cfg = regexp.MustCompile(`(?m)^output = ".*"$`).ReplaceAllString(cfg, `output = "`+logFile+`"`)
		return regexp.MustCompile(`(?m)^xferlog = ".*"$`).ReplaceAllString(cfg, `xferlog = "`+xferlog+`"`)
	})
	for _, line := range readmeBlock(t, "**logrotate**") {
		t.Logf("README: %s", line)
		bed.Shell(t, "cd /root/tunnelftpd && "+line)
	}
	s.startTunnel()

	old := s.rawSession(t) // logged in before the rotation, used after it
	old.Expect(331, "USER %s", ftpUser)
	old.Expect(230, "PASS %s", s.ftpPass)
	old.Expect(200, "TYPE I")

	up := filepath.Join(t.TempDir(), "up.txt")
	if err := os.WriteFile(up, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	upload := func(name string) {
		t.Helper()
		if _, _, err := s.curl("", "-T", up, "ftp://127.0.0.1:2121/"+name); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
	}
	lines := func(path string) []string {
		b, _ := bed.ReadFile(path)
		return strings.Fields(strings.ReplaceAll(string(b), "\n", " \n"))
	}
	count := func(path string) int {
		b, _ := bed.ReadFile(path)
		return strings.Count(string(b), "\n")
	}
	for _, n := range []string{"before-1", "before-2", "before-3"} {
		upload(n)
	}
	s.store(t, old, "before-old", "data\n")
	testutil.WaitFor(t, 10*time.Second, 50*time.Millisecond, "4 transfers in the xferlog", func() bool { return count(xferlog) == 4 })

	if _, stderr, err := bed.Exec(context.Background(), "logrotate", "-v", "-f", "/etc/logrotate.d/tunnelftpd"); err != nil {
		t.Fatalf("logrotate: %v", err)
	} else if strings.Contains(stderr, "error") {
		t.Errorf("logrotate reported errors:\n%s", stderr)
	}
	testutil.WaitFor(t, 20*time.Second, 50*time.Millisecond, "the daemon's reopen line in the new log file", func() bool {
		b, _ := bed.ReadFile(logFile)
		return strings.Contains(string(b), `msg="log files reopened (SIGUSR1)"`)
	})

	for _, n := range []string{"after-1", "after-2"} {
		upload(n)
	}
	s.store(t, old, "after-old", "data\n")
	old.Expect(221, "QUIT")
	testutil.WaitFor(t, 10*time.Second, 50*time.Millisecond, "3 transfers in the new xferlog", func() bool { return count(xferlog) >= 3 })

	for path, want := range map[string][]string{
		xferlog:        {"/after-1", "/after-2", "/after-old"},
		xferlog + ".1": {"/before-1", "/before-2", "/before-3", "/before-old"},
	} {
		got := lines(path)
		if n := count(path); n != len(want) {
			t.Errorf("%s has %d lines, want %d:\n%s", path, n, len(want), strings.Join(got, " "))
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s lacks %s:\n%s", path, w, strings.Join(got, " "))
			}
		}
	}
	b, _ := bed.ReadFile(logFile)
	if !strings.Contains(string(b), "path=/after-1 ") || strings.Contains(string(b), "path=/before-1 ") {
		t.Errorf("the new log file does not hold exactly the lines since the rotation:\n%s", tail(string(b), 3000))
	}
	if b, _ := bed.ReadFile(logFile + ".1"); !strings.Contains(string(b), "path=/before-old ") || strings.Contains(string(b), "path=/after-1 ") {
		t.Errorf("the rotated log file does not hold exactly the lines before the rotation:\n%s", tail(string(b), 3000))
	}
	if mode := strings.TrimSpace(bed.Run(t, "stat", "-c", "%a %U:%G", xferlog, logFile)); mode != "640 tunnelftpd:tunnelftpd\n640 tunnelftpd:tunnelftpd" {
		t.Errorf("new files' mode and owner: %q, want 640 tunnelftpd:tunnelftpd", mode)
	}
	if w := s.journal("-u", "tunnelftpd.service", "-p", "warning"); strings.TrimSpace(w) != "" {
		t.Errorf("warnings:\n%s", w)
	}
}
