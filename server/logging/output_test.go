package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/driver"
	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// cheapHash is a bcrypt hash of a test password at the minimum cost.
func cheapHash(t testing.TB) string { return testutil.CheapHash("correct horse") }

// TestDerivedLoggerFollowsReload: a logger derived with attributes (as each
// session's is) writes to the destination in force at each record, with its
// attributes, before and after a reload swaps the destination and level.
func TestDerivedLoggerFollowsReload(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.log"), filepath.Join(dir, "second.log")
	root := t.TempDir()
	cfgFor := func(path, level string) *config.Config {
		text := "[log]\noutput = \"" + path + "\"\nlevel = \"" + level + "\"\n" +
			"[[users]]\nname = \"alice\"\npassword = \"" + cheapHash(t) + "\"\nroot = \"" + root + "\"\n"
		c, err := config.Parse("t.toml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	out, log, err := New(cfgFor(first, "info"), false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	sess := log.With("session", 7)
	sess.Info("one")
	sess.Debug("hidden")
	commit, _, err := out.Prepare(cfgFor(second, "debug"))
	if err != nil {
		t.Fatal(err)
	}
	commit()
	sess.Info("two")
	sess.Debug("shown")
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	if !strings.Contains(string(a), "msg=one session=7") || strings.Contains(string(a), "two") || strings.Contains(string(a), "hidden") {
		t.Errorf("first log:\n%s", a)
	}
	if !strings.Contains(string(b), "msg=two session=7") || !strings.Contains(string(b), "msg=shown session=7") || strings.Contains(string(b), "one") {
		t.Errorf("second log after the reload:\n%s", b)
	}
}

// journalConfig is a config logging to standard error at debug level.
func journalConfig(t *testing.T) *config.Config {
	t.Helper()
	text := "[log]\noutput = \"stderr\"\nlevel = \"debug\"\n" +
		"[[users]]\nname = \"alice\"\npassword = \"" + cheapHash(t) + "\"\nroot = \"" + t.TempDir() + "\"\n"
	c, err := config.Parse("t.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestJournalPriorities: when standard error is the journal's stream
// (JOURNAL_STREAM names its device and inode, as systemd sets it), each
// line starts with its priority for journald (<3> error, <4> warning, <6>
// info, <7> debug) and has no time= (journald stamps it); standard error
// redirected elsewhere (JOURNAL_STREAM naming another file) gets plain
// lines.
func TestJournalPriorities(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stream  func(dev, ino uint64) string
		journal bool
	}{
		{"journal", func(dev, ino uint64) string { return fmt.Sprintf("%d:%d", dev, ino) }, true},
		{"another file", func(dev, ino uint64) string { return fmt.Sprintf("%d:%d", dev, ino+1) }, false},
		{"unset", func(uint64, uint64) string { return "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer stderr.Close()
			st, err := stderr.Stat()
			if err != nil {
				t.Fatal(err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			t.Setenv("JOURNAL_STREAM", tc.stream(uint64(sys.Dev), sys.Ino))
			out, log, err := New(journalConfig(t), false, stderr)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			s := log.With("session", 1)
			s.Error("e")
			s.Warn("login failed", "user", "x")
			s.Info("i")
			s.Debug("d")
			b, _ := os.ReadFile(stderr.Name())
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != 4 {
				t.Fatalf("%d lines, want 4:\n%s", len(lines), b)
			}
			for i, prefix := range []string{"<3>level=ERROR msg=e", `<4>level=WARN msg="login failed" session=1 user=x`, "<6>level=INFO msg=i", "<7>level=DEBUG msg=d"} {
				if tc.journal && !strings.HasPrefix(lines[i], prefix) {
					t.Errorf("line %d %q, want it to start with %q", i, lines[i], prefix)
				}
				if !tc.journal && (!strings.HasPrefix(lines[i], "time=") || strings.HasPrefix(lines[i], "<")) {
					t.Errorf("line %d %q: want a plain line with time=", i, lines[i])
				}
			}
		})
	}
}

// TestReopen: after the log file is moved away (logrotate), Reopen makes
// the next lines go to a new file at the same path, with the level and
// format in force; nothing more reaches the old one.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tunnelftpd.log")
	text := "[log]\noutput = \"" + path + "\"\nlevel = \"warn\"\nformat = \"json\"\n" +
		"[[users]]\nname = \"alice\"\npassword = \"" + cheapHash(t) + "\"\nroot = \"" + t.TempDir() + "\"\n"
	cfg, err := config.Parse("t.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	out, log, err := New(cfg, false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	log.Warn("before")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := out.Reopen(); err != nil {
		t.Fatal(err)
	}
	log.Warn("after")
	log.Info("hidden")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), `"msg":"before"`) || strings.Contains(string(old), "after") {
		t.Errorf("moved-away file:\n%s", old)
	}
	if !strings.Contains(string(cur), `"msg":"after"`) || strings.Contains(string(cur), "before") || strings.Contains(string(cur), "hidden") {
		t.Errorf("new file (json, warn and above):\n%s", cur)
	}
}

// TestXferlogReopen: every holder of a transfer log writes to the new file
// after Reopen.
func TestXferlogReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xferlog")
	x, err := OpenXferlog(path)
	if err != nil {
		t.Fatal(err)
	}
	if !x.Retain() { // a second holder, as a running session is
		t.Fatal("Retain")
	}
	defer x.Release()
	defer x.Release()
	x.Write(driver.Transfer{Path: "/before", Bytes: 1}, "127.0.0.1", "alice", 'r')
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := x.Reopen(); err != nil {
		t.Fatal(err)
	}
	x.Write(driver.Transfer{Path: "/after", Bytes: 1}, "127.0.0.1", "alice", 'r')
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "/before ") || strings.Contains(string(old), "/after") {
		t.Errorf("moved-away transfer log:\n%s", old)
	}
	if !strings.Contains(string(cur), "/after ") || strings.Contains(string(cur), "/before") {
		t.Errorf("new transfer log:\n%s", cur)
	}
}
