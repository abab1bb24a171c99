package launchtest

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// classConfig adds to f's config: anonymous login, the lock files in the test's directory (so
// that parallel tests do not count each other's sessions), and two classes: alice's, of at most
// two sessions, and anonymous's, without a limit.
func classConfig(t *testing.T, f *testutil.Daemon) {
	t.Helper()
	f.EditConfig("[passive]\n", fmt.Sprintf("[passive]\nlock_file = %q\n", filepath.Join(f.Dir, "run", "passive.lock")))
	f.EditConfig("[auth]\n", fmt.Sprintf("[auth]\nanonymous_root = %q\n", f.Root))
	f.WriteConfig(f.ConfigText() + `
[[classes]]
name = "partners"
who = ["alice"]
max_sessions = 2
full_message = "Partner sessions: %N of %M, try later"

[[classes]]
name = "anon"
who = ["@anonymous"]
`)
}

// loginReply logs in as user on addr and returns the reply to PASS; the connection stays open
// until the test ends (or the server closes it).
func loginReply(t *testing.T, addr, user, password string) (*testutil.RawConn, int, string) {
	t.Helper()
	rc := testutil.DialRaw(t, addr)
	rc.Expect(331, "USER %s", user)
	code, msg := rc.Cmd("PASS %s", password)
	return rc, code, msg
}

// TestClassesAcrossLaunchModes: one class limit holds across a systemd Accept=no daemon and
// the per-connection processes of inetd nowait and systemd Accept=yes sharing its config: the
// class's third session gets 421 with its full_message wherever it connects, while a session of
// another class still logs in; the Accept=no daemon's STATUS line counts every process's
// sessions; and a session that ends frees its slot for the others.
func TestClassesAcrossLaunchModes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{LogLevel: "debug"}) // log to a file: with --inetd stdio is the client's
	classConfig(t, f)
	ns := newNotifySocket(t)
	socketActivate(t, f, []string{"NOTIFY_SOCKET=" + ns.path}, nil, binary, "serve", "-c", f.Config)
	inetdAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := start(t, "systemd-socket-activate", "--accept", "--inetd", "-l", inetdAddr, binary, "serve", "--inetd", "-c", f.Config)
	p.WaitOutput(regexp.MustCompile(`Listening on .* as 3`), 10*time.Second)
	acceptAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p = start(t, "systemd-socket-activate", "--accept", "-l", acceptAddr, binary, "serve", "-c", f.Config)
	p.WaitOutput(regexp.MustCompile(`Listening on .* as 3`), 10*time.Second)

	daemon := testutil.DialRaw(t, f.Addr)
	daemon.Login(testUser, testPassword)
	inetd := testutil.DialRaw(t, inetdAddr)
	inetd.Login(testUser, testPassword)

	for _, addr := range []string{inetdAddr, acceptAddr, f.Addr} {
		_, code, msg := loginReply(t, addr, testUser, testPassword)
		if code != 421 || msg != "421 Partner sessions: 2 of 2, try later" {
			t.Errorf("third partner session via %s: %d %q, want 421 with the full_message", addr, code, msg)
		}
	}
	anon := testutil.DialRaw(t, acceptAddr)
	anon.Login("anonymous", "guest@example.com") // another class logs in
	if !regexp.MustCompile(`msg=login user=anonymous .*class=anon `).MatchString(f.Logs()) {
		t.Errorf("anonymous was not put in class anon:\n%s", testutil.Tail(f.Logs(), 3000))
	}

	waitStatus(t, ns, "classes: partners 2/2, anon 1")
	inetd.Expect(221, "QUIT")
	waitStatus(t, ns, "classes: partners 1/2, anon 1")
	testutil.DialRaw(t, acceptAddr).Login(testUser, testPassword)
	waitStatus(t, ns, "classes: partners 2/2, anon 1")
}

// waitStatus waits for a STATUS= message of the daemon holding want.
func waitStatus(t *testing.T, ns *notifySocket, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	var seen []string
	for {
		select {
		case m, ok := <-ns.msgs:
			if !ok {
				t.Fatal("notify socket closed")
			}
			seen = append(seen, m)
			if strings.Contains(m, "STATUS=") && strings.Contains(m, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no STATUS= with %q within 20s; messages: %q", want, seen)
		}
	}
}

// TestSystemGroupClassAndRule: system users' sessions, each in a process of its own (the
// standalone daemon's per-session children), are classed and ruled by their system groups
// (@group:NAME): the class of the group holds one session, so a second member gets 421 while a
// user outside the group logs in; and a rule denying delete to the group refuses the member's
// DELE but not the other user's.
func TestSystemGroupClassAndRule(t *testing.T) {
	needSystemUsers(t)
	group := "tftpg" + strings.ToLower(rand.Text()[:6])
	mustExec(t, "", "groupadd", group)
	t.Cleanup(func() { exec.Command("groupdel", group).Run() })
	member, member2, outsider := addSysUser(t, "-G", group), addSysUser(t, "-G", group), addSysUser(t)
	for _, u := range []sysAccount{member, outsider} {
		if err := os.WriteFile(filepath.Join(u.home, "keep.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(filepath.Join(u.home, "keep.txt"), u.uid, u.gid)
	}
	f, _ := sysFixture(t, "")
	f.EditConfig("[passive]\n", fmt.Sprintf("[passive]\nlock_file = %q\n", filepath.Join(f.Dir, "run", "passive.lock")))
	f.WriteConfig(f.ConfigText() + fmt.Sprintf(`
[[rules]]
path = "/**"
who = ["@group:%s"]
deny = ["delete"]

[[classes]]
name = "team"
who = ["@group:%s"]
max_sessions = 1
full_message = "team is full"
`, group, group))
	serveStandalone(t, f)

	a := testutil.DialRaw(t, f.Addr)
	a.Expect(331, "USER %s", member.name)
	a.Expect(230, "PASS %s", sysPassword)
	_, code, msg := loginReply(t, f.Addr, member2.name, sysPassword)
	if code != 421 || msg != "421 team is full" {
		t.Errorf("second member of the group: %d %q, want 421 team is full", code, msg)
	}
	o := testutil.DialRaw(t, f.Addr)
	o.Expect(331, "USER %s", outsider.name)
	o.Expect(230, "PASS %s", sysPassword)

	if code, msg := a.Cmd("DELE keep.txt"); code != 550 {
		t.Errorf("group member DELE: %d %q, want 550 (rule for @group:%s)", code, msg, group)
	}
	o.Expect(250, "DELE keep.txt")
	if _, err := os.Stat(filepath.Join(member.home, "keep.txt")); err != nil {
		t.Errorf("the member's file is gone: %v", err)
	}
	childPIDs(t, f, 3) // each session ran in a process of its own
}
