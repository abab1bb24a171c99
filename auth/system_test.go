package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sysUsers creates throwaway system accounts for a test and removes them.
type sysUsers struct{ t *testing.T }

func needSystemTools(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("system-account tests need root (useradd, PAM's unix_chkpwd)")
	}
	if !PAMAvailable {
		t.Skip("built without cgo: no PAM")
	}
	for _, tool := range []string{"useradd", "userdel", "chpasswd", "usermod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func run(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// addUser creates a user with a home directory and password, removed at cleanup.
func addUser(t *testing.T, password string, extra ...string) string {
	t.Helper()
	name := "tftpt" + strings.ToLower(rand.Text()[:8])
	run(t, "", "useradd", append([]string{"-m", "-s", "/bin/sh"}, append(extra, name)...)...)
	t.Cleanup(func() { exec.Command("userdel", "-r", name).Run() })
	run(t, name+":"+password+"\n", "chpasswd")
	return name
}

// testPAMDir is a PAM config dir holding the shipped etc/pam.d/tunnelftpd,
// its includes made absolute so that they resolve to the host's stack.
func testPAMDir(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../etc/pam.d/tunnelftpd")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := strings.ReplaceAll(string(b), "@include common-", "@include /etc/pam.d/common-")
	if err := os.WriteFile(filepath.Join(dir, "tunnelftpd"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSystemLogin(t *testing.T) {
	needSystemTools(t)
	const pw = "Sys-pass 1"
	good := addUser(t, pw)
	locked := addUser(t, pw)
	run(t, "", "usermod", "-L", locked)
	expired := addUser(t, pw)
	run(t, "", "usermod", "-e", "1970-01-02", expired)
	banned := addUser(t, pw)
	lowUID := addUser(t, pw, "-r")
	noShell := addUser(t, pw)
	run(t, "", "usermod", "-s", "/usr/sbin/nologin", noShell)

	dir := t.TempDir()
	ftpusers := filepath.Join(dir, "ftpusers")
	os.WriteFile(ftpusers, []byte("# no FTP for these\nroot\n"+banned+"\n"), 0o644)
	sys, err := NewSystem(SystemOptions{PAMConfDir: testPAMDir(t), FtpUsers: ftpusers, MinUID: 1000, Shells: "/etc/shells"})
	if err != nil {
		t.Fatal(err)
	}

	u, err := sys.Authenticate(good, pw, "127.0.0.1")
	if err != nil {
		t.Fatalf("good login: %v", err)
	}
	if !u.System || u.UID < 1000 || u.Root != "/home/"+good || u.Logout == nil {
		t.Errorf("user %+v", u)
	}
	if err := u.Logout(); err != nil {
		t.Errorf("logout: %v", err)
	}
	// A second logout (a session torn down twice) must not pam_end the freed handle again.
	if err := u.Logout(); err != nil {
		t.Errorf("second logout: %v", err)
	}

	for _, tc := range []struct{ name, user, pass, reason string }{
		{"wrong password", good, "nope", "PAM authentication"},
		{"empty password", good, "", "empty password"},
		{"locked", locked, pw, "PAM authentication"},
		{"expired", expired, pw, "PAM account"},
		{"in ftpusers", banned, pw, "listed in"},
		{"root", "root", pw, "listed in"},
		{"uid below min_uid", lowUID, pw, "below min_uid"},
		{"shell not in /etc/shells", noShell, pw, "not in /etc/shells"},
		{"no such user", "tftpnobody", pw, "no such system user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := sys.Authenticate(tc.user, tc.pass, "127.0.0.1")
			var r *Refusal
			if u != nil || !errors.Is(err, ErrAuthFailed) || !errors.As(err, &r) {
				t.Fatalf("got %+v, %v; want a refusal", u, err)
			}
			if !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q, want it to mention %q", r.Reason, tc.reason)
			}
			if strings.Contains(err.Error(), pw) {
				t.Error("the error contains the password")
			}
		})
	}
}

func TestSystemRootTemplate(t *testing.T) {
	needSystemTools(t)
	name := addUser(t, "pw-1234")
	sys, err := NewSystem(SystemOptions{PAMConfDir: testPAMDir(t), MinUID: 1000, Root: "/srv/ftp/%u/files"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := sys.Authenticate(name, "pw-1234", "")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Logout()
	if want := fmt.Sprintf("/srv/ftp/%s/files", name); u.Root != want {
		t.Errorf("root %q, want %q", u.Root, want)
	}
}
