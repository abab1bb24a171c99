package launchtest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each launch mode, driven the way inetd or systemd drive it, with a real
// client doing login, LIST, RETR and STOR.

// TestSystemdAcceptYes: systemd Accept=yes passes one connection on fd 3
// (LISTEN_FDS=1); the process serves it and exits 0 once the client quits.
func TestSystemdAcceptYes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{level: "debug", output: "auto"}) // auto: standard error, which systemd-socket-activate passes on
	p := socketActivate(t, f, nil, []string{"--accept"}, binary, "serve", "-c", f.config)
	logs := p.stderr.String
	for i, name := range []string{"one.txt", "two.txt"} {
		exercise(t, f, name)
		pid := sessionPID(t, logs, i+1)
		if pid == p.cmd.Process.Pid {
			t.Fatalf("session %d ran in systemd-socket-activate's process", i+1)
		}
		p.waitOutput(regexp.MustCompile(fmt.Sprintf(`Child %d died with code 0\b`, pid)), 10*time.Second)
		waitGone(t, pid, 10*time.Second)
		if !regexp.MustCompile(fmt.Sprintf(`mode=systemd-accept .*pid=%d`, pid)).MatchString(logs()) {
			t.Errorf("process %d did not log mode=systemd-accept", pid)
		}
	}
}

// TestInetdNowait: inetd/xinetd "nowait" (and systemd Accept=yes with
// StandardInput=socket): the connection is fd 0 (and 1), --inetd.
func TestInetdNowait(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{level: "debug"}) // log to a file: stdio is the client's
	p := socketActivate(t, f, nil, []string{"--accept", "--inetd"}, binary, "serve", "--inetd", "-c", f.config)
	for i, name := range []string{"one.txt", "two.txt"} {
		exercise(t, f, name)
		pid := sessionPID(t, f.logs, i+1)
		p.waitOutput(regexp.MustCompile(fmt.Sprintf(`Child %d died with code 0\b`, pid)), 10*time.Second)
		waitGone(t, pid, 10*time.Second)
		if !regexp.MustCompile(fmt.Sprintf(`mode=inetd .*pid=%d`, pid)).MatchString(f.logs()) {
			t.Errorf("process %d did not log mode=inetd", pid)
		}
		if !regexp.MustCompile(fmt.Sprintf(`msg="session ended" .*pid=%d`, pid)).MatchString(f.logs()) {
			t.Errorf("process %d did not log the end of its session", pid)
		}
	}
}

// TestInetdWait: inetd "wait" passes the listening socket on fd 0; the
// process serves every connection on it until SIGTERM.
func TestInetdWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	p := socketActivate(t, f, nil, []string{"--inetd"}, binary, "serve", "--inetd", "-c", f.config)
	testMultiSession(t, f, p, "inetd-wait")
}

// TestSystemdAcceptNo: systemd Accept=no passes the listening socket on fd 3
// (LISTEN_FDS=1); the process serves every connection on it until SIGTERM.
func TestSystemdAcceptNo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	p := socketActivate(t, f, nil, nil, binary, "serve", "-c", f.config)
	testMultiSession(t, f, p, "systemd")
}

// TestStandalone: the daemon listens on listen itself.
func TestStandalone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	p := start(t, nil, binary, "serve", "-c", f.config)
	waitLog(t, f.logs, regexp.MustCompile(`msg=serving mode=standalone`), 10*time.Second)
	testMultiSession(t, f, p, "standalone")
}

// testMultiSession runs two overlapping sessions in the one process p, then
// stops it with SIGTERM.
func testMultiSession(t *testing.T, f *fixture, p *proc, mode string) {
	t.Helper()
	first := dial(t, f.addr) // stays open during the second session
	exercise(t, f, "two.txt")
	if _, err := first.List("/"); err != nil {
		t.Fatalf("LIST in the first session: %v", err)
	}
	if err := first.Quit(); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 2; n++ {
		if pid := sessionPID(t, f.logs, n); pid != p.cmd.Process.Pid {
			t.Errorf("session %d ran in process %d, want the daemon %d", n, pid, p.cmd.Process.Pid)
		}
	}
	if !regexp.MustCompile(`msg=serving mode=` + mode + ` `).MatchString(f.logs()) {
		t.Errorf("the daemon did not log mode=%s", mode)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if !regexp.MustCompile(`msg=stopped`).MatchString(f.logs()) {
		t.Error("no msg=stopped in the log")
	}
}

// TestSingleSessionIgnoresSIGHUP: a per-connection process keeps serving
// its session on SIGHUP (the default action would kill it), and exits 0.
func TestSingleSessionIgnoresSIGHUP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	p := socketActivate(t, f, nil, []string{"--accept"}, binary, "serve", "-c", f.config)
	c := dial(t, f.addr)
	pid := sessionPID(t, f.logs, 1)
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, f.logs, regexp.MustCompile(`msg="SIGHUP: this process serves one session`), 10*time.Second)
	if _, err := c.List("/"); err != nil {
		t.Fatalf("LIST after SIGHUP: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	p.waitOutput(regexp.MustCompile(fmt.Sprintf(`Child %d died with code 0\b`, pid)), 10*time.Second)
}

// TestReloadLogSettings: SIGHUP applies new log settings (here the format)
// and reopens the log file, so that logrotate can move it away.
func TestReloadLogSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, options{})
	p := start(t, nil, binary, "serve", "-c", f.config)
	waitLog(t, f.logs, regexp.MustCompile(`msg=serving mode=standalone`), 10*time.Second)
	rotated := f.logFile + ".1"
	if err := os.Rename(f.logFile, rotated); err != nil {
		t.Fatal(err)
	}
	f.writeConfig(strings.Replace(f.configText(), "[log]\n", "[log]\nformat = \"json\"\n", 1))
	p.signal(syscall.SIGHUP)
	waitLog(t, f.logs, regexp.MustCompile(`\{"time":.*"msg":"config reloaded for new sessions".*"pid":\d+\}`), 10*time.Second)
	exercise(t, f, "up.txt")
	waitLog(t, f.logs, regexp.MustCompile(`"msg":"session ended".*"pid":\d+\}`), 10*time.Second)
	old, _ := os.ReadFile(rotated)
	if !strings.Contains(string(old), "msg=serving") || strings.Contains(string(old), "config reloaded") {
		t.Errorf("the rotated file should hold the lines before the reload, only:\n%s", old)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestRunAsAfterBind: a daemon started as root with run_as serves as that
// account once its socket is bound (standalone, and Accept=no where systemd
// bound it).
func TestRunAsAfterBind(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root (switching to run_as)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("SKIP: no user nobody")
	}
	t.Parallel()
	for _, mode := range multiSessionModes[:2] {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, options{})
			f.writeConfig(`run_as = "nobody"` + "\n" + f.configText())
			uid, _ := strconv.Atoi(nobody.Uid)
			gid, _ := strconv.Atoi(nobody.Gid)
			// nobody must reach the config and its root.
			for _, d := range []string{filepath.Dir(f.dir), f.dir} {
				os.Chmod(d, 0o755)
			}
			os.Chmod(f.config, 0o644)
			os.Chown(f.root, uid, gid)
			p := mode.start(t, f)
			exercise(t, f, "up.txt")
			waitLog(t, f.logs, regexp.MustCompile(`msg="switched to run_as" user=nobody`), 10*time.Second)
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid)
			if !strings.Contains(string(status), want) {
				t.Errorf("the daemon does not run as nobody:\n%s", status)
			}
			st, err := os.Stat(filepath.Join(f.root, "up.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if owner := st.Sys().(*syscall.Stat_t).Uid; int(owner) != uid {
				t.Errorf("upload owned by uid %d, want nobody's %d", owner, uid)
			}
		})
	}
}
