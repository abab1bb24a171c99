package launchtest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// daemonStarter starts the daemon of a fixture in one launch mode and
// returns the process to signal (for socket activation, it becomes the
// daemon on the first connection, which trigger makes).
type daemonStarter struct {
	name  string
	start func(t *testing.T, f *testutil.Daemon) *testutil.Process
}

var multiSessionModes = []daemonStarter{
	{"standalone", func(t *testing.T, f *testutil.Daemon) *testutil.Process {
		return serveStandalone(t, f)
	}},
	{"systemd-accept-no", func(t *testing.T, f *testutil.Daemon) *testutil.Process {
		return socketActivate(t, f, nil, nil, binary, "serve", "-c", f.Config)
	}},
	{"inetd-wait", func(t *testing.T, f *testutil.Daemon) *testutil.Process {
		return socketActivate(t, f, nil, []string{"--inetd"}, binary, "serve", "--inetd", "-c", f.Config)
	}},
}

// TestReload: SIGHUP puts a changed passive range in force for the next
// session while a running session keeps its own; a broken config is logged
// with its errors (FILE:LINE: key) and the config in force stays.
func TestReload(t *testing.T) {
	t.Parallel()
	for _, mode := range multiSessionModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testutil.DaemonOptions{})
			p := mode.start(t, f)
			inRange := func(port, first, last int) bool { return port >= first && port <= last }

			old := f.Client()
			if port := pasvPort(old); !inRange(port, f.First, f.Last) {
				t.Fatalf("PASV port %d outside %d-%d", port, f.First, f.Last)
			}

			first, last := testutil.FreePortRange(t, 2)
			oldPorts := fmt.Sprintf(`ports = "%d-%d"`, f.First, f.Last)
			newPorts := fmt.Sprintf(`ports = "%d-%d"`, first, last)
			f.EditConfig(oldPorts, newPorts)
			p.Signal(syscall.SIGHUP)
			f.WaitLog(regexp.MustCompile(`msg="config reloaded for new sessions".*passive_ports=`+fmt.Sprintf("%d-%d", first, last)), 10*time.Second)

			next := f.Client()
			if port := pasvPort(next); !inRange(port, first, last) {
				t.Errorf("after reload, PASV port %d outside the new range %d-%d", port, first, last)
			}
			if port := pasvPort(old); !inRange(port, f.First, f.Last) {
				t.Errorf("the session started before the reload got PASV port %d, outside its range %d-%d", port, f.First, f.Last)
			}

			// A broken file: the error is logged, the new range stays.
			f.EditConfig(newPorts, `ports = "x"`)
			p.Signal(syscall.SIGHUP)
			f.WaitLog(regexp.MustCompile(`msg="reload failed, keeping the current config"`), 10*time.Second)
			lineRe := regexp.QuoteMeta(f.Config) + `:\d+: passive\.ports: .*not a port range`
			if !regexp.MustCompile(`msg="reload: config error" err="` + lineRe).MatchString(f.Logs()) {
				t.Errorf("the config error is not logged as FILE:LINE: key: problem:\n%s", f.Logs())
			}
			third := f.Client()
			if port := pasvPort(third); !inRange(port, first, last) {
				t.Errorf("after a failed reload, PASV port %d outside the range in force %d-%d", port, first, last)
			}

			p.Signal(syscall.SIGTERM)
			if code := p.Wait(20 * time.Second); code != 0 {
				t.Errorf("exit code %d after SIGTERM", code)
			}
		})
	}
}

const bigSize = 50 << 20

var (
	bigOnce sync.Once
	bigPath string
	bigSum  [32]byte
	bigErr  error
)

// bigFile is a 50 MiB file of random bytes, made once per test run and
// hard-linked into the root of f; it returns its SHA-256.
func bigFile(t *testing.T, f *testutil.Daemon) [32]byte {
	t.Helper()
	bigOnce.Do(func() {
		bigPath = filepath.Join(filepath.Dir(binary), "big.bin")
		b := make([]byte, bigSize)
		r := rand.NewChaCha8([32]byte{1})
		r.Read(b)
		bigSum = sha256.Sum256(b)
		bigErr = os.WriteFile(bigPath, b, 0o644)
	})
	if bigErr != nil {
		t.Fatal(bigErr)
	}
	if err := os.Link(bigPath, filepath.Join(f.Root, "big.bin")); err != nil {
		t.Fatal(err)
	}
	return bigSum
}

// TestSIGTERMDrainsTransfer: SIGTERM during a 50 MiB RETR lets it finish
// (226, every byte intact) before the process exits 0, in every mode.
func TestSIGTERMDrainsTransfer(t *testing.T) {
	t.Parallel()
	modes := append([]daemonStarter{}, multiSessionModes...)
	modes = append(modes,
		daemonStarter{"systemd-accept-yes", func(t *testing.T, f *testutil.Daemon) *testutil.Process {
			return socketActivate(t, f, nil, []string{"--accept"}, binary, "serve", "-c", f.Config)
		}},
		daemonStarter{"inetd-nowait", func(t *testing.T, f *testutil.Daemon) *testutil.Process {
			return socketActivate(t, f, nil, []string{"--accept", "--inetd"}, binary, "serve", "--inetd", "-c", f.Config)
		}},
	)
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testutil.DaemonOptions{})
			sum := bigFile(t, f)
			p := mode.start(t, f)
			single := strings.HasSuffix(mode.name, "accept-yes") || strings.HasSuffix(mode.name, "nowait")

			c := dial(t, f.Addr)
			r, err := c.Retr("big.bin")
			if err != nil {
				t.Fatalf("RETR: %v", err)
			}
			h := sha256.New()
			// Take the first MiB: the server is now blocked sending the rest.
			n, err := io.CopyN(h, r, 1<<20)
			if err != nil {
				t.Fatalf("reading the first MiB: %v", err)
			}
			pid := sessionPID(t, f.Logs, 1)
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			f.WaitLog(regexp.MustCompile(`msg="shutting down" signal=terminated`), 10*time.Second)
			rest, err := io.Copy(h, r)
			if err != nil {
				t.Fatalf("reading after SIGTERM (%d bytes in): %v", n, err)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("the transfer did not end with 226: %v", err)
			}
			if n+rest != bigSize || !bytes.Equal(h.Sum(nil), sum[:]) {
				t.Fatalf("got %d bytes, sha256 %x; want %d bytes, %x", n+rest, h.Sum(nil), bigSize, sum)
			}
			c.Quit() // the drain may already have closed the now idle session

			if single {
				p.WaitOutput(regexp.MustCompile(fmt.Sprintf(`Child %d died with code 0\b`, pid)), 20*time.Second)
				waitGone(t, pid, 10*time.Second)
			} else if code := p.Wait(20 * time.Second); code != 0 {
				t.Errorf("exit code %d after SIGTERM", code)
			}
			if !regexp.MustCompile(`msg="transfer complete" .*bytes=` + fmt.Sprint(bigSize)).MatchString(f.Logs()) {
				t.Errorf("no complete transfer in the log:\n%s", f.Logs())
			}
		})
	}
}
