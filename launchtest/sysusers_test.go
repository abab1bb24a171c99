package launchtest

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
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

// System accounts (PAM) and privilege separation, with the built binary,
// real throwaway users and the host's real pam_unix.

const sysPassword = "Sys-pass 1"

// sysAccount is a throwaway system user.
type sysAccount struct {
	name     string
	uid, gid int
	home     string
}

// needSystemUsers requires what the test needs to create users and use
// PAM (testutil.Require: a skip, or a failure under TUNNELFTPD_E2E=1).
func needSystemUsers(t *testing.T) {
	t.Helper()
	testutil.Privileged(t, "creates system users, logs them in through PAM and drops privileges")
	testutil.RequireTool(t, "useradd", "userdel", "chpasswd", "usermod")
	_, err := os.Stat("/etc/pam.d/common-auth")
	testutil.Require(t, err == nil, "no PAM stack in /etc/pam.d (Debian package libpam-runtime)")
}

// addSysUser creates a user with a home directory and sysPassword; it is
// removed when the test ends.
func addSysUser(t *testing.T, extra ...string) sysAccount {
	t.Helper()
	name := "tftps" + strings.ToLower(rand.Text()[:8])
	mustExec(t, "", "useradd", append([]string{"-m", "-s", "/bin/sh"}, append(extra, name)...)...)
	t.Cleanup(func() {
		// Session processes of the user must be gone before userdel.
		exec.Command("userdel", "-r", name).Run()
	})
	mustExec(t, name+":"+sysPassword+"\n", "chpasswd")
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	a := sysAccount{name: name, home: u.HomeDir}
	a.uid, _ = strconv.Atoi(u.Uid)
	a.gid, _ = strconv.Atoi(u.Gid)
	return a
}

func mustExec(t *testing.T, stdin, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// installPAMService installs the shipped etc/pam.d/tunnelftpd under a
// unique service name for the test and returns the name.
func installPAMService(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../etc/pam.d/tunnelftpd")
	if err != nil {
		t.Fatal(err)
	}
	name := "tunnelftpd-test-" + strings.ToLower(rand.Text()[:8])
	path := filepath.Join("/etc/pam.d", name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return name
}

// sysFixture is a config with system users, anonymous access and one
// virtual user, whose sessions run as nobody.
func sysFixture(t *testing.T, extraConfig string) (*testutil.Daemon, string) {
	t.Helper()
	return sysFixtureOpts(t, extraConfig, testutil.DaemonOptions{})
}

func sysFixtureOpts(t *testing.T, extraConfig string, o testutil.DaemonOptions) (*testutil.Daemon, string) {
	t.Helper()
	f := newFixture(t, o)
	anon := filepath.Join(f.Dir, "pub")
	os.MkdirAll(anon, 0o755)
	os.WriteFile(filepath.Join(anon, "readme.txt"), []byte("public\n"), 0o644)
	// The test's temp dir is root-only; the session processes, once they
	// are the user, must still reach their roots and the log file.
	os.Chmod(f.Dir, 0o755)
	os.Chmod(filepath.Dir(f.Dir), 0o755) // t.TempDir's parent is 0700 too
	ftpusers := filepath.Join(f.Dir, "ftpusers")
	os.WriteFile(ftpusers, []byte("root\n"), 0o644)
	// Top-level keys first (before any table), then the [auth] additions.
	text := "run_as = \"nobody\"\n" + extraConfig + "\n" + strings.Replace(f.ConfigText(), "[auth]\n", fmt.Sprintf(`[auth]
system_users = true
pam_service = %q
ftpusers = %q
anonymous_root = %q
max_login_attempts = 1
`, installPAMService(t), ftpusers, anon), 1)
	f.WriteConfig(text)
	return f, ftpusers
}

// procIDs returns the Uid and Gid lines of /proc/PID/status.
func procIDs(t *testing.T, pid int) (uidLine, gidLine string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("session process %d: %v", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "Uid:"):
			uidLine = strings.Join(strings.Fields(l)[1:], " ")
		case strings.HasPrefix(l, "Gid:"):
			gidLine = strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return uidLine, gidLine
}

func ids(n int) string { return fmt.Sprintf("%d %d %d %d", n, n, n, n) }

// childPIDs waits for n "session process started" lines and returns their child pids.
func childPIDs(t *testing.T, f *testutil.Daemon, n int) []int {
	t.Helper()
	re := regexp.MustCompile(`msg="session process started".* child_pid=(\d+)`)
	var pids []int
	testutil.WaitFor(t, 10*time.Second, 20*time.Millisecond, fmt.Sprintf("%d session processes", n), func() bool {
		pids = nil
		for _, m := range re.FindAllStringSubmatch(f.Logs(), -1) {
			p, _ := strconv.Atoi(m[1])
			pids = append(pids, p)
		}
		return len(pids) >= n
	})
	return pids
}

// TestSystemUsersStandalone: two system users at once in standalone mode get
// two session processes, each running as its user (uid, gid, saved ids:
// no way back), while the listening process stays as it was; uploads are
// owned by the user; a symlink to another user's home is not followed.
func TestSystemUsersStandalone(t *testing.T) {
	needSystemUsers(t)
	alice, bob := addSysUser(t), addSysUser(t)
	// Bob's files are world-readable, so only confinement keeps Alice out.
	os.Chmod(bob.home, 0o755)
	os.WriteFile(filepath.Join(bob.home, "secret.txt"), []byte("BOB'S SECRET"), 0o644)
	os.Symlink(bob.home, filepath.Join(alice.home, "bob"))
	os.Symlink(filepath.Join(bob.home, "secret.txt"), filepath.Join(alice.home, "secret-link"))

	f, _ := sysFixture(t, "")
	d := serveStandalone(t, f)

	a := testutil.DialRaw(t, f.Addr)
	a.Expect(331, "USER %s", alice.name)
	a.Expect(230, "PASS %s", sysPassword)
	b := testutil.DialRaw(t, f.Addr)
	b.Expect(331, "USER %s", bob.name)
	b.Expect(230, "PASS %s", sysPassword)

	pids := childPIDs(t, f, 2)
	seen := map[string]bool{}
	for _, pid := range pids[:2] {
		uidLine, gidLine := procIDs(t, pid)
		seen[uidLine+"/"+gidLine] = true
	}
	for _, u := range []sysAccount{alice, bob} {
		if !seen[ids(u.uid)+"/"+ids(u.gid)] {
			t.Errorf("no session process runs as %s (uid %d gid %d): %v", u.name, u.uid, u.gid, seen)
		}
	}
	if uidLine, _ := procIDs(t, d.Pid()); uidLine != ids(0) {
		t.Errorf("the listening process changed identity: Uid %s", uidLine)
	}

	// Alice's upload is hers.
	a.UsePASV = true
	a.Stor("mine.txt", []byte("alice's file\n"))
	st, err := os.Stat(filepath.Join(alice.home, "mine.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != alice.uid || int(sys.Gid) != alice.gid {
		t.Errorf("upload owned by %d:%d, want %d:%d", sys.Uid, sys.Gid, alice.uid, alice.gid)
	}

	// Links out of Alice's home lead nowhere.
	for _, p := range []string{"bob/secret.txt", "secret-link"} {
		data := a.OpenData()
		code, msg := a.Cmd("RETR %s", p)
		if code == 150 {
			got, _ := io.ReadAll(data)
			a.Reply()
			t.Errorf("RETR %s through a symlink to another home: got %q", p, got)
		} else if code != 550 {
			t.Errorf("RETR %s: %d %s, want 550", p, code, msg)
		}
		data.Close()
	}

	a.Expect(221, "QUIT")
	b.Expect(221, "QUIT")
	for _, pid := range pids[:2] {
		waitGone(t, pid, 10*time.Second)
	}
	d.Signal(syscall.SIGTERM)
	if code := d.Wait(20 * time.Second); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// TestSystemUserAcceptYes: in systemd Accept=yes mode the per-connection
// process itself becomes the user after login.
func TestSystemUserAcceptYes(t *testing.T) {
	needSystemUsers(t)
	alice := addSysUser(t)
	f, _ := sysFixture(t, "")
	socketActivate(t, f, nil, []string{"--accept"}, binary, "serve", "-c", f.Config)

	a := testutil.DialRaw(t, f.Addr)
	a.Expect(331, "USER %s", alice.name)
	a.Expect(230, "PASS %s", sysPassword)
	pid := sessionPID(t, f.Logs, 1)
	if uidLine, gidLine := procIDs(t, pid); uidLine != ids(alice.uid) || gidLine != ids(alice.gid) {
		t.Errorf("session process runs as Uid %s Gid %s, want %d/%d", uidLine, gidLine, alice.uid, alice.gid)
	}
	a.UsePASV = true
	a.Stor("up.txt", []byte("x"))
	st, err := os.Stat(filepath.Join(alice.home, "up.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if int(st.Sys().(*syscall.Stat_t).Uid) != alice.uid {
		t.Errorf("upload owned by uid %d, want %d", st.Sys().(*syscall.Stat_t).Uid, alice.uid)
	}
	a.Expect(221, "QUIT")
	waitGone(t, pid, 10*time.Second)
}

// TestSystemUserRefusals: each refused account gets 530 and a log line with
// the reason, through the real daemon and PAM.
func TestSystemUserRefusals(t *testing.T) {
	needSystemUsers(t)
	good := addSysUser(t)
	locked := addSysUser(t)
	mustExec(t, "", "usermod", "-L", locked.name)
	expired := addSysUser(t)
	mustExec(t, "", "usermod", "-e", "1970-01-02", expired.name)
	listed := addSysUser(t)
	lowUID := addSysUser(t, "-r")

	f, ftpusers := sysFixture(t, "")
	os.WriteFile(ftpusers, []byte("root\n"+listed.name+"\n"), 0o644)
	serveStandalone(t, f)

	for _, tc := range []struct{ name, user, pass, reason string }{
		{"wrong password", good.name, "wrong", "PAM authentication"},
		{"locked", locked.name, sysPassword, "PAM authentication"},
		{"expired", expired.name, sysPassword, "PAM account"},
		{"ftpusers", listed.name, sysPassword, "listed in"},
		{"root", "root", sysPassword, "listed in"},
		{"uid below min_uid", lowUID.name, sysPassword, "below min_uid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := testutil.DialRaw(t, f.Addr)
			rc.Expect(331, "USER %s", tc.user)
			rc.Expect(530, "PASS %s", tc.pass)
			re := regexp.MustCompile(`msg="login failed" user=` + regexp.QuoteMeta(tc.user) + ` from=127\.0\.0\.1:\d+ .*reason="[^"]*` + regexp.QuoteMeta(tc.reason))
			testutil.WaitFor(t, 10*time.Second, 20*time.Millisecond, "the login-failed line", func() bool { return re.MatchString(f.Logs()) })
		})
	}
	if strings.Contains(f.Logs(), sysPassword) {
		t.Error("a password reached the log")
	}
	// The good user still logs in.
	rc := testutil.DialRaw(t, f.Addr)
	rc.Expect(331, "USER %s", good.name)
	rc.Expect(230, "PASS %s", sysPassword)
}

// TestAnonymousReadOnly: anonymous logins read the anonymous root, run as
// run_as (nobody), and can change nothing.
func TestAnonymousReadOnly(t *testing.T) {
	needSystemUsers(t)
	f, _ := sysFixture(t, "")
	serveStandalone(t, f)
	anon := filepath.Join(f.Dir, "pub")
	for _, name := range []string{"anonymous", "ftp"} {
		rc := testutil.DialRaw(t, f.Addr)
		rc.Expect(331, "USER %s", name)
		rc.Expect(230, "PASS someone@example.org")
		if name == "anonymous" {
			// The session process has become run_as (nobody) for good.
			pid := childPIDs(t, f, 1)[0]
			if uidLine, gidLine := procIDs(t, pid); uidLine != ids(65534) || gidLine != ids(65534) {
				t.Errorf("anonymous session runs as Uid %s Gid %s, want nobody", uidLine, gidLine)
			}
		}
		rc.UsePASV = true
		if got := rc.Retr("readme.txt"); string(got) != "public\n" {
			t.Errorf("%s RETR: %q", name, got)
		}
		for _, cmd := range []string{"DELE readme.txt", "MKD new", "RMD ."} {
			if code, msg := rc.Cmd("%s", cmd); code != 550 {
				t.Errorf("%s %s: %d %s, want 550", name, cmd, code, msg)
			}
		}
		rc.Expect(350, "RNFR readme.txt")
		if code, msg := rc.Cmd("RNTO moved.txt"); code != 550 {
			t.Errorf("%s RNTO: %d %s, want 550", name, code, msg)
		}
		data := rc.OpenData()
		if code, msg := rc.Cmd("STOR upload.txt"); code != 550 {
			t.Errorf("%s STOR: %d %s, want 550", name, code, msg)
		}
		data.Close()
	}
	entries, _ := os.ReadDir(anon)
	if len(entries) != 1 {
		t.Errorf("anonymous root changed: %v", entries)
	}
}

// TestPassivePortAcrossSessionProcesses: with one passive port and every
// session in its own process, 10 clients that PASV and RETR at once all
// succeed: the processes share the port through the lock file, waiting for
// it instead of failing.
func TestPassivePortAcrossSessionProcesses(t *testing.T) {
	needSystemUsers(t)
	f, _ := sysFixtureOpts(t, "", testutil.DaemonOptions{PortCount: 1})
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	os.WriteFile(filepath.Join(f.Dir, "pub", "big.bin"), []byte(big), 0o644)
	serveStandalone(t, f)

	const clients = 10
	conns := make([]*testutil.RawConn, clients)
	for i := range conns {
		conns[i] = testutil.DialRaw(t, f.Addr)
		conns[i].Expect(331, "USER anonymous")
		conns[i].Expect(230, "PASS x@example.org")
	}
	childPIDs(t, f, clients) // every session has its process
	errs := make(chan error, clients)
	for _, rc := range conns {
		rc.Timeout = 30 * time.Second
		go func() {
			got, err := rc.TryRetr("big.bin")
			if err == nil && len(got) != len(big) {
				err = fmt.Errorf("RETR: %d bytes, want %d", len(got), len(big))
			}
			errs <- err
		}()
	}
	failed := 0
	for range conns {
		if err := <-errs; err != nil {
			failed++
			t.Error(err)
		}
	}
	t.Logf("1 passive port, %d session processes: %d succeeded", clients, clients-failed)
}

// TestNoCgoBuild: a build without cgo (no PAM) runs virtual users, and a
// config asking for system users is refused at startup, saying why.
func TestNoCgoBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tunnelftpd-nocgo")
	build := exec.Command("go", "build", "-o", bin, "github.com/tunnelftpd/tunnelftpd/cmd/tunnelftpd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 build: %v\n%s", err, out)
	}
	f := newFixture(t, testutil.DaemonOptions{})
	f.Bin = bin
	d := serveStandalone(t, f)
	exercise(t, f, "nocgo.txt")
	d.Signal(syscall.SIGTERM)
	d.Wait(20 * time.Second)

	f.EditConfig("[auth]\n", "[auth]\nsystem_users = true\n")
	out, err := exec.Command(bin, "check", "-c", f.Config).CombinedOutput()
	if err == nil || !regexp.MustCompile(`:\d+: auth\.system_users: .*without PAM support \(no cgo\)`).Match(out) {
		t.Errorf("check with system_users on a no-cgo build: %v\n%s", err, out)
	}
}
