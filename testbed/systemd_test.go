package testbed

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestSocketActivatedTunnel installs tunnelftpd in a booted Debian 12 as
// README says (shipped units, hardened, socket activation) and logs in
// and transfers with curl through a real sshd tunnel from the client
// namespace.
func TestSocketActivatedTunnel(t *testing.T) {
	requireHostTools(t)
	bed := Boot(t, Options{})
	s := install(t, bed, nil)

	if got := s.unitState("tunnelftpd.socket"); got != "active" {
		t.Fatalf("tunnelftpd.socket is %q after README's install, want active", got)
	}
	if got := s.unitState("tunnelftpd.service"); got != "inactive" {
		t.Fatalf("tunnelftpd.service is %q before any connection, want inactive (socket activation)", got)
	}
	s.startTunnel()

	// The first connection starts the service.
	list, _, err := s.curl("", "ftp://127.0.0.1:2121/")
	if err != nil {
		t.Fatalf("listing through the tunnel: %v", err)
	}
	if got := s.unitState("tunnelftpd.service"); got != "active" {
		t.Errorf("tunnelftpd.service is %q after a login, want active", got)
	}
	if strings.TrimSpace(list) != "" {
		t.Errorf("listing of an empty root: %q", list)
	}

	want := "uploaded through " + bed.Name + "\n"
	up := filepath.Join(t.TempDir(), "up.txt")
	if err := os.WriteFile(up, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.curl("", "-T", up, "ftp://127.0.0.1:2121/up.txt"); err != nil {
		t.Fatalf("upload (EPSV): %v", err)
	}
	got, err := bed.ReadFile("/srv/ftp/alice/up.txt")
	if err != nil || string(got) != want {
		t.Fatalf("uploaded file in the bed: %q, %v; want %q", got, err, want)
	}
	if owner := strings.TrimSpace(bed.Run(t, "stat", "-c", "%U", "/srv/ftp/alice/up.txt")); owner != "tunnelftpd" {
		t.Errorf("upload owned by %q, want the service user tunnelftpd", owner)
	}
	down, _, err := s.curl("", "--disable-epsv", "ftp://127.0.0.1:2121/up.txt")
	if err != nil || down != want {
		t.Fatalf("download (PASV): %q, %v; want %q", down, err, want)
	}

	j := s.journal("-u", "tunnelftpd.service")
	for _, w := range []string{`msg="transfer complete"`, `direction=upload user=alice path=/up.txt bytes=30`} {
		if !strings.Contains(j, w) {
			t.Errorf("journal of tunnelftpd.service has no %q:\n%s", w, tail(j, 3000))
		}
	}
	// The unprivileged daemon learnt the SSH client's address from the
	// identity helper, and had nothing to warn about.
	login := regexp.MustCompile(`msg=login user=alice from=127\.0\.0\.1:\d+ ssh_user=` + sshUser + ` client=` + regexp.QuoteMeta(ClientAddr) + `:\d+ `)
	if !login.MatchString(j) {
		t.Errorf("no login line with ssh_user=%s client=%s:PORT in the journal:\n%s", sshUser, ClientAddr, tail(j, 3000))
	}
	if w := s.journal("-u", "tunnelftpd.service", "-p", "warning"); strings.TrimSpace(w) != "" {
		t.Errorf("warnings from a working setup:\n%s", w)
	}

	t.Run("reload keeps sessions", func(t *testing.T) { testReloadKeepsSessions(t, s) })
	t.Run("without the identity helper", func(t *testing.T) { testWithoutHelper(t, s) })
}

// testWithoutHelper: with the identity helper off, the daemon still
// serves, logs ssh_user= but no client=, says so once at info level, and
// warns of nothing (tunnel_only is off, so nothing is refused).
func testWithoutHelper(t *testing.T, s *site) {
	bed := s.bed
	bed.Run(t, "systemctl", "disable", "--now", "tunnelftpd-ident.socket", "tunnelftpd-ident.service")
	bed.Run(t, "systemctl", "stop", "tunnelftpd.service") // a fresh daemon; the socket starts it again
	since := strings.TrimSpace(bed.Run(t, "date", "+%Y-%m-%d %H:%M:%S"))
	for range 2 {
		if _, _, err := s.curl("", "ftp://127.0.0.1:2121/"); err != nil {
			t.Fatalf("listing without the helper: %v", err)
		}
	}
	j := s.journal("-u", "tunnelftpd.service", "--since", since)
	if !regexp.MustCompile(`msg=login user=alice from=127\.0\.0\.1:\d+ ssh_user=` + sshUser + ` session=`).MatchString(j) {
		t.Errorf("no login line with ssh_user= and without client=:\n%s", j)
	}
	if n := strings.Count(j, "cannot see the sshd session"); n != 1 {
		t.Errorf("%d notes that client= is unknown, want 1:\n%s", n, j)
	}
	if w := s.journal("-u", "tunnelftpd.service", "-p", "warning", "--since", since); strings.TrimSpace(w) != "" {
		t.Errorf("warnings without the helper, with tunnel_only off:\n%s", w)
	}
}

// testReloadKeepsSessions: a session logged in through the tunnel before
// `systemctl reload tunnelftpd` (README's reload) keeps working after it,
// in the same daemon process, while new sessions get the new config.
func testReloadKeepsSessions(t *testing.T, s *site) {
	bed := s.bed
	mainPID := func() string {
		return strings.TrimSpace(bed.Run(t, "systemctl", "show", "-p", "MainPID", "--value", "tunnelftpd.service"))
	}
	pid := mainPID()
	rc := s.rawSession(t)
	rc.Expect(331, "USER %s", ftpUser)
	rc.Expect(230, "PASS %s", s.ftpPass)

	// A new banner for new sessions, then the reload.
	const path = "/etc/tunnelftpd/tunnelftpd.toml"
	cfg, err := bed.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	banner := "reloaded " + randHex(4)
	re := regexp.MustCompile(`(?m)^banner = ".*"$`)
	if !re.Match(cfg) {
		t.Fatalf("no banner = line in %s", path)
	}
	if err := bed.WriteFile(path, re.ReplaceAll(cfg, []byte(fmt.Sprintf("banner = %q", banner))), 0o640); err != nil {
		t.Fatal(err)
	}
	bed.Run(t, "chgrp", "tunnelftpd", path)
	before := strings.Count(s.journal("-u", "tunnelftpd.service"), `msg="config reloaded for new sessions"`)
	bed.Run(t, "systemctl", "reload", "tunnelftpd.service")
	testutil.WaitFor(t, 20*time.Second, 50*time.Millisecond, "the reload", func() bool {
		return strings.Count(s.journal("-u", "tunnelftpd.service"), `msg="config reloaded for new sessions"`) > before
	})

	// The old session uploads through the tunnel.
	want := "stored after the reload\n"
	rc.Expect(200, "TYPE I")
	s.store(t, rc, "after-reload.txt", want)
	if got, err := bed.ReadFile("/srv/ftp/alice/after-reload.txt"); err != nil || string(got) != want {
		t.Errorf("file stored after the reload: %q, %v", got, err)
	}
	rc.Expect(221, "QUIT")
	if got := mainPID(); got != pid {
		t.Errorf("MainPID %s after the reload, %s before: the daemon was restarted", got, pid)
	}
	// A new session has the new config.
	c, err := bed.DialClient("127.0.0.1:2121", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc := &testutil.RawConn{T: t, C: c, R: bufio.NewReader(c)}
	if code, msg := nc.Reply(); code != 220 || !strings.Contains(msg, banner) {
		t.Errorf("a new session's greeting %d %q, want the reloaded banner %q", code, msg, banner)
	}
}

// rawSession opens an FTP control connection through the tunnel and reads
// the greeting.
func (s *site) rawSession(t *testing.T) *testutil.RawConn {
	t.Helper()
	c, err := s.bed.DialClient("127.0.0.1:2121", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &testutil.RawConn{T: t, C: c, R: bufio.NewReader(c)}
	if code, msg := rc.Reply(); code != 220 {
		t.Fatalf("greeting through the tunnel: %d %s", code, msg)
	}
	return rc
}

// store uploads content as name on a logged-in session, passive data
// through the tunnel (EPSV).
func (s *site) store(t *testing.T, rc *testutil.RawConn, name, content string) {
	t.Helper()
	msg := rc.Expect(229, "EPSV")
	m := regexp.MustCompile(`\(\|\|\|(\d+)\|\)`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("EPSV reply %q", msg)
	}
	dc, err := s.bed.DialClient("127.0.0.1:"+m[1], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := rc.Cmd("STOR %s", name); code != 150 && code != 125 {
		dc.Close()
		t.Fatalf("STOR: %d %s", code, msg)
	}
	if _, err := io.WriteString(dc, content); err != nil {
		t.Fatal(err)
	}
	dc.Close()
	if code, msg := rc.Reply(); code != 226 {
		t.Fatalf("STOR end: %d %s", code, msg)
	}
}
