package server

// Fuzz target (issue 6, item 3; FuzzParseConfig is in server/config). `go
// test` runs the seed corpus in testdata/fuzz/FuzzCommandStream/ and the
// seeds added below; .ci/run fuzzes it for a bounded number of inputs:
//
//	go test -run='^$' -fuzz='^FuzzCommandStream$' -fuzztime=1000x -fuzzminimizetime=10x ./server/
//
// -fuzzminimizetime bounds the minimizing of each new input: a live server's
// coverage varies from run to run (goroutine scheduling), so nearly every
// input looks new, and minimizing each for the default 60s would leave no
// time to fuzz.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// quietTB is a testing.TB for the server a fuzz target shares between its
// inputs: the F's own Log and Helper must not be called from inside the fuzz
// function, and the server's goroutines log through them.
type quietTB struct{ testing.TB }

func (quietTB) Helper()             {}
func (quietTB) Log(...any)          {}
func (quietTB) Logf(string, ...any) {}

// FuzzCommandStream writes the fuzzer's bytes as the control stream of a
// logged-in session on a live server, then closes its side. For every
// input: no panic (neither a crashed session nor a command the library had
// to recover), the session ends, the server still accepts a connection and
// a login, and the goroutines come back to their baseline.
func FuzzCommandStream(f *testing.F) {
	ts := startServer(quietTB{f}, 2, func(c *config.Config) {
		c.Passive.Wait = config.Duration{Duration: 0}
		c.Passive.AcceptTimeout = config.Duration{Duration: time.Second}
		c.DataTimeout = config.Duration{Duration: time.Second}
		c.IdleTimeout = config.Duration{Duration: 5 * time.Second}
		c.Auth.FailDelay = config.Duration{Duration: 0}
		c.Auth.MaxLoginAttempts = 100
	})
	os.WriteFile(filepath.Join(ts.Root, "inside.txt"), []byte("inside"), 0o644)
	os.Mkdir(filepath.Join(ts.Root, "dir"), 0o755)
	for _, seed := range []string{
		"NOOP\r\nPWD\r\nQUIT\r\n",
		"PASV\r\nRETR inside.txt\r\nABOR\r\n",
		"CWD dir\r\nCDUP\r\nMKD x\r\nRMD x\r\nRNFR inside.txt\r\nRNTO inside.txt\r\n",
		"USER alice\r\nPASS wrong\r\nUSER alice\r\n",
		"SIZE ../../etc/passwd\r\nMLST \x00\r\nSTAT /\r\nXYZZY\r\n",
		"\xff\xf4\xff\xf2ABOR\r\nREST 99999999999999999999\r\nTYPE X\r\nMODE Z\r\nOPTS\r\n",
	} {
		f.Add([]byte(seed))
	}

	session := func(script []byte) error { return fuzzSession(ts.Addr, script) }

	if err := session(nil); err != nil {
		f.Fatal(err)
	}
	waitFor(f, 5*time.Second, "the warm-up session to end", func() bool { return ts.Sessions() == 0 })
	baseline := baselineGoroutines()
	ts.Logs.TakeAll()

	f.Fuzz(func(t *testing.T, script []byte) {
		if err := session(script); err != nil {
			t.Fatalf("fuzzed session: %v", err)
		}
		// A fresh session still logs in and works.
		if err := session([]byte("NOOP\r\nQUIT\r\n")); err != nil {
			t.Fatalf("the server no longer serves after %q: %v", script, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for ts.Sessions() != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := ts.Sessions(); n != 0 {
			t.Fatalf("%d sessions still running after %q", n, script)
		}
		if g := settleGoroutines(baseline+goroutineSlack, 10*time.Second); g > baseline+goroutineSlack {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d at baseline, %d after %q\n%s", baseline, g, script, buf[:runtime.Stack(buf, true)])
		}
		logs := ts.Logs.TakeAll()
		for _, bad := range []string{"session crashed", "Internal command handling error"} {
			if strings.Contains(logs, bad) {
				t.Fatalf("%q after %q:\n%s", bad, script, logs)
			}
		}
	})
}

// fuzzSession logs in on addr, writes script as the control stream while
// reading the replies, then closes its sending side and waits for the server
// to end the session. It plays a real client's part for data connections:
// for every 227/229 reply it connects to the port, sends nothing and reads
// whatever comes, so transfer commands in the script finish at once instead
// of waiting accept_timeout each. It returns an error if the server does not
// close the connection within 20 seconds.
func fuzzSession(addr string, script []byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	rc := &testutil.RawConn{C: c, R: bufio.NewReader(c)} // used with TryReply only: no T needed
	if code, _, err := rc.TryReply(); err != nil || code != 220 {
		return fmt.Errorf("greeting: %d %v", code, err)
	}
	for _, l := range []string{"USER " + testUser, "PASS " + testPassword} {
		fmt.Fprintf(c, "%s\r\n", l)
		if code, msg, err := rc.TryReply(); err != nil || code >= 400 {
			return fmt.Errorf("%s: %d %s %v", l, code, msg, err)
		}
	}
	if script == nil {
		script = []byte("QUIT\r\n")
	}
	go func() {
		c.Write(script) // fails if the server closes first (QUIT in the script)
		c.(*net.TCPConn).CloseWrite()
	}()

	var data sync.WaitGroup
	defer data.Wait()
	for {
		line, err := rc.R.ReadString('\n')
		if err != nil {
			if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
				return nil
			}
			return fmt.Errorf("waiting for the server to close: %w", err)
		}
		port := 0
		if strings.HasPrefix(line, "227 ") {
			_, port, _ = testutil.ParsePASV(line)
		} else if strings.HasPrefix(line, "229 ") {
			port, _ = testutil.ParseEPSV(line)
		}
		if port == 0 {
			continue
		}
		data.Add(1)
		go func() {
			defer data.Done()
			d, err := dialData(port)
			if err != nil {
				return // the port was given up already (a later PASV)
			}
			defer d.Close()
			d.SetDeadline(time.Now().Add(10 * time.Second))
			d.(*net.TCPConn).CloseWrite() // an upload ends at once, empty
			io.Copy(io.Discard, d)
		}()
	}
}
