package reliability

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	transfers    = 50       // half downloads, half uploads
	downloadSize = 32 << 20 // more than the loopback buffers hold once the client stops reading
	uploadSize   = 8 << 20
	firstChunk   = 256 << 10 // moved before the signal
)

// transfer is one of the running transfers.
type transfer struct {
	k      *ctl
	data   net.Conn
	upload bool
	name   string
	h      interface{ Sum([]byte) []byte } // downloads: hash of what arrived
	w      io.Writer
	n      int64
}

// startTransfers starts transfers RETR/STOR on the daemon of f and moves
// the first chunk of each, so that every one of them is running (the server
// is blocked sending, or waiting for more upload data) when it returns.
func startTransfers(t *testing.T, f *fixture, n int) []*transfer {
	t.Helper()
	big := payload(1, downloadSize)
	if err := os.WriteFile(filepath.Join(f.root, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	up := payload(2, uploadSize)
	var xs []*transfer
	for i := range n {
		k, _, err := login(loopback, f.addr)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		t.Cleanup(func() { k.c.Close() })
		data, err := k.dataConn(loopback, "127.0.0.1")
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		t.Cleanup(func() { data.Close() })
		x := &transfer{k: k, data: data, upload: i%2 == 1}
		if x.upload {
			x.name = fmt.Sprintf("up-%02d.bin", i)
			if err := k.expect(150, "STOR "+x.name); err != nil {
				t.Fatal(err)
			}
			if _, err := data.Write(up[:firstChunk]); err != nil {
				t.Fatal(err)
			}
		} else {
			x.name = "big.bin"
			if err := k.expect(150, "RETR big.bin"); err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			x.h, x.w = h, h
			if err := readN(data, h, firstChunk); err != nil {
				t.Fatal(err)
			}
			x.n = firstChunk
		}
		xs = append(xs, x)
	}
	if strings.Contains(f.logs(), `msg="transfer complete"`) {
		t.Fatal("a transfer completed before the signal: the test would not show anything")
	}
	return xs
}

// finish completes every transfer at once and checks that each ended with
// 226 and the right bytes. It returns the number that did.
func finish(t *testing.T, f *fixture, xs []*transfer) int {
	t.Helper()
	big := sha256.Sum256(payload(1, downloadSize))
	up := payload(2, uploadSize)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i, x := range xs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if x.upload {
				if _, err = x.data.Write(up[firstChunk:]); err == nil {
					err = x.data.Close()
				}
			} else {
				var n int64
				n, err = io.Copy(x.w, x.data)
				x.n += n
				if err == nil && (x.n != downloadSize || !bytes.Equal(x.h.Sum(nil), big[:])) {
					err = fmt.Errorf("downloaded %d bytes, sha256 %x", x.n, x.h.Sum(nil))
				}
			}
			code, msg, rerr := x.k.reply()
			if err == nil && (rerr != nil || code != 226) {
				err = fmt.Errorf("final reply %d %q %v", code, msg, rerr)
			}
			if err == nil && x.upload {
				got, rerr := os.ReadFile(filepath.Join(f.root, x.name))
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
		}()
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
	f := newFixture(t, settings{banner: "before reload"})
	d := f.startDaemon()
	xs := startTransfers(t, f, transfers)

	cfg, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	f.writeConfig(strings.Replace(string(cfg), `banner = "before reload"`, `banner = "after reload"`, 1))
	d.signal(t, syscall.SIGHUP)
	f.waitLog(regexp.MustCompile(`msg="config reloaded for new sessions"`), 10*time.Second)

	if ok := finish(t, f, xs); ok != transfers {
		t.Errorf("%d of %d transfers completed after SIGHUP", ok, transfers)
	}
	if d.exited() {
		t.Fatalf("the daemon exited on SIGHUP: %v", d.err)
	}
	k, banner, err := login(loopback, f.addr)
	if err != nil {
		t.Fatal(err)
	}
	k.c.Close()
	if !strings.Contains(banner, "after reload") {
		t.Errorf("new session after reload got banner %q", banner)
	}
	waitXfer(t, f, transfers)
	for i, s := range f.xfer() {
		if s != "c" {
			t.Errorf("xferlog line %d: status %s, want c", i+1, s)
		}
	}
	t.Logf("SIGHUP during %d transfers: %d complete", transfers, len(f.xfer()))
}

// TestSIGTERMDuring50Transfers: SIGTERM while 50 transfers run: no new
// connection is accepted, every running transfer completes (226, right
// bytes) within shutdown_timeout, then the process exits 0. Every
// "transfer complete" is logged after "shutting down", so all 50 were
// really running when the signal came.
// Guards: the draining shutdown (Server.Shutdown waits for busy sessions).
func TestSIGTERMDuring50Transfers(t *testing.T) {
	const shutdownTimeout = 60 * time.Second
	f := newFixture(t, settings{shutdownTimeout: shutdownTimeout.String()})
	d := f.startDaemon()
	xs := startTransfers(t, f, transfers)

	start := time.Now()
	d.signal(t, syscall.SIGTERM)
	f.waitLog(regexp.MustCompile(`msg="shutting down" signal=terminated`), 10*time.Second)
	if c, err := net.DialTimeout("tcp", f.addr, 2*time.Second); err == nil {
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
	code := d.wait(shutdownTimeout)
	elapsed := time.Since(start)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM (-1: still running after %v)", code, shutdownTimeout)
	}
	waitXfer(t, f, transfers)
	for i, s := range f.xfer() {
		if s != "c" {
			t.Errorf("xferlog line %d: status %s, want c", i+1, s)
		}
	}
	logs := f.logs()
	shut := strings.Index(logs, `msg="shutting down"`)
	if first := strings.Index(logs, `msg="transfer complete"`); first < shut {
		t.Errorf("a transfer completed before the signal")
	}
	t.Logf("SIGTERM during %d transfers: %d complete, exit %d after %v", transfers, len(f.xfer()), code, elapsed.Round(time.Millisecond))
}

// TestSIGTERMCutsStalledTransfersAsIncomplete: when running transfers do not
// finish within shutdown_timeout (the clients stopped reading), the daemon
// exits after shutdown_timeout anyway, and none of them is reported as
// complete: no 226, no xferlog "c".
// Guards: the forced end of the drain, and the transfer records telling a
// cut transfer from a complete one.
func TestSIGTERMCutsStalledTransfersAsIncomplete(t *testing.T) {
	const n = 10
	f := newFixture(t, settings{shutdownTimeout: "2s"})
	d := f.startDaemon()
	xs := startTransfers(t, f, n)

	start := time.Now()
	d.signal(t, syscall.SIGTERM)
	code := d.wait(20 * time.Second)
	elapsed := time.Since(start)
	if code == -1 {
		t.Fatal("the daemon still runs 20s after SIGTERM with a 2s shutdown_timeout")
	}
	if elapsed < 2*time.Second {
		t.Errorf("the daemon exited %v after SIGTERM, before shutdown_timeout (2s)", elapsed)
	}
	for i, x := range xs {
		if x.upload {
			x.data.Close() // a FIN: would look complete if the server still read it
		}
		x.k.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, _ := io.ReadAll(x.k.r)
		if bytes.Contains(rest, []byte("226 ")) {
			t.Errorf("transfer %d cut by the shutdown got a 226: %q", i, rest)
		}
	}
	st := f.xfer()
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

// waitXfer waits until the transfer log has n lines.
func waitXfer(t *testing.T, f *fixture, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.xfer()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("xferlog has %d lines, want %d", len(f.xfer()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
