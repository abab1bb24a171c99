package server

// Hostile input over FTP (issue 6, items 1 and 2): path attacks with hostile
// names and symlink races, and protocol abuse. The plain `..`, absolute-path
// and pre-existing-symlink attacks are TestPathEscapes (files_test.go) over
// FTP and TestConfinement (driver/confine_test.go) on the driver.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
	"github.com/tunnelftpd/tunnelftpd/server/passive"
)

const (
	secretText    = "TOP SECRET"
	outsideMarker = "OUTSIDE_MARKER"
)

// outsideFixture puts a secret file and a marker next to (outside) alice's
// root, and returns the directory that holds them.
func outsideFixture(t *testing.T, ts *testServer) string {
	t.Helper()
	outside := filepath.Dir(ts.Root)
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(secretText), 0o644)
	os.WriteFile(filepath.Join(outside, outsideMarker), nil, 0o644)
	return outside
}

// leaks reports whether b shows anything from outside the root.
func leaks(b []byte, outside string) bool {
	return bytes.Contains(b, []byte(secretText)) || bytes.Contains(b, []byte(outsideMarker)) ||
		bytes.Contains(b, []byte(outside+"/"))
}

// pathCommands are every command that takes a path, with how to run it:
// over the control connection, or with a data connection.
var pathCommands = []struct {
	cmd  string
	data bool
}{
	{"CWD", false}, {"XCWD", false}, {"DELE", false}, {"RNFR", false}, {"RNTO", false},
	{"MKD", false}, {"XMKD", false}, {"RMD", false}, {"XRMD", false}, {"SIZE", false},
	{"MDTM", false}, {"MFMT", false}, {"MLST", false}, {"STAT", false}, {"AVBL", false},
	{"XCRC", false}, {"MD5", false}, {"XSHA256", false}, {"HASH", false},
	{"RETR", true}, {"STOR", true}, {"APPE", true}, {"LIST", true}, {"NLST", true}, {"MLSD", true},
}

// hostileNames are paths no FTP client sends by accident: NUL, CR inside the
// line, telnet IAC sequences, percent-encoding, invalid and overlong UTF-8,
// and names of about 4 KiB (the longest a 4 KiB command line can carry).
// Each is combined with `..` and with the outside directory's host path.
func hostileNames(outside string) []string {
	long := strings.Repeat("a", 4000)
	dotdots := strings.Repeat("../", 1320) + "secret.txt" // ~4 KiB of ..
	return []string{
		// NUL: the driver refuses any name holding one.
		"\x00", "secret.txt\x00", "../secret.txt\x00", "inside.txt\x00/../../secret.txt",
		"..\x00/..\x00/secret.txt", outside + "/secret.txt\x00",
		// CR inside the line (a bare LF ends the line; "\r\n" cannot be
		// sent inside a name).
		"a\rb", "../\r../secret.txt", "..\r/secret.txt", "\r", "inside.txt\r",
		// Telnet IAC IP / IAC DM (what clients send before ABOR), and an
		// IAC-escaped 0xFF.
		"\xff\xf4\xff\xf2../secret.txt", "..\xff\xf4/secret.txt", "\xff\xff../secret.txt",
		// Percent-encoding is not decoded: these are plain names inside.
		"%2e%2e/secret.txt", "%2e%2e%2fsecret.txt", "..%2fsecret.txt", "%2F..%2F..%2Fsecret.txt",
		"..%00/secret.txt",
		// Invalid UTF-8, including overlong encodings of "." and "/".
		"\xc0\xae\xc0\xae/secret.txt", "..\xc0\xafsecret.txt", "\xff\xfe/../secret.txt",
		"\xed\xa0\x80", "\xf8\x88\x80\x80\x80",
		// Backslashes are not separators.
		`..\secret.txt`, `..\..\secret.txt`,
		// About 4 KiB.
		long, long[:255], long[:256], dotdots, "../" + long,
	}
}

// TestHostileNamesEveryPathCommand sends every path command with every
// hostile name (and RNTO with each as the destination), counts the attempts
// and checks that none escaped: nothing from outside the root in any reply
// or data, nothing outside changed or created, and every name still
// holding a NUL once the library has cleaned the path refused.
// Guards: os.Root confinement and the NUL check in the driver, reached
// through the library's parsing of hostile lines.
func TestHostileNamesEveryPathCommand(t *testing.T) {
	ts := startServer(t, 2, nil)
	outside := outsideFixture(t, ts)
	os.WriteFile(filepath.Join(ts.Root, "inside.txt"), []byte("inside"), 0o644)
	before := snapshot(t, outside, ts.Root)

	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	attempts, escapes, refused := 0, 0, 0
	escape := func(format string, args ...any) {
		escapes++
		t.Errorf(format, args...)
	}
	for _, name := range hostileNames(outside) {
		for _, pc := range pathCommands {
			attempts++
			var code int
			var out []byte
			switch {
			case pc.data:
				out = tryData(t, rc, pc.cmd+" "+name)
				code = 150
				if out == nil {
					code = 550 // tryData returns nil when the command was refused
				}
			case pc.cmd == "RNTO":
				// The hostile name as the destination of a rename.
				if _, err := os.Stat(filepath.Join(ts.Root, "inside.txt")); err != nil {
					os.WriteFile(filepath.Join(ts.Root, "inside.txt"), []byte("inside"), 0o644)
				}
				rc.Expect(350, "RNFR inside.txt")
				var msg string
				code, msg = rc.Cmd("RNTO %s", name)
				out = []byte(msg)
			case pc.cmd == "MFMT":
				var msg string
				code, msg = rc.Cmd("MFMT 20010101000000 %s", name)
				out = []byte(msg)
			default:
				var msg string
				code, msg = rc.Cmd("%s %s", pc.cmd, name)
				out = []byte(msg)
				switch {
				case pc.cmd == "RNFR" && code == 350:
					rc.Cmd("RNTO renamed-%d", attempts)
				case (pc.cmd == "CWD" || pc.cmd == "XCWD") && code == 250:
					pwd := rc.Expect(257, "PWD")
					if strings.Contains(pwd, outside) {
						escape("%s %q: PWD %s", pc.cmd, name, pwd)
					}
					rc.Expect(250, "CWD /")
				}
			}
			if code >= 400 {
				refused++
			}
			if leaks(out, outside) && !strings.Contains(name, outside) {
				escape("%s %q: reply or data shows the outside: %q", pc.cmd, name, out)
			}
			// The library cleans the path first ("a\x00/.." is "/"); a NUL
			// that survives cleaning must be refused (202 is "not
			// implemented", for AVBL).
			if strings.IndexByte(path.Clean("/"+name), 0) >= 0 && code > 0 && code < 400 && code != 202 {
				t.Errorf("%s %q: a name with NUL was accepted (%d)", pc.cmd, name, code)
			}
		}
	}
	rc.Expect(200, "NOOP") // the session survived all of it

	// A 4 KiB name does not fit a command line: the connection is closed
	// (TestLongCommandLine); nothing is run.
	for _, pc := range pathCommands {
		attempts++
		refused++
		c := dialRaw(t, ts.Addr)
		c.Login(testUser, testPassword)
		fmt.Fprintf(c.C, "%s %s\r\n", pc.cmd, strings.Repeat("../", 1366)+"secret.txt")
		c.C.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, _ := io.ReadAll(c.R); leaks(b, outside) {
			escape("%s with a 4 KiB name: %q", pc.cmd, b)
		}
	}

	after := snapshot(t, outside, ts.Root)
	for k, v := range before {
		if after[k] != v {
			escape("outside file %s changed: %q -> %q", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			escape("created outside the root: %s", k)
		}
	}
	t.Logf("hostile names: %d attempts over FTP, %d refused, %d escapes", attempts, refused, escapes)
	if escapes != 0 {
		t.Fatalf("%d escapes", escapes)
	}
}

// TestSymlinkRace swaps directories inside the root with symlinks to a
// directory outside (atomically, with renameat2 RENAME_EXCHANGE) as fast as
// it can, while clients use paths through them with every kind of command.
// A check-then-use gap anywhere between the library and the kernel would
// let one of them read, list, create, change or remove something outside.
// Guards: os.Root resolving every path in the kernel on each use, never a
// path checked earlier.
func TestSymlinkRace(t *testing.T) {
	ts := startServer(t, 5, func(c *config.Config) { c.MaxSessions = 20 })
	outside := outsideFixture(t, ts)
	// Outside: the files the race could reach, told apart from the inside
	// ones by size, mtime and content.
	od := filepath.Join(outside, "target")
	os.Mkdir(od, 0o755)
	os.WriteFile(filepath.Join(od, "f"), []byte(secretText), 0o644) // 10 bytes
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(od, "f"), old, old)
	os.WriteFile(filepath.Join(od, outsideMarker), nil, 0o644)
	os.WriteFile(filepath.Join(od, "victim"), []byte("victim"), 0o644)
	os.WriteFile(filepath.Join(od, "appendme"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(od, "emptydir"), 0o755)

	// Inside: d1 and d2 are directories; l1 (absolute) and l2 (relative)
	// are links to the outside directory. The swapper exchanges d1<->l1 and
	// d2<->l2, so "d1" and "d2" are a directory one moment, a link the next.
	for i, target := range []string{od, "../target"} {
		d := filepath.Join(ts.Root, fmt.Sprintf("d%d", i+1))
		os.Mkdir(d, 0o755)
		os.WriteFile(filepath.Join(d, "f"), []byte("INSIDE"), 0o644) // 6 bytes
		if err := os.Symlink(target, filepath.Join(ts.Root, fmt.Sprintf("l%d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, outside, ts.Root)

	dur := 2 * time.Second
	if longRun() {
		dur = 60 * time.Second
	}
	stop := make(chan struct{})
	var swaps atomic.Int64
	swapDone := make(chan error, 1)
	go func() {
		// Bounded by stop (dur) and by a count.
		for i := 0; i < 50_000_000; i++ {
			select {
			case <-stop:
				swapDone <- nil
				return
			default:
			}
			n := i%2 + 1
			a, b := filepath.Join(ts.Root, fmt.Sprintf("d%d", n)), filepath.Join(ts.Root, fmt.Sprintf("l%d", n))
			if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
				swapDone <- fmt.Errorf("renameat2: %w", err)
				return
			}
			swaps.Add(1)
		}
		swapDone <- nil
	}()

	const clients = 4
	var attempts, escapes atomic.Int64
	var mu sync.Mutex
	var problems []string
	report := func(format string, args ...any) {
		escapes.Add(1)
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for c := range clients {
		rc := dialRaw(t, ts.Addr)
		rc.Login(testUser, testPassword)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 6))
			for k := 0; time.Now().Before(deadline); k++ {
				d := fmt.Sprintf("d%d", r.IntN(2)+1)
				attempts.Add(1)
				if err := raceOnce(rc, d, c, k, r.IntN(12), report); err != nil {
					report("client %d: %v", c, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-swapDone; err != nil {
		t.Fatal(err)
	}

	after := snapshot(t, outside, ts.Root)
	for k, v := range before {
		if after[k] != v {
			report("outside file %s changed: %q -> %q", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			report("created outside the root: %s", k)
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("symlink race: %d attempts by %d clients during %d directory/symlink swaps, %d escapes",
		attempts.Load(), clients, swaps.Load(), escapes.Load())
	if escapes.Load() != 0 {
		t.Fatalf("%d escapes", escapes.Load())
	}
}

var sizeRe = regexp.MustCompile(`(?i)size=(\d+)`)

// raceOnce runs one command of kind op through directory d (which the
// swapper keeps turning into a link to the outside) and reports anything
// that came from outside. It runs on a client goroutine, so it returns
// errors rather than failing the test.
func raceOnce(rc *testutil.RawConn, d string, c, k, op int, report func(string, ...any)) error {
	cmd := func(line string) (int, string, error) {
		if _, err := fmt.Fprintf(rc.C, "%s\r\n", line); err != nil {
			return 0, "", err
		}
		return rc.TryReply()
	}
	check := func(line, reply string) {
		if strings.Contains(reply, secretText) || strings.Contains(reply, outsideMarker) {
			report("%s: %q", line, reply)
		}
	}
	switch op {
	case 0, 1, 2: // data commands
		line := []string{"RETR " + d + "/f", "LIST " + d, "NLST " + d, "MLSD " + d,
			fmt.Sprintf("STOR %s/new-%d-%d", d, c, k), "APPE " + d + "/appendme"}[(op*7+k)%6]
		out, err := raceData(rc, line)
		if err != nil {
			return err
		}
		if strings.Contains(string(out), secretText) || strings.Contains(string(out), outsideMarker) {
			report("%s: data %q", line, out)
		}
	case 3:
		line := "SIZE " + d + "/f"
		code, msg, err := cmd(line)
		if err != nil {
			return err
		}
		if code == 213 && strings.TrimSpace(msg[4:]) != "6" {
			report("%s: %s (the outside file's size)", line, msg)
		}
	case 4:
		line := "MDTM " + d + "/f"
		code, msg, err := cmd(line)
		if err != nil {
			return err
		}
		if code == 213 && strings.HasPrefix(msg[4:], "2001") {
			report("%s: %s (the outside file's mtime)", line, msg)
		}
	case 5:
		line := "MLST " + d + "/f"
		code, msg, err := cmd(line)
		if err != nil {
			return err
		}
		if m := sizeRe.FindStringSubmatch(msg); code == 250 && m != nil && m[1] != "6" {
			report("%s: %s", line, msg)
		}
		check(line, msg)
	case 6:
		line := "STAT " + d
		_, msg, err := cmd(line)
		if err != nil {
			return err
		}
		check(line, msg)
	case 7: // CWD into it, then use a relative name
		code, _, err := cmd("CWD " + d)
		if err != nil {
			return err
		}
		if code == 250 {
			if _, msg, err := cmd("SIZE f"); err != nil {
				return err
			} else if strings.HasPrefix(msg, "213 ") && strings.TrimSpace(msg[4:]) != "6" {
				report("CWD %s; SIZE f: %s", d, msg)
			}
			if out, err := raceData(rc, "RETR f"); err != nil {
				return err
			} else if strings.Contains(string(out), secretText) {
				report("CWD %s; RETR f: %q", d, out)
			}
			if _, _, err := cmd("CWD /"); err != nil {
				return err
			}
		}
	case 8:
		_, msg, err := cmd("DELE " + d + "/victim")
		if err != nil {
			return err
		}
		check("DELE", msg)
	case 9:
		if _, _, err := cmd(fmt.Sprintf("MKD %s/newdir-%d-%d", d, c, k)); err != nil {
			return err
		}
		if _, _, err := cmd("RMD " + d + "/emptydir"); err != nil {
			return err
		}
	case 10:
		code, _, err := cmd("RNFR " + d + "/victim")
		if err != nil {
			return err
		}
		if code == 350 {
			if _, _, err := cmd(fmt.Sprintf("RNTO /moved-%d-%d", c, k)); err != nil {
				return err
			}
		}
	case 11:
		if _, _, err := cmd("MFMT 20200101000000 " + d + "/f"); err != nil {
			return err
		}
	}
	return nil
}

// raceData runs a data command over EPSV without failing the test, and
// returns what the server sent on the data connection.
func raceData(rc *testutil.RawConn, line string) ([]byte, error) {
	if _, err := fmt.Fprint(rc.C, "EPSV\r\n"); err != nil {
		return nil, err
	}
	code, msg, err := rc.TryReply()
	if err != nil || code != 229 {
		return nil, fmt.Errorf("EPSV: %d %s %v", code, msg, err)
	}
	port, err := testutil.ParseEPSV(msg)
	if err != nil {
		return nil, err
	}
	data, err := dialData(port)
	if err != nil {
		return nil, err
	}
	defer data.Close()
	if _, err := fmt.Fprintf(rc.C, "%s\r\n", line); err != nil {
		return nil, err
	}
	code, msg, err = rc.TryReply()
	if err != nil {
		return nil, err
	}
	if code != 150 {
		return nil, nil
	}
	if strings.HasPrefix(line, "STOR") || strings.HasPrefix(line, "APPE") {
		data.Write([]byte("PLANTED"))
	}
	data.(*net.TCPConn).CloseWrite()
	data.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, _ := io.ReadAll(data)
	if _, _, err := rc.TryReply(); err != nil {
		return nil, err
	}
	return out, nil
}

// TestLongCommandLine: lines that fit the library's 4 KiB line buffer are
// answered; longer ones end the connection at once, without a hang, and the
// session's goroutines and file descriptors are released.
// Guards: the bounded line reader (a client cannot make the server buffer
// an endless line) and the release of everything a session holds when it
// ends on a protocol error.
func TestLongCommandLine(t *testing.T) {
	ts := startServer(t, 1, nil)
	warm := dialRaw(t, ts.Addr) // a first session starts the pools the runtime keeps
	warm.Login(testUser, testPassword)
	warm.Expect(221, "QUIT")
	waitFor(t, 5*time.Second, "no session", func() bool { return ts.Sessions() == 0 })
	baseG := baselineGoroutines()
	runtime.GC()
	baseFD := openFDs(t)

	for _, n := range []int{100, 4000, 4094} { // + "\r\n" = at most 4096 bytes
		rc := dialRaw(t, ts.Addr)
		rc.Login(testUser, testPassword)
		if code, msg := rc.Cmd("NOOP %s", strings.Repeat("x", n-len("NOOP "))); code != 200 {
			t.Errorf("a %d-byte line: %d %s", n, code, msg)
		}
		rc.C.Close()
	}
	for _, n := range []int{4095, 4096, 8192, 64 << 10, 1 << 20, 16 << 20} {
		for _, loggedIn := range []bool{false, true} {
			rc := dialRaw(t, ts.Addr)
			if loggedIn {
				rc.Login(testUser, testPassword)
			}
			start := time.Now()
			go func() {
				// The server stops reading after 4 KiB: for the longest lines
				// this write fails with a reset, which is expected.
				rc.C.Write(append(bytes.Repeat([]byte("A"), n), "\r\n"...))
			}()
			rc.C.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(rc.R)
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				t.Errorf("a %d-byte line (logged in: %v): no reply and no disconnect after %v", n, loggedIn, time.Since(start))
			case len(b) > 0 && !strings.HasPrefix(string(b), "500 "):
				t.Errorf("a %d-byte line (logged in: %v): got %q, want a disconnect or 500", n, loggedIn, b)
			}
			rc.C.Close()
		}
	}
	waitFor(t, 5*time.Second, "every session to end", func() bool { return ts.Sessions() == 0 })
	if g := settleGoroutines(baseG+goroutineSlack, 10*time.Second); g > baseG+goroutineSlack {
		t.Errorf("goroutines: %d before, %d after", baseG, g)
	}
	if fd := settleFDs(t, baseFD, 10*time.Second); fd > baseFD {
		t.Errorf("open fds: %d before, %d after", baseFD, fd)
	}
	// The server still serves.
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	rc.Expect(200, "NOOP")
}

// pipelineCmds are cheap commands with fixed replies, for pipelining.
var pipelineCmds = []string{"NOOP", "PWD", "SYST", "TYPE I", "MODE S", "SIZE inside.txt",
	"MDTM inside.txt", "CWD /", "XYZZY", "FEAT", "MLST inside.txt", "STAT", "OPTS UTF8 ON", "CDUP", "SIZE nope"}

// TestPipelined10000Commands writes 10,000 commands in one write and checks
// that every one is answered, in order, with the reply it gets when sent
// alone, within a bounded time.
// Guards: the command loop's ordering (replies of pipelined commands must
// not be reordered or dropped) and its liveness under a burst.
func TestPipelined10000Commands(t *testing.T) {
	ts := startServer(t, 1, nil)
	os.WriteFile(filepath.Join(ts.Root, "inside.txt"), []byte("inside"), 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	want := map[string]int{}
	for _, c := range pipelineCmds {
		want[c], _ = rc.Cmd("%s", c)
	}

	const n = 10_000
	var buf bytes.Buffer
	sent := make([]string, n)
	for i := range sent {
		sent[i] = pipelineCmds[(i*7)%len(pipelineCmds)]
		buf.WriteString(sent[i] + "\r\n")
	}
	start := time.Now()
	writeErr := make(chan error, 1)
	go func() { _, err := rc.C.Write(buf.Bytes()); writeErr <- err }()
	deadline := time.Now().Add(60 * time.Second)
	for i := range n {
		rc.C.SetReadDeadline(deadline)
		code, msg, err := rc.TryReply()
		if err != nil {
			t.Fatalf("reply %d of %d (%s): %v", i+1, n, sent[i], err)
		}
		if code != want[sent[i]] {
			t.Fatalf("reply %d (%s): %d %s, want %d", i+1, sent[i], code, msg, want[sent[i]])
		}
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	rc.Expect(200, "NOOP")
	t.Logf("%d pipelined commands answered in order in %v", n, time.Since(start).Round(time.Millisecond))
}

// TestUnknownCommandFloodIsRateLimited: 5,000 unknown commands, each of
// which the library logs at warn level, give at most logging.LibraryLogBurst log
// lines per second and per message, plus summary lines that account for
// every suppressed one.
// Guards: the per-session limit on library log records (logging.NewLibraryHandler);
// without it each junk line becomes a log line.
func TestUnknownCommandFloodIsRateLimited(t *testing.T) {
	ts := startServer(t, 1, nil)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	const n = 5000
	start := time.Now()
	go func() { rc.C.Write(bytes.Repeat([]byte("XYZZY\r\n"), n)) }()
	for i := range n {
		if code, msg, err := rc.TryReply(); err != nil || code != 500 {
			t.Fatalf("reply %d: %d %s %v", i+1, code, msg, err)
		}
	}
	elapsed := time.Since(start)
	rc.Expect(200, "NOOP")
	sumRe := regexp.MustCompile(`msg="library log messages suppressed" .*message="Unknown command" suppressed=(\d+) limit=(\d+) per=1s`)
	var logged, suppressed int
	waitFor(t, 3*time.Second, "the suppressed count to cover every command", func() bool {
		logs := ts.Logs.String()
		logged = strings.Count(logs, `msg="Unknown command"`)
		suppressed = 0
		for _, m := range sumRe.FindAllStringSubmatch(logs, -1) {
			k, _ := strconv.Atoi(m[1])
			suppressed += k
		}
		return logged+suppressed == n
	})
	windows := int(elapsed/logging.LibraryLogWindow) + 2
	if logged > logging.LibraryLogBurst*windows {
		t.Errorf("%d unknown commands in %v gave %d log lines, want at most %d", n, elapsed, logged, logging.LibraryLogBurst*windows)
	}
	if summaries := len(sumRe.FindAllString(ts.Logs.String(), -1)); summaries > windows {
		t.Errorf("%d summary lines for %v", summaries, elapsed)
	}
	t.Logf("%d unknown commands in %v: %d logged, %d counted in summary lines", n, elapsed.Round(time.Millisecond), logged, suppressed)
}

// TestPASVFlood: 1,000 PASV/EPSV on one session never hold more than one
// passive port. On a one-port range with no waiting, every one of them
// succeeds (a session that kept its previous port would get 425 from the
// second on); on a five-port range a sampler sees at most one listening
// socket throughout, and no more reserved ports than one PASV's candidates
// (the spares are given back as soon as the library has bound one; keeping
// the previous port would show as one more). Afterwards no port stays bound.
// Guards: FetchNext giving up the session's previous unused port before
// taking a new one (the library binds the new port before closing the old).
func TestPASVFlood(t *testing.T) {
	for _, ports := range []int{1, 5} {
		t.Run(fmt.Sprintf("%d-port range", ports), func(t *testing.T) {
			ts := startServer(t, ports, func(c *config.Config) { c.Passive.Wait = config.Duration{Duration: 0} })
			first, last := ts.cfg.Passive.First, ts.cfg.Passive.Last
			stop := make(chan struct{})
			maxBusy, maxListen := 0, 0
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					maxBusy = max(maxBusy, ts.PassivePortsBusy())
					if i%20 == 0 {
						maxListen = max(maxListen, len(listeningPorts(t, first, last)))
					}
					time.Sleep(100 * time.Microsecond)
				}
			}()
			rc := dialRaw(t, ts.Addr)
			rc.Login(testUser, testPassword)
			for i := range 1000 {
				cmd, want := "PASV", 227
				if i%2 == 1 {
					cmd, want = "EPSV", 229
				}
				if code, msg := rc.Cmd("%s", cmd); code != want {
					t.Fatalf("%s number %d: %d %s", cmd, i+1, code, msg)
				}
			}
			close(stop)
			<-sampled
			if maxBusy > 1+passive.Spares || maxListen > 1 {
				t.Errorf("one session held up to %d ports (%d listening sockets)", maxBusy, maxListen)
			}
			rc.Expect(221, "QUIT")
			waitFor(t, 5*time.Second, "the session to end", func() bool { return ts.Sessions() == 0 })
			if n := ts.PassivePortsBusy(); n != 0 {
				t.Errorf("%d ports busy after QUIT", n)
			}
			if l := listeningPorts(t, first, last); len(l) != 0 {
				t.Errorf("ports still listening after QUIT: %v", l)
			}
			t.Logf("1000 PASV/EPSV on a %d-port range: at most %d busy port(s), %d listening socket(s)", ports, maxBusy, maxListen)
		})
	}
}

// TestActiveModeBounceRefused: PORT and EPRT are refused with 502 whatever
// the address (a third party, a port below 1024, loopback), no connection is
// ever made, and active mode cannot be turned on in the config.
// Guards: DisableActiveMode (FTP bounce) and the 502 rewrite (package ctrl).
func TestActiveModeBounceRefused(t *testing.T) {
	ts := startServer(t, 1, nil)
	// Listeners the server would connect to if it followed PORT/EPRT.
	high, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer high.Close()
	var lowPort int
	var low net.Listener
	if os.Geteuid() == 0 {
		for p := 1023; p > 900 && low == nil; p-- {
			low, _ = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			lowPort = p
		}
	}
	var hits atomic.Int32
	for _, l := range []net.Listener{high, low} {
		if l == nil {
			continue
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				hits.Add(1)
				c.Close()
			}
		}()
	}
	hp := high.Addr().(*net.TCPAddr).Port
	cmds := []string{
		fmt.Sprintf("PORT 127,0,0,1,%d,%d", hp/256, hp%256), fmt.Sprintf("EPRT |1|127.0.0.1|%d|", hp),
		"PORT 192,0,2,1,0,21", "EPRT |1|192.0.2.1|21|", "EPRT |2|2001:db8::1|25|", // third parties
		"PORT 127,0,0,1,0,25", "EPRT |1|127.0.0.1|25|", "EPRT |2|::1|22|", // ports below 1024
		"PORT 999,1", "EPRT garbage", "PORT", // malformed
	}
	if low != nil {
		cmds = append(cmds, fmt.Sprintf("PORT 127,0,0,1,%d,%d", lowPort/256, lowPort%256))
	}
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	os.WriteFile(filepath.Join(ts.Root, "f"), []byte("data"), 0o644)
	for _, c := range cmds {
		if code, msg := rc.Cmd("%s", c); code != 502 {
			t.Errorf("%s: %d %s, want 502", c, code, msg)
		}
		// A transfer right after must not go to the address given.
		if code, msg := rc.Cmd("RETR f"); code < 400 {
			t.Errorf("RETR after %s: %d %s", c, code, msg)
			rc.Reply()
		}
	}
	rc.Expect(200, "NOOP")
	time.Sleep(200 * time.Millisecond) // a connection attempt would have arrived by now
	if n := hits.Load(); n != 0 {
		t.Errorf("the server made %d active-mode connections", n)
	}
	for _, key := range []string{"active_mode = true", "enable_active = true", "[active]\nenabled = true"} {
		if _, err := config.Parse("t.toml", []byte(key+"\n")); err == nil || !strings.Contains(err.Error(), "unknown key") {
			t.Errorf("config %q: %v, want an unknown-key error", key, err)
		}
	}
}

// TestCommandsBeforeLogin: every command that is not part of logging in
// gets 530 before login, by class (files, directories, transfers, server
// side effects), and has no effect: no port bound, no file touched.
// Guards: the library's login gate on every command (CommandDescription.Open).
func TestCommandsBeforeLogin(t *testing.T) {
	ts := startServer(t, 2, nil)
	os.WriteFile(filepath.Join(ts.Root, "f"), []byte("data"), 0o644)
	before := snapshot(t, ts.Root, "")
	classes := map[string][]string{
		"files": {"RETR f", "STOR g", "APPE f", "DELE f", "RNFR f", "RNTO g", "SIZE f", "MDTM f",
			"MFMT 20200101000000 f", "MLST f", "STAT f", "REST 1", "ALLO 10", "XCRC f", "MD5 f",
			"XSHA1 f", "XSHA256 f", "XSHA512 f", "HASH f", "COMB a b", "DSIZ f"},
		"directories": {"CWD /", "XCWD /", "CDUP", "PWD", "XPWD", "LIST", "NLST", "MLSD", "MKD d",
			"XMKD d", "RMD d", "XRMD d", "AVBL"},
		"transfers": {"PASV", "EPSV", "PORT 127,0,0,1,4,1", "EPRT |1|127.0.0.1|1025|", "TYPE I",
			"MODE S", "ABOR", "STRU F"},
		"server": {"SITE CHMOD 777 f", "STAT", "HELP", "REIN", "ACCT x", "SMNT /"},
	}
	rc := dialRaw(t, ts.Addr)
	n := 0
	for class, cmds := range classes {
		for _, c := range cmds {
			n++
			if code, msg := rc.Cmd("%s", c); code != 530 {
				t.Errorf("%s (%s) before login: %d %s, want 530", c, class, code, msg)
			}
		}
	}
	if busy := ts.PassivePortsBusy(); busy != 0 {
		t.Errorf("%d passive ports bound before login", busy)
	}
	if d := snapshot(t, ts.Root, ""); fmt.Sprint(d) != fmt.Sprint(before) {
		t.Errorf("files changed before login: %v -> %v", before, d)
	}
	rc.Login(testUser, testPassword) // the session is still usable
	rc.Expect(257, "PWD")
	t.Logf("%d commands refused before login", n)
}

// TestAbortMidTransfer: ABOR (plain, and after telnet IAC IP/DM as real
// clients send it) in the middle of a RETR and of a STOR: 426 then 226, the
// session goes on, the port is free, the transfer is logged as incomplete
// and the partial upload is kept.
// Guards: the abort path closing the data connection and recording the
// transfer as failed.
func TestAbortMidTransfer(t *testing.T) {
	for _, tc := range []struct {
		name, abor string
		upload     bool
	}{
		{"RETR", "ABOR", false},
		{"RETR after IAC", "\xff\xf4\xff\xf2ABOR", false},
		{"STOR", "ABOR", true},
		{"STOR after IAC", "\xff\xf4\xff\xf2ABOR", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xfer := filepath.Join(t.TempDir(), "xferlog")
			ts := startServer(t, 1, func(c *config.Config) { c.Log.Xferlog = xfer })
			size := 64 << 20
			os.WriteFile(filepath.Join(ts.Root, "big"), bytes.Repeat([]byte("b"), size), 0o644)
			rc := dialRaw(t, ts.Addr)
			rc.Login(testUser, testPassword)
			data := rc.OpenData()
			defer data.Close()
			if tc.upload {
				rc.Expect(150, "STOR up")
				data.Write(bytes.Repeat([]byte("u"), 1<<20))
				waitFor(t, 5*time.Second, "the first MiB stored", func() bool {
					fi, err := os.Stat(filepath.Join(ts.Root, "up"))
					return err == nil && fi.Size() == 1<<20
				})
			} else {
				rc.Expect(150, "RETR big")
				io.ReadFull(data, make([]byte, 256<<10))
			}
			fmt.Fprintf(rc.C, "%s\r\n", tc.abor)
			code1, msg1 := rc.Reply()
			code2, msg2 := rc.Reply()
			if code1 != 426 || code2 != 226 {
				t.Errorf("ABOR: %d %s / %d %s, want 426 then 226", code1, msg1, code2, msg2)
			}
			data.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, data); err != nil && !errors.Is(err, unix.ECONNRESET) {
				t.Errorf("data connection after ABOR: %v, want it closed by the server", err)
			}
			rc.Expect(200, "NOOP")
			if st := xferStatuses(t, xfer, 1); st[0] != "i" {
				t.Errorf("aborted transfer logged with status %q, want i", st[0])
			}
			if n := ts.PassivePortsBusy(); n != 0 {
				t.Errorf("%d ports busy after ABOR", n)
			}
			if l := listeningPorts(t, ts.cfg.Passive.First, ts.cfg.Passive.Last); len(l) != 0 {
				t.Errorf("ports listening after ABOR: %v", l)
			}
			if tc.upload {
				if fi, err := os.Stat(filepath.Join(ts.Root, "up")); err != nil || fi.Size() != 1<<20 {
					t.Errorf("partial upload after ABOR: %v %v, want it kept with 1 MiB", fi, err)
				}
			}
			if got := rc.Retr("big"); len(got) != size { // the next transfer works
				t.Errorf("RETR after ABOR: %d bytes", len(got))
			}
		})
	}
}
