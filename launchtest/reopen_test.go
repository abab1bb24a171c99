package launchtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestSIGUSR1ReopensLogs is logrotate's cycle in every mode with one
// daemon: the log file and the transfer log are moved away, SIGUSR1, and
// what follows goes to new files at the same paths, from a session that
// was already logged in as well as from a new one; nothing is lost and
// the config is not re-read. SIGHUP (a reload) reopens them the same way.
func TestSIGUSR1ReopensLogs(t *testing.T) {
	t.Parallel()
	for _, mode := range multiSessionModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testutil.DaemonOptions{Xferlog: true})
			p := mode.start(t, f)
			old := dial(t, f.Addr) // logged in before the rotation, used after it
			exercise(t, f, "before.txt")
			f.WaitXfer(2, 10*time.Second) // its RETR and STOR

			for i, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGHUP} {
				tag := []string{"usr1", "hup"}[i]
				rotated := []string{f.LogFile + "." + tag, f.Xferlog + "." + tag}
				for j, path := range []string{f.LogFile, f.Xferlog} {
					if err := os.Rename(path, rotated[j]); err != nil {
						t.Fatal(err)
					}
				}
				want := `msg="log files reopened \(SIGUSR1\)"`
				if sig == syscall.SIGHUP {
					want = `msg="config reloaded for new sessions"`
				}
				p.Signal(sig)
				f.WaitLog(regexp.MustCompile(want), 10*time.Second) // in the new file

				name := "after-" + tag + ".txt"
				if err := old.Stor(name, strings.NewReader("from the old session\n")); err != nil {
					t.Fatalf("STOR on the session from before the rotation: %v", err)
				}
				exercise(t, f, "new-"+name)
				f.WaitXfer(3, 10*time.Second)
				xfer, _ := os.ReadFile(f.Xferlog)
				for _, n := range []string{name, "new-" + name, "hello.txt"} {
					if !strings.Contains(string(xfer), "/"+n+" ") {
						t.Errorf("after %v, the new transfer log lacks %s:\n%s", sig, n, xfer)
					}
				}
				if strings.Count(string(xfer), "\n") != 3 {
					t.Errorf("after %v, the new transfer log has other lines than the 3 transfers since:\n%s", sig, xfer)
				}
				moved, _ := os.ReadFile(rotated[1])
				// First the RETR and STOR of before.txt, then the 3 of the
				// first cycle.
				wantMoved := []int{2, 3}[i]
				if n := strings.Count(string(moved), "\n"); n != wantMoved {
					t.Errorf("the transfer log moved away before %v has %d lines, want %d (none lost, none added):\n%s", sig, n, wantMoved, moved)
				}
				if logs, _ := os.ReadFile(rotated[0]); strings.Contains(string(logs), "/"+name) {
					t.Errorf("a transfer after %v was logged in the moved-away log file", sig)
				}
			}
			if strings.Contains(f.Logs(), "level=ERROR") {
				t.Errorf("errors in the log:\n%s", f.Logs())
			}
			if err := old.Quit(); err != nil {
				t.Errorf("QUIT: %v", err)
			}
			if _, err := os.Stat(filepath.Join(f.Root, "after-usr1.txt")); err != nil {
				t.Error(err)
			}
			p.Signal(syscall.SIGTERM)
			if code := p.Wait(20 * time.Second); code != 0 {
				t.Errorf("exit code %d after SIGTERM", code)
			}
		})
	}
}
