package logging

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
