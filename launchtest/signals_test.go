package launchtest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
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

// The signals: SIGHUP (reload) and SIGTERM (drain), in every launch mode,
// and during 50 running transfers.

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

// The tests with 50 transfers running when the signal comes.

const (
	transfers    = 50       // half downloads, half uploads
	downloadSize = 32 << 20 // more than the loopback buffers hold once the client stops reading
	uploadSize   = 8 << 20
	firstChunk   = 256 << 10 // moved before the signal
)

// payload is n deterministic pseudo-random bytes.
func payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// transfer is one of the running transfers.
type transfer struct {
	rc     *testutil.RawConn
	data   net.Conn
	upload bool
	name   string
	h      hash.Hash // downloads: hash of what arrived
	n      int64
}

// startTransfers starts n RETR/STOR on the daemon of f and moves the first
// chunk of each, so that every one of them is running (the server is
// blocked sending, or waiting for more upload data) when it returns.
func startTransfers(t *testing.T, f *testutil.Daemon, n int) []*transfer {
	t.Helper()
	big := payload(1, downloadSize)
	if err := os.WriteFile(filepath.Join(f.Root, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	up := payload(2, uploadSize)
	var xs []*transfer
	for i := range n {
		rc, err := f.TryClient(nil)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		rc.Timeout = time.Minute // 50 transfers share the machine's cores
		t.Cleanup(func() { rc.Close() })
		data, err := rc.TryOpenData()
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		t.Cleanup(func() { data.Close() })
		x := &transfer{rc: rc, data: data, upload: i%2 == 1}
		if x.upload {
			x.name = fmt.Sprintf("up-%02d.bin", i)
			if _, err := rc.TryExpect(150, "STOR %s", x.name); err != nil {
				t.Fatal(err)
			}
			if _, err := data.Write(up[:firstChunk]); err != nil {
				t.Fatal(err)
			}
		} else {
			x.name = "big.bin"
			if _, err := rc.TryExpect(150, "RETR big.bin"); err != nil {
				t.Fatal(err)
			}
			x.h = sha256.New()
			if _, err := io.CopyN(x.h, data, firstChunk); err != nil {
				t.Fatal(err)
			}
			x.n = firstChunk
		}
		xs = append(xs, x)
	}
	if strings.Contains(f.Logs(), `msg="transfer complete"`) {
		t.Fatal("a transfer completed before the signal: the test would not show anything")
	}
	return xs
}

// finish completes every transfer at once and checks that each ended with
// 226 and the right bytes. It returns the number that did.
func finish(t *testing.T, f *testutil.Daemon, xs []*transfer) int {
	t.Helper()
	big := sha256.Sum256(payload(1, downloadSize))
	up := payload(2, uploadSize)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i, x := range xs {
		wg.Go(func() {
			var err error
			if x.upload {
				if _, err = x.data.Write(up[firstChunk:]); err == nil {
					err = x.data.Close()
				}
			} else {
				var n int64
				n, err = io.Copy(x.h, x.data)
				x.n += n
				if err == nil && (x.n != downloadSize || !bytes.Equal(x.h.Sum(nil), big[:])) {
					err = fmt.Errorf("downloaded %d bytes, sha256 %x", x.n, x.h.Sum(nil))
				}
			}
			code, msg, rerr := x.rc.TryReply()
			if err == nil && (rerr != nil || code != 226) {
				err = fmt.Errorf("final reply %d %q %v", code, msg, rerr)
			}
			if err == nil && x.upload {
				got, rerr := os.ReadFile(filepath.Join(f.Root, x.name))
				if rerr != nil || !bytes.Equal(got, up) {
					err = fmt.Errorf("uploaded file: %d bytes, %v", len(got), rerr)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("transfer %d (%s %s): %v", i, map[bool]string{true: "STOR", false: "RETR"}[x.upload], x.name, err)
				return
			}
			ok++
		})
	}
	wg.Wait()
	return ok
}

// TestSIGHUPDuring50Transfers: a reload (with a changed config) while 50
// transfers run: every one completes with 226 and the right bytes, the new
// config is in force for the next session, and the transfer log has 50
// complete transfers.
// Guards: reload touching nothing of running sessions (they keep their
// config snapshot, their passive state and their files).
func TestSIGHUPDuring50Transfers(t *testing.T) {
	f := newFixture(t, busyOptions(testutil.DaemonOptions{Banner: "before reload"}))
	d := f.Serve()
	xs := startTransfers(t, f, transfers)

	f.EditConfig(`banner = "before reload"`, `banner = "after reload"`)
	d.Signal(syscall.SIGHUP)
	f.WaitLog(regexp.MustCompile(`msg="config reloaded for new sessions"`), 10*time.Second)

	if ok := finish(t, f, xs); ok != transfers {
		t.Errorf("%d of %d transfers completed after SIGHUP", ok, transfers)
	}
	if d.Exited() {
		t.Fatalf("the daemon exited on SIGHUP: %v", d.Err())
	}
	rc, err := f.TryClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if !strings.Contains(rc.Greeting, "after reload") {
		t.Errorf("new session after reload got banner %q", rc.Greeting)
	}
	f.WaitXfer(transfers, 10*time.Second)
	for i, s := range f.Xfer() {
		if s != "c" {
			t.Errorf("xferlog line %d: status %s, want c", i+1, s)
		}
	}
	t.Logf("SIGHUP during %d transfers: %d complete", transfers, len(f.Xfer()))
}

// TestSIGTERMDuring50Transfers: SIGTERM while 50 transfers run: no new
// connection is accepted, every running transfer completes (226, right
// bytes) within shutdown_timeout, then the process exits 0. Every
// "transfer complete" is logged after "shutting down", so all 50 were
// really running when the signal came.
// Guards: the draining shutdown (Server.Shutdown waits for busy sessions).
func TestSIGTERMDuring50Transfers(t *testing.T) {
	const shutdownTimeout = 60 * time.Second
	f := newFixture(t, busyOptions(testutil.DaemonOptions{ShutdownTimeout: shutdownTimeout.String()}))
	d := f.Serve()
	xs := startTransfers(t, f, transfers)

	start := time.Now()
	d.Signal(syscall.SIGTERM)
	f.WaitLog(regexp.MustCompile(`msg="shutting down" signal=terminated`), 10*time.Second)
	if c, err := net.DialTimeout("tcp", f.Addr, 2*time.Second); err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if strings.HasPrefix(string(b), "220") {
			t.Errorf("a new connection was served during the shutdown: %q", b)
		}
	}
	if ok := finish(t, f, xs); ok != transfers {
		t.Errorf("%d of %d transfers completed after SIGTERM", ok, transfers)
	}
	code, _ := d.TryWait(shutdownTimeout)
	elapsed := time.Since(start)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM (-1: still running after %v)", code, shutdownTimeout)
	}
	f.WaitXfer(transfers, 10*time.Second)
	for i, s := range f.Xfer() {
		if s != "c" {
			t.Errorf("xferlog line %d: status %s, want c", i+1, s)
		}
	}
	logs := f.Logs()
	shut := strings.Index(logs, `msg="shutting down"`)
	if first := strings.Index(logs, `msg="transfer complete"`); first < shut {
		t.Errorf("a transfer completed before the signal")
	}
	t.Logf("SIGTERM during %d transfers: %d complete, exit %d after %v", transfers, len(f.Xfer()), code, elapsed.Round(time.Millisecond))
}

// TestSIGTERMCutsStalledTransfersAsIncomplete: when running transfers do not
// finish within shutdown_timeout (the clients stopped reading), the daemon
// exits after shutdown_timeout anyway, and none of them is reported as
// complete: no 226, no xferlog "c".
// Guards: the forced end of the drain, and the transfer records telling a
// cut transfer from a complete one.
func TestSIGTERMCutsStalledTransfersAsIncomplete(t *testing.T) {
	const n = 10
	f := newFixture(t, busyOptions(testutil.DaemonOptions{ShutdownTimeout: "2s"}))
	d := f.Serve()
	xs := startTransfers(t, f, n)

	start := time.Now()
	d.Signal(syscall.SIGTERM)
	code, exited := d.TryWait(20 * time.Second)
	elapsed := time.Since(start)
	if !exited {
		t.Fatal("the daemon still runs 20s after SIGTERM with a 2s shutdown_timeout")
	}
	if elapsed < 2*time.Second {
		t.Errorf("the daemon exited %v after SIGTERM, before shutdown_timeout (2s)", elapsed)
	}
	for i, x := range xs {
		if x.upload {
			x.data.Close() // a FIN: would look complete if the server still read it
		}
		x.rc.C.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, _ := io.ReadAll(x.rc.R)
		if bytes.Contains(rest, []byte("226 ")) {
			t.Errorf("transfer %d cut by the shutdown got a 226: %q", i, rest)
		}
	}
	st := f.Xfer()
	for i, s := range st {
		if s != "i" {
			t.Errorf("xferlog line %d: %s, want i (the transfer was cut)", i+1, s)
		}
	}
	if len(st) != n {
		t.Errorf("%d xferlog lines for %d cut transfers", len(st), n)
	}
	t.Logf("SIGTERM with %d stalled transfers: exit %d after %v; xferlog statuses %v", n, code, elapsed.Round(time.Millisecond), st)
}
