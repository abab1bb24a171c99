package server

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/metrics"
	"github.com/tunnelftpd/tunnelftpd/registry"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
	"github.com/tunnelftpd/tunnelftpd/server/planned"
	"github.com/tunnelftpd/tunnelftpd/server/tracker"
	"github.com/tunnelftpd/tunnelftpd/shutdownfile"
)

// adminServer is a test server with a registry and counters in a temp directory, and a clock
// the test moves.
type adminServer struct {
	*testServer
	dir string

	mu  sync.Mutex
	now time.Time
}

func (a *adminServer) clock() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

// setClock moves the server's clock, and waits out the shutdown file's cache.
func (a *adminServer) setClock(t time.Time) {
	a.mu.Lock()
	a.now = t
	a.mu.Unlock()
}

func (a *adminServer) sessions(t *testing.T) []registry.Entry {
	t.Helper()
	es, err := registry.ReadDir(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// counter is the value of a counter in the registry, 0 if it was never counted.
func (a *adminServer) counter(t *testing.T, name string, labels ...string) uint64 {
	t.Helper()
	samples, err := registry.ReadCounters(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(labels, ",")
	for _, s := range samples {
		var got []string
		for _, l := range s.Labels {
			got = append(got, l.Name+"="+l.Value)
		}
		if s.Name == name && strings.Join(got, ",") == want {
			return s.Value
		}
	}
	return 0
}

func startAdminServer(t *testing.T, ports int, start time.Time, mutate func(*config.Config)) *adminServer {
	t.Helper()
	a := &adminServer{dir: t.TempDir(), now: start}
	reg, err := registry.Open(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	counters, err := registry.OpenCounters(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { counters.Close() })
	a.testServer = startServerOpts(t, ports, func(c *config.Config) {
		c.RegistryDir = a.dir
		if mutate != nil {
			mutate(c)
		}
	}, func(o *Options) {
		o.Registry, o.Metrics, o.Now = reg, metrics.NewRecorder(counters), a.clock
	})
	return a
}

func TestRegistryFollowsTheSession(t *testing.T) {
	a := startAdminServer(t, 2, time.Now(), func(c *config.Config) { c.Log.Commands = true })
	if err := os.Mkdir(filepath.Join(a.Root, "pub"), 0o755); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 300000)
	if err := os.WriteFile(filepath.Join(a.Root, "pub", "f.bin"), body, 0o644); err != nil {
		t.Fatal(err)
	}

	rc := testutil.DialRaw(t, a.Addr)
	es := a.sessions(t)
	if len(es) != 1 || es[0].User != "" || es[0].PID != os.Getpid() || es[0].Client != "127.0.0.1" {
		t.Fatalf("before login: %+v", es)
	}
	rc.Expect(331, "USER %s", testUser)
	rc.Expect(530, "PASS wrong-password")
	rc.Login(testUser, testPassword)
	rc.Expect(250, "CWD pub")
	es = a.sessions(t)
	if len(es) != 1 || es[0].User != testUser || es[0].Kind != "virtual" || es[0].Path != "/pub" ||
		es[0].Command != "CWD pub" || es[0].Login.IsZero() {
		t.Fatalf("after CWD: %+v", es)
	}
	if got := rc.Retr("f.bin"); len(got) != len(body) {
		t.Fatalf("RETR: %d bytes", len(got))
	}
	es = a.sessions(t)
	if len(es) != 1 || es[0].Bytes != int64(len(body)) || es[0].Transfer != nil || es[0].PasvPort != 0 {
		t.Fatalf("after RETR: %+v", es)
	}
	// While a PASV port waits for its data connection, the registry shows it busy.
	port := rc.Epsv()
	if es = a.sessions(t); len(es) != 1 || es[0].PasvPort != port {
		t.Fatalf("after EPSV to port %d: %+v", port, es)
	}
	rc.Retr("f.bin") // a new PASV: the previous port is given back first
	rc.Expect(221, "QUIT")
	testutil.WaitFor(t, 5*time.Second, 5*time.Millisecond, "the session to leave the registry",
		func() bool { return len(a.sessions(t)) == 0 })

	for _, c := range []struct {
		name   string
		labels []string
		want   uint64
	}{
		{metrics.Logins, []string{"result=ok", "reason="}, 1},
		{metrics.Logins, []string{"result=failed", "reason=bad_login"}, 1},
		{metrics.Transfers, []string{"direction=download", "result=complete"}, 2},
		{metrics.TransferBytes, []string{"direction=download", "result=complete"}, 2 * uint64(len(body))},
	} {
		if got := a.counter(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %d, want %d", c.name, c.labels, got, c.want)
		}
	}
	// log.commands: every command after login, none before (USER and PASS).
	logs := a.Logs.String()
	for _, want := range []string{`user=alice command="CWD pub"`, `user=alice command="RETR f.bin"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	for _, unwanted := range []string{`command="USER`, `command="PASS`} {
		if strings.Contains(logs, unwanted) {
			t.Errorf("a pre-login command was logged: %s", unwanted)
		}
	}
	if strings.Contains(logs, testPassword) || strings.Contains(logs, "wrong-password") {
		t.Error("a password reached the log")
	}
}

// log.commands logs nothing before login (a USER line may hold a mistyped password) and at most
// tracker.CommandLogBurst lines a second after it, then says how many it dropped.
func TestCommandLogAfterLoginAndLimited(t *testing.T) {
	a := startAdminServer(t, 1, time.Now(), func(c *config.Config) { c.Log.Commands = true })
	rc := testutil.DialRaw(t, a.Addr)
	rc.Expect(331, "USER Secret-typed-as-user")
	rc.Expect(530, "PASS Secret-typed-as-user")
	rc.Login(testUser, testPassword)
	const n = 3 * tracker.CommandLogBurst
	var cmds strings.Builder
	for range n {
		cmds.WriteString("NOOP\r\n")
	}
	if _, err := rc.C.Write([]byte(cmds.String())); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if code, msg := rc.Reply(); code != 200 {
			t.Fatalf("NOOP %d: %d %s", i, code, msg)
		}
	}
	testutil.WaitFor(t, 5*time.Second, 10*time.Millisecond, "the suppressed summary", func() bool {
		return strings.Contains(a.Logs.String(), "command log lines suppressed")
	})
	logs := a.Logs.String()
	if regexp.MustCompile(`msg=command .*Secret-typed-as-user`).MatchString(logs) {
		t.Error("a pre-login command line reached the log")
	}
	got := strings.Count(logs, `user=alice command=NOOP`)
	if got < tracker.CommandLogBurst || got >= n {
		t.Errorf("%d NOOP lines logged of %d sent, want the limit (%d a second) to apply", got, n, tracker.CommandLogBurst)
	}
}

func TestCommandsNotLoggedByDefault(t *testing.T) {
	a := startAdminServer(t, 1, time.Now(), nil)
	rc := testutil.DialRaw(t, a.Addr)
	rc.Login(testUser, testPassword)
	rc.Expect(257, "PWD")
	if strings.Contains(a.Logs.String(), "msg=command") {
		t.Error("commands logged without log.commands")
	}
}

func TestPasvWaitAndFailureCounted(t *testing.T) {
	a := startAdminServer(t, 1, time.Now(), func(c *config.Config) {
		c.Passive.Wait = config.Duration{Duration: 200 * time.Millisecond}
	})
	holder := testutil.DialRaw(t, a.Addr)
	holder.Login(testUser, testPassword)
	holder.Epsv() // holds the only port
	other := testutil.DialRaw(t, a.Addr)
	other.Login(testUser, testPassword)
	other.Expect(425, "EPSV")
	if got := a.counter(t, metrics.PasvWaits); got != 1 {
		t.Errorf("PASV waits = %d, want 1", got)
	}
	if got := a.counter(t, metrics.PasvFailures); got != 1 {
		t.Errorf("PASV failures = %d, want 1", got)
	}
	busy := 0
	for _, e := range a.sessions(t) {
		if e.PasvPort != 0 {
			busy++
		}
	}
	if busy != 1 {
		t.Errorf("%d sessions listening on a passive port, want 1", busy)
	}
}

// The planned shutdown as `tunnelftpd shutdown +2 -l 1 -d 0` plans it, on the server's clock:
// logins work and see the message until WHEN−1 minute, are refused with the message from then
// on, idle sessions are closed at WHEN, a running transfer ends first, and removing the file
// (shutdown --cancel) admits logins again.
func TestPlannedShutdownTimeline(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 30, 0, time.Local)
	a := startAdminServer(t, 2, t0, nil)
	big := bytes.Repeat([]byte("y"), 64<<20)
	if err := os.WriteFile(filepath.Join(a.Root, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	shutmsg := filepath.Join(a.dir, "shutmsg")
	when, err := shutdownfile.ParseWhen("+2", t0)
	if err != nil {
		t.Fatal(err)
	}
	plan := &shutdownfile.File{At: when.Truncate(time.Minute), Deny: time.Minute, Message: "Maintenance: down at %s"}
	if err := shutdownfile.Write(shutmsg, plan); err != nil {
		t.Fatal(err)
	}
	at := shutdownfile.CTime(plan.At) // 10:02:00

	// 10:00:30: a login works, and its first reply carries the message.
	early := testutil.DialRaw(t, a.Addr)
	early.Expect(331, "USER %s", testUser)
	msg := early.Expect(230, "PASS %s", testPassword)
	if !strings.Contains(msg, "230-Maintenance: down at "+at) {
		t.Errorf("230 reply without the shutdown message: %q", msg)
	}
	if msg := early.Expect(257, "PWD"); strings.Contains(msg, "Maintenance") {
		t.Errorf("the message is repeated at once: %q", msg)
	}
	pending := testutil.DialRaw(t, a.Addr) // connected, logs in later
	busy := testutil.DialRaw(t, a.Addr)
	busy.Login(testUser, testPassword)

	// 10:00:59: still open.
	a.setClock(t0.Add(29 * time.Second))
	testutil.DialRaw(t, a.Addr).Login(testUser, testPassword)

	// 10:01:00: new connections and logins are refused, with the message.
	a.setClock(t0.Add(30 * time.Second))
	testutil.WaitFor(t, 5*time.Second, 10*time.Millisecond, "new connections refused", func() bool {
		rc, err := testutil.TryDialRaw(nil, a.Addr)
		if err == nil {
			rc.Close()
			return false
		}
		return strings.Contains(err.Error(), "421") && strings.Contains(err.Error(), "Maintenance: down at "+at)
	})
	pending.Expect(331, "USER %s", testUser)
	code, msg := pending.Cmd("PASS %s", testPassword)
	if code != 530 || !strings.Contains(msg, "530-Maintenance: down at "+at) || !strings.Contains(msg, "shutting down") {
		t.Errorf("login after the deny time: %d %q", code, msg)
	}
	if got := a.counter(t, metrics.LimitRefusals, "limit=shutdown"); got < 2 {
		t.Errorf("shutdown refusals counted %d, want at least 2", got)
	}
	if got := a.counter(t, metrics.Logins, "result=failed", "reason=shutdown"); got != 1 {
		t.Errorf("logins failed for the shutdown = %d, want 1", got)
	}

	// A transfer runs across the disconnect time: the client reads nothing yet.
	data := busy.OpenData()
	busy.Send("RETR big")
	if code, _ := busy.Reply(); code != 150 {
		t.Fatalf("RETR: %d", code)
	}

	// 10:02:00: idle sessions are closed with the message; the transfer goes on.
	a.setClock(t0.Add(90 * time.Second))
	for _, rc := range []*testutil.RawConn{early, pending} {
		code, msg, err := rc.TryReply()
		if err != nil || code != 421 || !strings.Contains(msg, "421-Maintenance") {
			t.Errorf("idle session at the disconnect time: %d %q %v", code, msg, err)
		}
		if _, _, err := rc.TryReply(); err == nil {
			t.Error("the idle session stays open")
		}
	}
	got, err := readAll(data)
	if err != nil || len(got) != len(big) {
		t.Fatalf("the running transfer was cut: %d bytes, %v", len(got), err)
	}
	if code, msg := busy.Reply(); code != 226 {
		t.Fatalf("after the transfer: %d %q", code, msg)
	}
	if code, msg, _ := busy.TryReply(); code != 421 || !strings.Contains(msg, "Server shutting down") {
		t.Errorf("after its transfer, the session: %d %q", code, msg)
	}

	// shutdown --cancel: the file goes, logins work again.
	if err := os.Remove(shutmsg); err != nil {
		t.Fatal(err)
	}
	a.setClock(t0.Add(92 * time.Second)) // past the file's one-second cache
	testutil.DialRaw(t, a.Addr).Login(testUser, testPassword)
}

func readAll(c interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(c)
	return b.Bytes(), err
}

// An unreadable or foreign shutdown file announces nothing (and is logged).
func TestBadShutdownFileIgnored(t *testing.T) {
	a := startAdminServer(t, 1, time.Now(), nil)
	if err := os.WriteFile(filepath.Join(a.dir, "shutmsg"), []byte("not a shutdown file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.DialRaw(t, a.Addr).Login(testUser, testPassword)
	if !strings.Contains(a.Logs.String(), "shutdown file ignored") {
		t.Error("the bad shutdown file was not logged")
	}
}

// A FIFO, a symlink (here to a plan that would refuse every login) or an oversized file at the
// shutdown file's path is refused at once and logged; the daemon keeps serving (a FIFO read the
// plain way would hang every connect).
func TestShutdownFileFIFOSymlinkTooBig(t *testing.T) {
	t0 := time.Now()
	a := startAdminServer(t, 1, t0, nil)
	shutmsg := filepath.Join(a.dir, "shutmsg")
	real := filepath.Join(t.TempDir(), "plan")
	if err := shutdownfile.Write(real, &shutdownfile.File{At: t0, Message: "down"}); err != nil {
		t.Fatal(err)
	}
	plan := (&shutdownfile.File{At: t0, Message: "down"}).Marshal()
	cases := []struct {
		name, want string
		make       func() error
	}{
		{"fifo", "not a regular file", func() error { return syscall.Mkfifo(shutmsg, 0o644) }},
		{"symlink", "symlink", func() error { return os.Symlink(real, shutmsg) }},
		{"too big", "larger than 64 KiB", func() error {
			return os.WriteFile(shutmsg, append(plan, bytes.Repeat([]byte("x"), shutdownfile.MaxSize)...), 0o644)
		}},
	}
	for i, c := range cases {
		os.Remove(shutmsg)
		if err := c.make(); err != nil {
			t.Fatal(err)
		}
		a.setClock(t0.Add(time.Duration(i+1) * 2 * planned.CheckEvery))
		rc := testutil.DialRaw(t, a.Addr)
		rc.Login(testUser, testPassword)
		if msg := rc.Expect(257, "PWD"); strings.Contains(msg, "down") {
			t.Errorf("%s: the plan behind it was announced: %q", c.name, msg)
		}
		testutil.WaitFor(t, 2*time.Second, 5*time.Millisecond, c.name+" logged", func() bool {
			return strings.Contains(a.Logs.String(), c.want)
		})
	}
}

// The library writes a multi-line reply (FEAT) in one write: the reply after it is still a
// reply of its own and carries the shutdown message (in the last minute, every reply does).
func TestShutdownNoticeAfterMultiLineReply(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 30, 0, time.Local)
	a := startAdminServer(t, 1, t0, nil)
	plan := &shutdownfile.File{At: t0.Add(30 * time.Second), Message: "Going down soon"} // 10:01, whole minutes
	if err := shutdownfile.Write(filepath.Join(a.dir, "shutmsg"), plan); err != nil {
		t.Fatal(err)
	}
	rc := testutil.DialRaw(t, a.Addr)
	rc.Login(testUser, testPassword)
	for _, cmd := range []string{"FEAT", "HELP"} {
		code, msg := rc.Cmd(cmd)
		if code != 211 && code != 214 {
			t.Fatalf("%s: %d %s", cmd, code, msg)
		}
		if msg := rc.Expect(257, "PWD"); !strings.Contains(msg, "257-Going down soon") {
			t.Errorf("the reply after %s lacks the shutdown message: %q", cmd, msg)
		}
	}
}

// xferlog as wu-ftpd wrote it for anonymous: access mode 'a' and the e-mail address given as
// password in the user field.
func TestXferlogAnonymousEmail(t *testing.T) {
	xfer := filepath.Join(t.TempDir(), "xferlog")
	anon := t.TempDir()
	if err := os.WriteFile(filepath.Join(anon, "README"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAdminServer(t, 1, time.Now(), func(c *config.Config) {
		c.Log.Xferlog = xfer
		c.Auth.AnonymousRoot = anon
	})
	rc := testutil.DialRaw(t, a.Addr)
	rc.Login("anonymous", "joe@example.org")
	if got := rc.Retr("README"); string(got) != "hello" {
		t.Fatalf("RETR: %q", got)
	}
	testutil.WaitFor(t, 2*time.Second, 5*time.Millisecond, "the xferlog line", func() bool {
		b, _ := os.ReadFile(xfer)
		return bytes.Count(b, []byte("\n")) == 1
	})
	b, _ := os.ReadFile(xfer)
	f := strings.Fields(string(b))
	if len(f) != 18 || f[5] != "1" || f[12] != "a" || f[13] != "joe@example.org" || f[8] != "/README" {
		t.Errorf("anonymous xferlog line %q", b)
	}
	if es := a.sessions(t); len(es) != 1 || es[0].Kind != "anonymous" || es[0].User != "anonymous" {
		t.Errorf("registry: %+v", es)
	}
}

// log.wtmp: a login record when the login succeeds, a logout record when the session ends
// (last(1) pairs them by line).
func TestWtmpRecordsTheSession(t *testing.T) {
	testutil.RequireTool(t, "utmpdump")
	path := filepath.Join(t.TempDir(), "wtmp")
	if err := os.WriteFile(path, nil, 0o664); err != nil {
		t.Fatal(err)
	}
	w, err := logging.OpenWtmp(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ts := startServerOpts(t, 1, nil, func(o *Options) { o.Wtmp = w })
	rc := testutil.DialRaw(t, ts.Addr)
	rc.Expect(331, "USER %s", testUser)
	rc.Expect(530, "PASS wrong") // no record for a failed login
	rc.Login(testUser, testPassword)
	rc.Expect(221, "QUIT")
	var out []byte
	testutil.WaitFor(t, 5*time.Second, 10*time.Millisecond, "the logout record", func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() == 2*384
	})
	out, err = exec.Command("utmpdump", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "[7]") || !strings.Contains(lines[0], "[alice") ||
		!strings.Contains(lines[0], "[127.0.0.1") || !strings.HasPrefix(lines[1], "[8]") {
		t.Fatalf("wtmp records:\n%s", out)
	}
	line := regexp.MustCompile(`\[(ftp\d+\.\d+) *\]`)
	if a, b := line.FindStringSubmatch(lines[0]), line.FindStringSubmatch(lines[1]); a == nil || b == nil || a[1] != b[1] {
		t.Errorf("login and logout are not on one line:\n%s", out)
	}
}

// Exactly `tunnelftpd shutdown +2 -l 1 -d 1` at 10:00:30: logins work until 10:00:59; at
// 10:01:00 a login is refused with the message and the idle session is disconnected.
func TestPlannedShutdownAsIssued(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 30, 0, time.Local)
	a := startAdminServer(t, 1, t0, nil)
	when, _ := shutdownfile.ParseWhen("+2", t0)
	plan := &shutdownfile.File{At: when.Truncate(time.Minute), Deny: time.Minute, Disconnect: time.Minute,
		Message: shutdownfile.Wrap(shutdownfile.DefaultMessage)}
	if err := shutdownfile.Write(filepath.Join(a.dir, "shutmsg"), plan); err != nil {
		t.Fatal(err)
	}
	idle := testutil.DialRaw(t, a.Addr)
	idle.Login(testUser, testPassword)
	a.setClock(t0.Add(29 * time.Second)) // 10:00:59
	late := testutil.DialRaw(t, a.Addr)
	late.Login(testUser, testPassword)
	late.Expect(221, "QUIT")

	a.setClock(t0.Add(30 * time.Second)) // 10:01:00
	want := "System shutdown at " + shutdownfile.CTime(plan.At)
	code, msg, err := idle.TryReply()
	if err != nil || code != 421 || !strings.Contains(msg, "421-"+want) {
		t.Errorf("idle session at 10:01:00: %d %q %v", code, msg, err)
	}
	_, err = testutil.TryDialRaw(nil, a.Addr)
	if err == nil || !strings.Contains(err.Error(), "421") || !strings.Contains(err.Error(), want) {
		t.Errorf("a login at 10:01:00: %v", err)
	}
}
