package server

import (
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// TestXferlogFollowsReload: a reload that changes log.xferlog sends the new
// sessions' transfers to the new file, while a session started before it
// keeps writing to the old one, which is closed once that session has
// ended; a reload that drops log.xferlog closes the file once no session
// holds it.
func TestXferlogFollowsReload(t *testing.T) {
	// An *os.File no longer referenced is closed by its finalizer: with the
	// collector off, only the server's own Close can close the files.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.xferlog"), filepath.Join(dir, "second.xferlog")
	ts := startServer(t, 2, func(c *config.Config) { c.Log.Xferlog = first })
	os.WriteFile(filepath.Join(ts.Root, "f"), []byte("12345"), 0o644)
	download := func(c *ftp.ServerConn) {
		t.Helper()
		r, err := c.Retr("f")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(r)
		r.Close()
	}
	lines := func(path string) int {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "\n")
	}
	reload := func(xferlog string) {
		t.Helper()
		c := *ts.cfg
		c.Log.Xferlog = xferlog
		if err := ts.Reload(&c); err != nil {
			t.Fatal(err)
		}
	}

	old := ts.login(t, testUser, true)
	reload(second)
	if !fdOpen(t, first) {
		t.Fatalf("%s closed while a session started under it runs", first)
	}
	download(old)
	waitFor(t, 2*time.Second, "the old session's line in the old xferlog", func() bool { return lines(first) == 1 })
	current := ts.login(t, testUser, true)
	download(current)
	waitFor(t, 2*time.Second, "the new session's line in the new xferlog", func() bool { return lines(second) == 1 })
	if lines(first) != 1 {
		t.Errorf("%s has %d lines, want only the old session's", first, lines(first))
	}
	old.Quit()
	waitFor(t, 5*time.Second, first+" closed after its last session", func() bool { return !fdOpen(t, first) })
	if !fdOpen(t, second) {
		t.Fatalf("%s, in force, is closed", second)
	}

	reload("")
	if !fdOpen(t, second) {
		t.Fatalf("%s closed while a session started under it runs", second)
	}
	current.Quit()
	waitFor(t, 5*time.Second, second+" closed after the reload dropped it", func() bool { return !fdOpen(t, second) })
}

// fdOpen reports whether this process has path open.
func fdOpen(t testing.TB, path string) bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			return true
		}
	}
	return false
}
