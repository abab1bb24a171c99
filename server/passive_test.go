package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// dialData connects to a passive port on loopback.
func dialData(port int) (net.Conn, error) {
	return testutil.Loopback(fmt.Sprintf("127.0.0.1:%d", port))
}

func inRange(ts *testServer, port int) bool { return ts.st.InRange(port) }

func TestPassiveRepliesAdvertiseConfiguredAddressAndRange(t *testing.T) {
	for _, tc := range []struct {
		address, want string
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"192.0.2.7", "192.0.2.7"},
		{"control", "127.0.0.1"},
	} {
		t.Run(tc.address, func(t *testing.T) {
			ts := startServer(t, 3, func(c *config.Config) { c.Passive.Address = tc.address })
			rc := dialRaw(t, ts.Addr)
			rc.Login(testUser, testPassword)
			for i := 0; i < 10; i++ {
				host, port := rc.Pasv()
				if host != tc.want || !inRange(ts, port) {
					t.Fatalf("PASV advertised %s:%d, want %s and a port in %s", host, port, tc.want, ts.cfg.Passive.Ports)
				}
				if p := rc.Epsv(); !inRange(ts, p) {
					t.Fatalf("EPSV advertised port %d outside %s", p, ts.cfg.Passive.Ports)
				}
			}
			// A PASV gives up the session's previous unused port: never more than one held.
			if n := ts.PassivePortsBusy(); n != 1 {
				t.Errorf("%d passive ports held by one session, want 1", n)
			}
		})
	}
}

// TestOnePortTwentyClients: with a single passive port, 20 clients that each
// log in, PASV and RETR at the same moment all succeed.
func TestOnePortTwentyClients(t *testing.T) {
	ts := startServer(t, 1, nil)
	payload := bytes.Repeat([]byte("tunnel"), 100_000)
	os.WriteFile(filepath.Join(ts.Root, "f.bin"), payload, 0o644)

	const clients = 20
	var wg, ready sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c, err := ftp.Dial(ts.Addr, ftp.DialWithTimeout(20*time.Second), ftp.DialWithDisabledEPSV(true))
			if err != nil {
				ready.Done()
				errs <- err
				return
			}
			defer c.Quit()
			err = c.Login(testUser, testPassword)
			ready.Done()
			if err != nil {
				errs <- err
				return
			}
			<-start
			r, err := c.Retr("f.bin")
			if err != nil {
				errs <- fmt.Errorf("RETR: %w", err)
				return
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, payload) {
				errs <- fmt.Errorf("RETR got %d bytes, %v", len(got), err)
			}
		}()
	}
	ready.Wait() // every client logged in: start all RETRs together
	close(start)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		failed++
		t.Error(err)
	}
	t.Logf("1 port, %d clients: %d succeeded, %d failed", clients, clients-failed, failed)
	waitFor(t, 5*time.Second, "passive port release", func() bool { return ts.PassivePortsBusy() == 0 })
}

// TestExhaustionGives425AndSessionSurvives: when the range is full, PASV waits
// passive.wait, replies 425 naming the range, and the session stays usable.
func TestExhaustionGives425AndSessionSurvives(t *testing.T) {
	ts := startServer(t, 1, func(c *config.Config) { c.Passive.Wait = config.Duration{Duration: 300 * time.Millisecond} })
	os.WriteFile(filepath.Join(ts.Root, "f"), []byte("data"), 0o644)
	a := dialRaw(t, ts.Addr)
	a.Login(testUser, testPassword)
	aPort := a.Epsv() // holds the only port

	b := dialRaw(t, ts.Addr)
	b.Login(testUser, testPassword)
	for _, cmd := range []string{"PASV", "EPSV"} {
		start := time.Now()
		code, msg := b.Cmd(cmd)
		if code != 425 || !strings.Contains(msg, ts.cfg.Passive.Ports) {
			t.Fatalf("%s with the range full: %d %q, want 425 naming %s", cmd, code, msg, ts.cfg.Passive.Ports)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("%s gave up after %v, before passive.wait", cmd, d)
		}
	}
	b.Expect(200, "NOOP")
	if !strings.Contains(ts.Logs.String(), "passive port range exhausted") {
		t.Error("the log does not say the range is exhausted")
	}

	// A finishes its transfer; the port is B's again.
	data, err := dialData(aPort)
	if err != nil {
		t.Fatal(err)
	}
	a.Expect(150, "RETR f")
	io.ReadAll(data)
	data.Close()
	if code, msg := a.Reply(); code != 226 {
		t.Fatalf("A's RETR: %d %s", code, msg)
	}
	if got := b.Retr("f"); string(got) != "data" {
		t.Errorf("B after A finished: %q", got)
	}
}

// TestPassiveWaitSucceedsWhenPortFrees: a PASV that waits gets the port as
// soon as another session's data connection is accepted.
func TestPassiveWaitSucceedsWhenPortFrees(t *testing.T) {
	ts := startServer(t, 1, func(c *config.Config) { c.Passive.Wait = config.Duration{Duration: 5 * time.Second} })
	os.WriteFile(filepath.Join(ts.Root, "f"), []byte("data"), 0o644)
	a := dialRaw(t, ts.Addr)
	a.Login(testUser, testPassword)
	aPort := a.Epsv()
	b := dialRaw(t, ts.Addr)
	b.Login(testUser, testPassword)
	got := make(chan int, 1)
	go func() {
		code, _ := b.Cmd("EPSV")
		got <- code
	}()
	waitFor(t, 5*time.Second, "B's EPSV waiting for the port", func() bool { return ts.passiveWaiting() == 1 })
	data, err := dialData(aPort)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	a.Expect(150, "RETR f")
	select {
	case code := <-got:
		if code != 229 {
			t.Fatalf("B's EPSV: %d", code)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("B's EPSV still waiting after A's data connection was accepted")
	}
}

// TestStrayPeerThenClient: a connection from 127.0.0.2 to the advertised
// port is dropped; the client's own transfer then succeeds.
func TestStrayPeerThenClient(t *testing.T) {
	ts := startServer(t, 1, nil)
	os.WriteFile(filepath.Join(ts.Root, "f"), []byte("the goods"), 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	port := rc.Epsv()

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	thief, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("stray connect: %v", err)
	}
	defer thief.Close() // connected: queued on the listener before the RETR
	if _, err := fmt.Fprintf(rc.C, "RETR f\r\n"); err != nil {
		t.Fatal(err)
	}
	thief.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, _ := io.ReadAll(thief); len(b) != 0 {
		t.Fatalf("stray peer received %q", b)
	}
	if b := rc.Receive(port); string(b) != "the goods" {
		t.Fatalf("RETR: data %q", b)
	}
	if !strings.Contains(ts.Logs.String(), "dropped data connection from a stray peer") {
		t.Error("stray peer not logged")
	}
	// The rejected connection is not reused by a second transfer.
	if got := rc.Retr("f"); string(got) != "the goods" {
		t.Errorf("second RETR: %q", got)
	}
}

// TestFailedTransfersFreeThePort: after a 550 (no such file) or a 425 (the
// client never connected), the port is usable again at once.
func TestFailedTransfersFreeThePort(t *testing.T) {
	ts := startServer(t, 1, func(c *config.Config) {
		c.Passive.AcceptTimeout = config.Duration{Duration: time.Second}
		c.Passive.Wait = config.Duration{Duration: 0}
	})
	os.WriteFile(filepath.Join(ts.Root, "f"), []byte("ok"), 0o644)
	a := dialRaw(t, ts.Addr)
	a.Login(testUser, testPassword)
	b := dialRaw(t, ts.Addr)
	b.Login(testUser, testPassword)

	a.Epsv()
	a.Expect(550, "RETR nope")
	// The library keeps a failed transfer's listener; we released the port
	// at once? Not before the accept timeout: the 550 comes before any accept.
	// B must get the port no later than accept_timeout.
	waitFor(t, 3*time.Second, "port release after 550", func() bool { return ts.PassivePortsBusy() == 0 })
	if got := b.Retr("f"); string(got) != "ok" {
		t.Errorf("B after A's 550: %q", got)
	}

	a.Epsv()
	a.Expect(425, "RETR f") // never connects: accept times out
	if ts.PassivePortsBusy() != 0 {
		t.Error("port still held after the 425")
	}
	if got := b.Retr("f"); string(got) != "ok" {
		t.Errorf("B after A's 425: %q", got)
	}
	if got := a.Retr("f"); string(got) != "ok" {
		t.Errorf("A after its own 425: %q", got)
	}
}

// TestUnusedPortReleasedAfterTTL: a PASV nobody uses frees the port after
// accept_timeout.
func TestUnusedPortReleasedAfterTTL(t *testing.T) {
	ts := startServer(t, 1, func(c *config.Config) { c.Passive.AcceptTimeout = config.Duration{Duration: time.Second} })
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	rc.Pasv()
	if ts.PassivePortsBusy() != 1 {
		t.Fatal("PASV did not reserve a port")
	}
	waitFor(t, 3*time.Second, "TTL release", func() bool { return ts.PassivePortsBusy() == 0 })
	if bindable(ts.cfg.Passive.First) == false {
		t.Error("port still bound after the TTL")
	}
}

// TestPortFreeDuringTransfer: once A's data connection is accepted, the only
// port is free for B while A's transfer still runs.
func TestPortFreeDuringTransfer(t *testing.T) {
	ts := startServer(t, 1, nil)
	big := bytes.Repeat([]byte("x"), 32<<20)
	os.WriteFile(filepath.Join(ts.Root, "big"), big, 0o644)
	os.WriteFile(filepath.Join(ts.Root, "small"), []byte("s"), 0o644)
	a := dialRaw(t, ts.Addr)
	a.Login(testUser, testPassword)
	port := a.Epsv()
	data, err := dialData(port)
	if err != nil {
		t.Fatal(err)
	}
	a.Expect(150, "RETR big")
	buf := make([]byte, 64<<10)
	io.ReadFull(data, buf) // A is mid-transfer and pauses

	b := dialRaw(t, ts.Addr)
	b.Login(testUser, testPassword)
	if got := b.Retr("small"); string(got) != "s" {
		t.Errorf("B during A's transfer: %q", got)
	}
	rest, _ := io.ReadAll(data)
	data.Close()
	if code, _ := a.Reply(); code != 226 || len(rest)+len(buf) != len(big) {
		t.Errorf("A: %d, %d bytes", code, len(rest)+len(buf))
	}
}

// TestDataStallWatchdog: a client that stops reading is cut off after
// data_timeout; the transfer is logged as incomplete.
func TestDataStallWatchdog(t *testing.T) {
	xfer := filepath.Join(t.TempDir(), "xferlog")
	ts := startServer(t, 1, func(c *config.Config) {
		c.DataTimeout = config.Duration{Duration: time.Second}
		c.Log.Xferlog = xfer
	})
	os.WriteFile(filepath.Join(ts.Root, "big"), bytes.Repeat([]byte("y"), 64<<20), 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	data := rc.OpenData()
	defer data.Close()
	start := time.Now()
	rc.Expect(150, "RETR big")
	// never read
	code, msg := rc.Reply()
	if code < 400 {
		t.Fatalf("stalled RETR ended with %d %s", code, msg)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("stall detected after %v", d)
	}
	rc.Expect(200, "NOOP")
	waitFor(t, 2*time.Second, "xferlog line", func() bool {
		b, _ := os.ReadFile(xfer)
		return len(b) > 0
	})
	line := readFile(t, xfer)
	if !strings.HasSuffix(strings.TrimSpace(line), " i") {
		t.Errorf("stalled transfer logged as %q, want status i", line)
	}
}

// TestMaxSessions: once max_sessions are logged in, one more connection
// gets 421 at connect. Connections not logged in do not fill it: a new one
// takes the place of the oldest (package admission).
func TestMaxSessions(t *testing.T) {
	ts := startServer(t, 1, func(c *config.Config) { c.MaxSessions = 2 })
	waiting := testutil.DialRaw(t, ts.Addr)
	testutil.DialRaw(t, ts.Addr).Login(testUser, testPassword)
	testutil.DialRaw(t, ts.Addr).Login(testUser, testPassword) // makes room: waiting is closed
	if code, msg, err := waiting.TryReply(); code != 421 || !strings.Contains(msg, "make room") {
		t.Errorf("the connection not logged in got %d %q %v, want a 421 saying it makes room", code, msg, err)
	}
	expectRefusal(t, ts.Addr, "max_sessions")
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, 1, func(c *config.Config) {
		c.IdleTimeout = config.Duration{Duration: time.Second}
		c.Passive.Wait = config.Duration{Duration: 0}
	})
	rc := dialRaw(t, ts.Addr)
	code, msg := rc.Reply()
	if code != 421 {
		t.Errorf("idle session got %d %s, want 421", code, msg)
	}
}

func TestXferlog(t *testing.T) {
	xfer := filepath.Join(t.TempDir(), "xferlog")
	ts := startServer(t, 1, func(c *config.Config) { c.Log.Xferlog = xfer })
	c := ts.login(t, testUser, true)
	if err := c.Stor("my file.txt", strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("my file.txt")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(r)
	r.Close()
	waitFor(t, 2*time.Second, "two xferlog lines", func() bool {
		b, _ := os.ReadFile(xfer)
		return strings.Count(string(b), "\n") == 2
	})
	lines := strings.Split(strings.TrimSpace(readFile(t, xfer)), "\n")
	for i, dir := range []string{"i", "o"} {
		f := strings.Fields(lines[i])
		// 5 time fields, then transfer-time host size name type flag dir mode user service auth uid status
		if len(f) != 18 {
			t.Fatalf("xferlog line has %d fields: %q", len(f), lines[i])
		}
		// A virtual user is a guest ('g'); the transfer time is at least 1s, as wu-ftpd wrote it.
		want := []string{"1", "127.0.0.1", "5", "/my_file.txt", "b", "_", dir, "g", testUser, "ftp", "0", "*", "c"}
		if got := f[5:]; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("xferlog line %d: %q, want fields %q", i, lines[i], want)
		}
		if _, err := time.Parse("Mon Jan _2 15:04:05 2006", strings.Join(f[:5], " ")); err != nil {
			t.Errorf("xferlog time: %v", err)
		}
	}
}

// TestShutdownLetsTransferFinish: Shutdown closes idle sessions at once and
// lets a running transfer end with 226.
func TestShutdownLetsTransferFinish(t *testing.T) {
	ts := startServer(t, 1, nil)
	size := 8 << 20
	os.WriteFile(filepath.Join(ts.Root, "big"), bytes.Repeat([]byte("z"), size), 0o644)
	idle := dialRaw(t, ts.Addr)
	idle.Login(testUser, testPassword)
	a := dialRaw(t, ts.Addr)
	a.Login(testUser, testPassword)
	data := a.OpenData()
	a.Expect(150, "RETR big")
	buf := make([]byte, 1<<20)
	io.ReadFull(data, buf)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- ts.Shutdown(ctx)
	}()
	idle.C.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.R.ReadString('\n'); err == nil {
		// a 421 is fine too; then EOF must follow
		if _, err := idle.R.ReadString('\n'); err == nil {
			t.Error("idle session still open during shutdown")
		}
	}
	waitFor(t, 5*time.Second, "the idle session to end", func() bool { return ts.Sessions() == 1 })
	rest, _ := io.ReadAll(data)
	data.Close()
	if code, msg := a.Reply(); code != 226 || len(rest)+len(buf) != size {
		t.Errorf("transfer during shutdown: %d %s, %d bytes", code, msg, len(rest)+len(buf))
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestPortsHeldByAnotherProgram: ports of the range that another program
// listens on are never advertised, no PASV fails because of them, and the
// ports are used again once that program lets go. With every port held,
// PASV gets a 425 that says so, and the session goes on.
func TestPortsHeldByAnotherProgram(t *testing.T) {
	ts := startServer(t, 3, nil)
	first, last := ts.cfg.Passive.First, ts.cfg.Passive.Last
	var held []net.Listener
	for _, p := range []int{first, first + 1} {
		l, err := listenTCPPort(p)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
	}
	os.WriteFile(filepath.Join(ts.Root, "held.txt"), []byte("held"), 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	for i := 0; i < 9; i++ {
		if p := rc.Epsv(); p != last {
			t.Fatalf("EPSV %d advertised %d; only %d is free", i, p, last)
		}
	}
	if got := string(rc.Retr("held.txt")); got != "held" {
		t.Fatalf("RETR through the only free port: %q", got)
	}
	if n := ts.PassivePortsBusy(); n != 0 {
		t.Fatalf("%d passive ports still reserved after the transfer", n)
	}
	for _, l := range held {
		l.Close()
	}
	seen := map[int]bool{}
	for i := 0; i < 6; i++ {
		seen[rc.Epsv()] = true
	}
	if !seen[first] || !seen[first+1] {
		t.Errorf("after the other program let go, EPSV gave %v; want %d and %d again", seen, first, first+1)
	}

	// Every port held by someone else.
	rc.Expect(221, "QUIT") // gives up its unused port
	for p := first; p <= last; p++ {
		waitFor(t, 3*time.Second, "port released", func() bool { return bindable(p) })
		l, err := listenTCPPort(p)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	rc2 := dialRaw(t, ts.Addr)
	rc2.Login(testUser, testPassword)
	code, msg := rc2.Cmd("EPSV")
	if code != 425 || !strings.Contains(msg, "in use by another program") {
		t.Fatalf("EPSV with every port held elsewhere: %d %s, want 425 naming the cause", code, msg)
	}
	rc2.Expect(200, "NOOP")
}

// TestOneUserBorrowsTheRange: one user's sessions (lftp mirror --parallel) take more ports
// than passive.max_per_user while nobody else waits, leaving one port of the five free; a port taken beyond the share that no data connection
// reaches is released after half of passive.wait, not after accept_timeout; a borrowed port
// that is used carries its transfer.
func TestOneUserBorrowsTheRange(t *testing.T) {
	ts := startServer(t, 5, func(c *config.Config) {
		c.Passive.Wait = config.Duration{Duration: 2 * time.Second}
		c.Passive.AcceptTimeout = config.Duration{Duration: time.Minute}
	})
	if got := ts.cfg.Passive.PerUserLimit(); got != 1 {
		t.Fatalf("max_per_user in force %d, want the automatic 1 for 5 ports", got)
	}
	os.WriteFile(filepath.Join(ts.Root, "small"), []byte("s"), 0o644)
	var same []*testutil.RawConn
	for i := range 4 {
		rc := dialRaw(t, ts.Addr)
		rc.Login(testUser, testPassword)
		if code, msg := rc.Cmd("PASV"); code != 227 {
			t.Fatalf("session %d of the same user: PASV %d %s, want 227 (a port beyond the share while nobody waits)", i+1, code, msg)
		}
		same = append(same, rc)
	}
	if got := ts.PassivePortsBusy(); got != 4 {
		t.Fatalf("%d ports busy, want 4 (one left free)", got)
	}
	// A fifth session of the same user finds only the last free port: it waits, and gets
	// one when a borrowed port is released unused (after wait/2 = 1 s).
	fifth := dialRaw(t, ts.Addr)
	fifth.Login(testUser, testPassword)
	start := time.Now()
	if code, msg := fifth.Cmd("PASV"); code != 227 {
		t.Fatalf("fifth session: PASV %d %s, want 227 once a borrowed port was released", code, msg)
	}
	if el := time.Since(start); el < 700*time.Millisecond || el > 1900*time.Millisecond {
		t.Errorf("fifth session waited %v, want about 1 s (a borrowed port released unused after wait/2)", el)
	}
	// Another FTP user gets a port at once. (Here it is the same SSH user, root, as every
	// session of these tests, so it is at its limit too and borrows; the spare port for a
	// user with other keys is passive's TestBorrowBeyondShare.)
	os.WriteFile(filepath.Join(ts.RORoot, "small"), []byte("s"), 0o644)
	other := dialRaw(t, ts.Addr)
	other.Login(roUser, testPassword)
	start = time.Now()
	if got := other.Retr("small"); string(got) != "s" {
		t.Fatalf("other user: %q", got)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("another user waited %v for a port, want none", el)
	}
	// A borrowed port carries a transfer when used.
	if got := same[3].Retr("small"); string(got) != "s" {
		t.Errorf("same user's session 4: %q", got)
	}
}
