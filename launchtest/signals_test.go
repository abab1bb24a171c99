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
)

// daemonStarter starts the daemon of a fixture in one launch mode and
// returns the process to signal (for socket activation, it becomes the
// daemon on the first connection, which trigger makes).
type daemonStarter struct {
	name  string
	start func(t *testing.T, f *fixture) *proc
}

var multiSessionModes = []daemonStarter{
	{"standalone", func(t *testing.T, f *fixture) *proc {
		p := start(t, nil, binary, "serve", "-c", f.config)
		waitLog(t, f.logs, regexp.MustCompile(`msg=serving mode=standalone`), 10*time.Second)
		return p
	}},
	{"systemd-accept-no", func(t *testing.T, f *fixture) *proc {
		return socketActivate(t, f, nil, nil, binary, "serve", "-c", f.config)
	}},
	{"inetd-wait", func(t *testing.T, f *fixture) *proc {
		return socketActivate(t, f, nil, []string{"--inetd"}, binary, "serve", "--inetd", "-c", f.config)
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
			f := newFixture(t, options{})
			p := mode.start(t, f)
			inRange := func(port, first, last int) bool { return port >= first && port <= last }

			old := dialRaw(t, f.addr)
			old.login()
			if port := pasvPort(t, old); !inRange(port, f.first, f.last) {
				t.Fatalf("PASV port %d outside %d-%d", port, f.first, f.last)
			}

			first, last := freePortRange(t, 2)
			oldPorts := fmt.Sprintf(`ports = "%d-%d"`, f.first, f.last)
			newPorts := fmt.Sprintf(`ports = "%d-%d"`, first, last)
			f.writeConfig(strings.Replace(f.configText(), oldPorts, newPorts, 1))
			p.signal(syscall.SIGHUP)
			waitLog(t, f.logs, regexp.MustCompile(`msg="config reloaded for new sessions".*passive_ports=`+fmt.Sprintf("%d-%d", first, last)), 10*time.Second)

			next := dialRaw(t, f.addr)
			next.login()
			if port := pasvPort(t, next); !inRange(port, first, last) {
				t.Errorf("after reload, PASV port %d outside the new range %d-%d", port, first, last)
			}
			if port := pasvPort(t, old); !inRange(port, f.first, f.last) {
				t.Errorf("the session started before the reload got PASV port %d, outside its range %d-%d", port, f.first, f.last)
			}

			// A broken file: the error is logged, the new range stays.
			f.writeConfig(strings.Replace(f.configText(), newPorts, `ports = "x"`, 1))
			p.signal(syscall.SIGHUP)
			waitLog(t, f.logs, regexp.MustCompile(`msg="reload failed, keeping the current config"`), 10*time.Second)
			lineRe := regexp.QuoteMeta(f.config) + `:\d+: passive\.ports: .*not a port range`
			if !regexp.MustCompile(`msg="reload: config error" err="` + lineRe).MatchString(f.logs()) {
				t.Errorf("the config error is not logged as FILE:LINE: key: problem:\n%s", f.logs())
			}
			third := dialRaw(t, f.addr)
			third.login()
			if port := pasvPort(t, third); !inRange(port, first, last) {
				t.Errorf("after a failed reload, PASV port %d outside the range in force %d-%d", port, first, last)
			}

			p.signal(syscall.SIGTERM)
			if code := p.wait(20 * time.Second); code != 0 {
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
// hard-linked into each fixture's root.
func (f *fixture) bigFile(t *testing.T) [32]byte {
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
	if err := os.Link(bigPath, filepath.Join(f.root, "big.bin")); err != nil {
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
		daemonStarter{"systemd-accept-yes", func(t *testing.T, f *fixture) *proc {
			return socketActivate(t, f, nil, []string{"--accept"}, binary, "serve", "-c", f.config)
		}},
		daemonStarter{"inetd-nowait", func(t *testing.T, f *fixture) *proc {
			return socketActivate(t, f, nil, []string{"--accept", "--inetd"}, binary, "serve", "--inetd", "-c", f.config)
		}},
	)
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, options{})
			sum := f.bigFile(t)
			p := mode.start(t, f)
			single := strings.HasSuffix(mode.name, "accept-yes") || strings.HasSuffix(mode.name, "nowait")

			c := dial(t, f.addr)
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
			pid := sessionPID(t, f.logs, 1)
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitLog(t, f.logs, regexp.MustCompile(`msg="shutting down" signal=terminated`), 10*time.Second)
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
				p.waitOutput(regexp.MustCompile(fmt.Sprintf(`Child %d died with code 0\b`, pid)), 20*time.Second)
				waitGone(t, pid, 10*time.Second)
			} else if code := p.wait(20 * time.Second); code != 0 {
				t.Errorf("exit code %d after SIGTERM", code)
			}
			if !regexp.MustCompile(`msg="transfer complete" .*bytes=` + fmt.Sprint(bigSize)).MatchString(f.logs()) {
				t.Errorf("no complete transfer in the log:\n%s", f.logs())
			}
		})
	}
}
