package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// other is an account that owns nothing the test creates.
var other = Account{Name: "other", UID: 4242, GID: 4242}

func testConfig(t *testing.T, root string) *config.Config {
	t.Helper()
	c := config.Default()
	c.File = "t.toml"
	c.Users = []config.UserConfig{{Name: "alice", Root: root}}
	return c
}

func noBind(string, int) error { return nil }

// openDir is a temporary directory every account may enter (t.TempDir's
// parent is private to the test's user).
func openDir(t *testing.T) string {
	d := t.TempDir()
	os.Chmod(filepath.Dir(d), 0o755)
	os.Chmod(d, 0o755)
	return d
}

func find(fs []Finding, key, text string) *Finding {
	for i := range fs {
		if fs[i].Key == key && strings.Contains(fs[i].Msg, text) {
			return &fs[i]
		}
	}
	return nil
}

func TestPassiveRangeContainsControlPort(t *testing.T) {
	c := testConfig(t, t.TempDir())
	c.Listen = "127.0.0.1:22002"
	fs := Check(c, Options{As: Account{Name: "root"}, Bind: noBind})
	if f := find(fs, "passive.ports", "contains the control port 22002"); f == nil || f.Severity != Problem {
		t.Fatalf("findings %v: want a problem naming the control port in the range", fs)
	}
	c.Listen = "127.0.0.1:2121"
	if fs := Check(c, Options{As: Account{Name: "root"}, Bind: noBind}); len(fs) != 0 {
		t.Errorf("a sane config gave findings: %v", fs)
	}
}

func TestRootsAsTheAccount(t *testing.T) {
	base := openDir(t)
	private := filepath.Join(base, "private")
	os.Mkdir(private, 0o700)
	inside := filepath.Join(private, "root")
	os.Mkdir(inside, 0o777)
	readable := filepath.Join(base, "readable")
	os.Mkdir(readable, 0o755)
	writable := filepath.Join(base, "writable")
	os.Mkdir(writable, 0o777)
	os.Chmod(writable, 0o777)

	for _, tc := range []struct {
		name     string
		root     string
		readOnly bool
		as       Account
		want     string // "" = no finding
	}{
		{"behind a private directory", inside, false, other, "cannot enter " + private},
		{"no write for a writer", readable, false, other, "lacks read, write and search (rwx)"},
		{"read-only user needs no write", readable, true, other, ""},
		{"world-writable", writable, false, other, ""},
		{"the owner", inside, false, Account{Name: "me", UID: os.Geteuid(), GID: os.Getegid()}, ""},
		{"root passes", inside, false, Account{Name: "root"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, tc.root)
			c.Users[0].ReadOnly = tc.readOnly
			fs := Check(c, Options{As: tc.as, Bind: noBind})
			f := find(fs, "users.root", "")
			switch {
			case tc.want == "" && f != nil:
				t.Errorf("unexpected finding: %v", f)
			case tc.want != "" && (f == nil || !strings.Contains(f.Msg, tc.want) || f.Severity != Problem):
				t.Errorf("findings %v, want a problem saying %q", fs, tc.want)
			case tc.want != "" && !strings.Contains(f.Msg, "home directory unavailable"):
				t.Errorf("%q does not say what the user would see", f.Msg)
			}
		})
	}
}

func TestLogPathsAsTheAccount(t *testing.T) {
	dir := openDir(t)
	c := testConfig(t, dir)
	c.Users[0].ReadOnly = true
	c.Log.Xferlog = filepath.Join(dir, "xferlog")
	c.Log.Output = filepath.Join(dir, "tunnelftpd.log")
	fs := Check(c, Options{As: other, Bind: noBind})
	for _, key := range []string{"log.xferlog", "log.output"} {
		if f := find(fs, key, "cannot create it"); f == nil || f.Severity != Problem {
			t.Errorf("%s: findings %v, want a problem", key, fs)
		}
	}
	// Created and given to the account's group: fine.
	for _, p := range []string{c.Log.Xferlog, c.Log.Output} {
		os.WriteFile(p, nil, 0o660)
		os.Chmod(p, 0o660)
		os.Chown(p, -1, other.GID)
	}
	if os.Geteuid() == 0 {
		if fs := Check(c, Options{As: other, Bind: noBind}); find(fs, "log.xferlog", "") != nil {
			t.Errorf("a group-writable xferlog still reported: %v", fs)
		}
	}
}

func TestPortsHeldAndPrivileged(t *testing.T) {
	c := testConfig(t, t.TempDir())
	c.Users[0].ReadOnly = true
	c.Listen = "127.0.0.1:21"
	held := func(host string, port int) error {
		if port == c.Passive.First+1 {
			return syscall.EADDRINUSE
		}
		return nil
	}
	fs := Check(c, Options{As: Account{Name: "svc", UID: 998, GID: 998}, Bind: held})
	if f := find(fs, "listen", "below 1024"); f == nil || f.Severity != Warning {
		t.Errorf("findings %v: want a warning on port 21 as uid 998", fs)
	}
	if f := find(fs, "passive.ports", "in use now"); f == nil || f.Severity != Warning || !strings.Contains(f.Msg, "22001") {
		t.Errorf("findings %v: want a warning naming port 22001", fs)
	}
	if fs := Check(c, Options{As: Account{Name: "root"}, Bind: noBind}); find(fs, "listen", "") != nil {
		t.Errorf("root got a privileged-port warning: %v", fs)
	}
}
