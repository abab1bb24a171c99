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

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// Each launch mode, driven the way inetd or systemd drive it, with a real
// client doing login, LIST, RETR and STOR.

// TestSystemdAcceptYes: systemd Accept=yes passes one connection on fd 3
// (LISTEN_FDS=1); the process serves it and exits 0 once the client quits.
func TestSystemdAcceptYes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{LogLevel: "debug", LogOutput: "auto"}) // auto: standard error, which systemd-socket-activate passes on
	p := socketActivate(t, f, nil, []string{"--accept"}, binary, "serve", "-c", f.Config)
	logs := p.Out.String
	for i, name := range []string{"one.txt", "two.txt"} {
		exercise(t, f, name)
		pid := sessionPID(t, logs, i+1)
		if pid == p.Pid() {
			t.Fatalf("session %d ran in systemd-socket-activate's process", i+1)
		}
		p.WaitOutput(regexp.MustCompile(fmt.Sprintf(`Child %d died with code 0\b`, pid)), 10*time.Second)
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
	f := newFixture(t, testutil.DaemonOptions{LogLevel: "debug"}) // log to a file: stdio is the client's
	p := socketActivate(t, f, nil, []string{"--accept", "--inetd"}, binary, "serve", "--inetd", "-c", f.Config)
	for i, name := range []string{"one.txt", "two.txt"} {
		exercise(t, f, name)
		pid := sessionPID(t, f.Logs, i+1)
		p.WaitOutput(regexp.MustCompile(fmt.Sprintf(`Child %d died with code 0\b`, pid)), 10*time.Second)
		waitGone(t, pid, 10*time.Second)
		if !regexp.MustCompile(fmt.Sprintf(`mode=inetd .*pid=%d`, pid)).MatchString(f.Logs()) {
			t.Errorf("process %d did not log mode=inetd", pid)
		}
		if !regexp.MustCompile(fmt.Sprintf(`msg="session ended" .*pid=%d`, pid)).MatchString(f.Logs()) {
			t.Errorf("process %d did not log the end of its session", pid)
		}
	}
}

// TestInetdWait: inetd "wait" passes the listening socket on fd 0; the
// process serves every connection on it until SIGTERM.
func TestInetdWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{})
	p := socketActivate(t, f, nil, []string{"--inetd"}, binary, "serve", "--inetd", "-c", f.Config)
	testMultiSession(t, f, p, "inetd-wait")
}

// TestSystemdAcceptNo: systemd Accept=no passes the listening socket on fd 3
// (LISTEN_FDS=1); the process serves every connection on it until SIGTERM.
func TestSystemdAcceptNo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{})
	p := socketActivate(t, f, nil, nil, binary, "serve", "-c", f.Config)
	testMultiSession(t, f, p, "systemd")
}

// TestStandalone: the daemon listens on listen itself.
func TestStandalone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{})
	p := serveStandalone(t, f)
	testMultiSession(t, f, p, "standalone")
}

// testMultiSession runs two overlapping sessions in the one process p, then
// stops it with SIGTERM.
func testMultiSession(t *testing.T, f *testutil.Daemon, p *testutil.Process, mode string) {
	t.Helper()
	first := dial(t, f.Addr) // stays open during the second session
	exercise(t, f, "two.txt")
	if _, err := first.List("/"); err != nil {
		t.Fatalf("LIST in the first session: %v", err)
	}
	if err := first.Quit(); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 2; n++ {
		if pid := sessionPID(t, f.Logs, n); pid != p.Pid() {
			t.Errorf("session %d ran in process %d, want the daemon %d", n, pid, p.Pid())
		}
	}
	if !regexp.MustCompile(`msg=serving mode=` + mode + ` `).MatchString(f.Logs()) {
		t.Errorf("the daemon did not log mode=%s", mode)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(20 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if !regexp.MustCompile(`msg=stopped`).MatchString(f.Logs()) {
		t.Error("no msg=stopped in the log")
	}
}

// TestSingleSessionIgnoresSIGHUP: a per-connection process keeps serving
// its session on SIGHUP (the default action would kill it), and exits 0.
func TestSingleSessionIgnoresSIGHUP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{})
	p := socketActivate(t, f, nil, []string{"--accept"}, binary, "serve", "-c", f.Config)
	c := dial(t, f.Addr)
	pid := sessionPID(t, f.Logs, 1)
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	f.WaitLog(regexp.MustCompile(`msg="SIGHUP: this process serves one session`), 10*time.Second)
	if _, err := c.List("/"); err != nil {
		t.Fatalf("LIST after SIGHUP: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	p.WaitOutput(regexp.MustCompile(fmt.Sprintf(`Child %d died with code 0\b`, pid)), 10*time.Second)
}

// TestReloadLogSettings: SIGHUP applies new log settings (here the format)
// and reopens the log file, so that logrotate can move it away.
func TestReloadLogSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{})
	p := serveStandalone(t, f)
	rotated := f.LogFile + ".1"
	if err := os.Rename(f.LogFile, rotated); err != nil {
		t.Fatal(err)
	}
	f.EditConfig("[log]\n", "[log]\nformat = \"json\"\n")
	p.Signal(syscall.SIGHUP)
	f.WaitLog(regexp.MustCompile(`\{"time":.*"msg":"config reloaded for new sessions".*"pid":\d+\}`), 10*time.Second)
	exercise(t, f, "up.txt")
	f.WaitLog(regexp.MustCompile(`"msg":"session ended".*"pid":\d+\}`), 10*time.Second)
	old, _ := os.ReadFile(rotated)
	if !strings.Contains(string(old), "msg=serving") || strings.Contains(string(old), "config reloaded") {
		t.Errorf("the rotated file should hold the lines before the reload, only:\n%s", old)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(20 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestRunAsAfterBind: a daemon started as root with run_as serves as that
// account once its socket is bound (standalone, and Accept=no where systemd
// bound it).
func TestRunAsAfterBind(t *testing.T) {
	testutil.Privileged(t, "switches to run_as")
	nobody, err := user.Lookup("nobody")
	testutil.Require(t, err == nil, fmt.Sprintf("no user nobody (%v)", err))
	t.Parallel()
	for _, mode := range multiSessionModes[:2] {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testutil.DaemonOptions{})
			f.WriteConfig(`run_as = "nobody"` + "\n" + f.ConfigText())
			uid, _ := strconv.Atoi(nobody.Uid)
			gid, _ := strconv.Atoi(nobody.Gid)
			// nobody must reach the config and its root.
			for _, d := range []string{filepath.Dir(f.Dir), f.Dir} {
				os.Chmod(d, 0o755)
			}
			os.Chmod(f.Config, 0o644)
			os.Chown(f.Root, uid, gid)
			p := mode.start(t, f)
			exercise(t, f, "up.txt")
			f.WaitLog(regexp.MustCompile(`msg="switched to run_as" user=nobody`), 10*time.Second)
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid)
			if !strings.Contains(string(status), want) {
				t.Errorf("the daemon does not run as nobody:\n%s", status)
			}
			st, err := os.Stat(filepath.Join(f.Root, "up.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if owner := st.Sys().(*syscall.Stat_t).Uid; int(owner) != uid {
				t.Errorf("upload owned by uid %d, want nobody's %d", owner, uid)
			}
		})
	}
}
