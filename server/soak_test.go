package server

// Load and soak (issue 6, item 5): 500 concurrent sessions doing mixed
// LIST/RETR/STOR, then every resource the daemon holds is measured against
// its baseline. A few seconds by default; TUNNELFTPD_LONG=1 runs it for
// three minutes (TUNNELFTPD_SOAK=<duration> sets another length).

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// TestSoak500Sessions: 500 sessions log in and stay connected together,
// then each runs LIST, RETR (checked byte for byte) and STOR (checked on
// disk) in a loop for the soak time, through a 10-port passive range. After
// they quit, the process's open fds, goroutines and listening sockets in the
// passive range are back to where they were before, and no passive port is
// busy.
// Guards: every per-session and per-transfer resource being released
// (control and data connections, passive listeners and their pool slots,
// files, the stall watchdog, library goroutines), under load.
func TestSoak500Sessions(t *testing.T) {
	const sessions = 500
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	if longRun() {
		dur = 3 * time.Minute
	}
	if v := os.Getenv("TUNNELFTPD_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TUNNELFTPD_SOAK=%q: %v", v, err)
		}
		dur = d
	}
	raiseFDLimit(t, 4*sessions+1000) // each session: control + data, both ends in this process

	ts := startServer(t, 10, func(c *config.Config) {
		c.MaxSessions = sessions + 10
		c.Passive.Wait = config.Duration{Duration: 30 * time.Second}
		c.IdleTimeout = config.Duration{Duration: 2 * time.Minute}
		// A stall watchdog ends at its first tick (data_timeout/4, at most
		// 5s) after its transfer: a short one lets the count settle sooner.
		c.DataTimeout = config.Duration{Duration: 4 * time.Second}
	})
	first, last := ts.cfg.Passive.First, ts.cfg.Passive.Last
	payload := make([]byte, 128<<10)
	rand.Read(payload)
	want := sha256.Sum256(payload)
	os.Mkdir(filepath.Join(ts.Root, "pub"), 0o755)
	os.WriteFile(filepath.Join(ts.Root, "pub", "data.bin"), payload, 0o644)
	for i := range 20 {
		os.WriteFile(filepath.Join(ts.Root, "pub", fmt.Sprintf("f%02d", i)), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(ts.Root, "up"), 0o755)
	upload := bytes.Repeat([]byte("u"), 64<<10)

	// Baseline: one session has run, so the runtime's pools exist.
	warm := ts.login(t, testUser, true)
	warm.Quit()
	waitFor(t, 5*time.Second, "the warm-up session to end", func() bool { return ts.Sessions() == 0 })
	baseG := baselineGoroutines()
	runtime.GC()
	baseFD, baseFDs := openFDs(t), fdTargets()
	baseListen := listeningPorts(t, first, last)

	var lists, retrs, stors, busy425, bytesMoved atomic.Int64
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	loginStart := time.Now()
	var loggedIn, done sync.WaitGroup
	loggedIn.Add(sessions)
	start := make(chan struct{})
	var deadline time.Time
	for i := range sessions {
		done.Add(1)
		go func() {
			defer done.Done()
			c, err := ftp.Dial(ts.Addr, ftp.DialWithTimeout(60*time.Second))
			if err == nil {
				err = c.Login(testUser, testPassword)
			}
			loggedIn.Done()
			if err != nil {
				fail("session %d: %v", i, err)
				return
			}
			defer c.Quit()
			<-start
			for k := 0; time.Now().Before(deadline); k++ {
				var err error
				switch (i + k) % 3 {
				case 0:
					var es []*ftp.Entry
					if es, err = c.List("/pub"); err == nil && len(es) != 21 {
						err = fmt.Errorf("LIST /pub: %d entries", len(es))
					}
					lists.Add(1)
				case 1:
					var r *ftp.Response
					if r, err = c.Retr("/pub/data.bin"); err == nil {
						h := sha256.New()
						n, _ := io.Copy(h, r)
						err = r.Close()
						if err == nil && !bytes.Equal(h.Sum(nil), want[:]) {
							err = fmt.Errorf("RETR: %d bytes, wrong content", n)
						}
						bytesMoved.Add(n)
					}
					retrs.Add(1)
				case 2:
					name := fmt.Sprintf("/up/s%03d-%d", i, k)
					if err = c.Stor(name, bytes.NewReader(upload)); err == nil {
						if fi, serr := os.Stat(filepath.Join(ts.Root, name)); serr != nil || fi.Size() != int64(len(upload)) {
							err = fmt.Errorf("STOR %s: on disk %v %v", name, fi, serr)
						}
						bytesMoved.Add(int64(len(upload)))
						os.Remove(filepath.Join(ts.Root, name)) // keep the disk use flat
					}
					stors.Add(1)
				}
				if err != nil {
					if strings.HasPrefix(err.Error(), "425") {
						busy425.Add(1) // every port busy for passive.wait: allowed, counted
						continue
					}
					fail("session %d: %v", i, err)
					return
				}
			}
		}()
	}
	loggedIn.Wait()
	t.Logf("%d sessions logged in after %v", sessions, time.Since(loginStart).Round(time.Millisecond))
	if n := ts.Sessions(); n != sessions {
		t.Errorf("%d sessions running at once, want %d", n, sessions)
	}
	peakFD, peakG := openFDs(t), runtime.NumGoroutine()
	began := time.Now()
	deadline = began.Add(dur)
	close(start)
	done.Wait()
	elapsed := time.Since(began)
	t.Logf("load done after %v", elapsed.Round(time.Millisecond))
	settled := time.Now()

	waitFor(t, 30*time.Second, "every session to end", func() bool { return ts.Sessions() == 0 })
	g := settleGoroutines(baseG+goroutineSlack, 20*time.Second)
	fd := settleFDs(t, baseFD, 20*time.Second)
	listen := listeningPorts(t, first, last)
	t.Logf("resources settled after %v", time.Since(settled).Round(time.Millisecond))
	t.Logf("soak: %d sessions for %v: %d LIST, %d RETR, %d STOR (%d MiB), %d waits ending in 425; "+
		"fds %d before, %d at peak, %d after; goroutines %d before, %d at peak, %d after; "+
		"listening passive ports %d before, %d after; passive ports busy after: %d",
		sessions, elapsed.Round(100*time.Millisecond), lists.Load(), retrs.Load(), stors.Load(), bytesMoved.Load()>>20,
		busy425.Load(), baseFD, peakFD, fd, baseG, peakG, g, len(baseListen), len(listen), ts.PassivePortsBusy())
	for _, f := range failures {
		t.Error(f)
	}
	if lists.Load() == 0 || retrs.Load() == 0 || stors.Load() == 0 {
		t.Error("some kind of operation never ran")
	}
	if g > baseG+goroutineSlack {
		t.Errorf("goroutines: %d before, %d after", baseG, g)
	}
	if fd > baseFD {
		t.Errorf("open fds: %d before, %d after\nbefore: %s\nafter:  %s", baseFD, fd, baseFDs, fdTargets())
	}
	if len(listen) != 0 {
		t.Errorf("passive ports still listening: %v", listen)
	}
	if n := ts.PassivePortsBusy(); n != 0 {
		t.Errorf("%d passive ports busy after the soak", n)
	}
}

// raiseFDLimit raises this process's soft RLIMIT_NOFILE to at least n (up
// to the hard limit), restoring it when the test ends.
func raiseFDLimit(t *testing.T, n uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur >= n {
		return
	}
	if old.Max < n {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d this test needs", old.Max, n)
	}
	lim := old
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}
