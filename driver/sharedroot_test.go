package driver

import (
	"os"
	"path/filepath"
	"testing"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestSessionsShareTheRootHandle: sessions on the same root directory hold
// one descriptor for it between them, released with the last one; a
// session closing does not disturb the others.
func TestSessionsShareTheRootHandle(t *testing.T) {
	dir := t.TempDir()
	base := openFDs(t)
	var all []*Fs
	for range 50 {
		fs, err := New(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, fs)
	}
	if got := openFDs(t) - base; got != 1 {
		t.Errorf("50 sessions on one root hold %d descriptors, want 1", got)
	}
	if err := all[0].Close(); err != nil {
		t.Fatal(err)
	}
	f, err := all[1].Create("/after-close")
	if err != nil {
		t.Fatalf("a session after another one closed: %v", err)
	}
	f.Close()
	for _, fs := range all[1:] {
		if err := fs.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := openFDs(t) - base; got != 0 {
		t.Errorf("%d descriptors left after every session closed", got)
	}
}

// TestReplacedRootIsSeenByTheNextLogin: when the configured directory is
// moved away and another one takes its path, the next session gets the new
// directory, and the sessions that had the old one keep it.
func TestReplacedRootIsSeenByTheNextLogin(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "home")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := os.Rename(dir, filepath.Join(parent, "home.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cur, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	for fs, name := range map[*Fs]string{old: "by-old", cur: "by-new"} {
		f, err := fs.Create("/" + name)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "by-new")); err != nil {
		t.Errorf("the new session's file is not in the new directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "home.old", "by-old")); err != nil {
		t.Errorf("the old session's file is not in the old directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "by-old")); err == nil {
		t.Error("the old session wrote into the new directory")
	}
}
