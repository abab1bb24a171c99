package driver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// allOps applies every path-taking operation of the Fs to p (to both sides of Rename) and returns
// each error by operation name. Opened files are closed.
func allOps(fsys *Fs, p string) map[string]error {
	closeErr := func(c interface{ Close() error }, err error) error {
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	errs := map[string]error{}
	f, err := fsys.Open(p)
	errs["Open"] = closeErr(f, err)
	f, err = fsys.OpenFile(p, os.O_WRONLY|os.O_CREATE, os.ModePerm)
	errs["OpenFile"] = closeErr(f, err)
	f, err = fsys.Create(p)
	errs["Create"] = closeErr(f, err)
	h, err := fsys.GetHandle(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0)
	errs["GetHandle/write"] = closeErr(h, err)
	h, err = fsys.GetHandle(p, os.O_RDONLY, 0)
	errs["GetHandle/read"] = closeErr(h, err)
	_, errs["Stat"] = fsys.Stat(p)
	_, _, errs["LstatIfPossible"] = fsys.LstatIfPossible(p)
	errs["Chmod"] = fsys.Chmod(p, 0o600)
	errs["Chown"] = fsys.Chown(p, os.Getuid(), os.Getgid())
	errs["Chtimes"] = fsys.Chtimes(p, past, past)
	errs["Rename/dst"] = fsys.Rename("/inside.txt", p)
	errs["Rename/src"] = fsys.Rename(p, "/inside.txt")
	errs["Remove"] = fsys.Remove(p)
	errs["Mkdir"] = fsys.Mkdir(p, os.ModePerm)
	errs["MkdirAll"] = fsys.MkdirAll(p+"/sub", os.ModePerm)
	errs["RemoveAll"] = fsys.RemoveAll(p)
	return errs
}

func TestNamesWithNUL(t *testing.T) {
	for _, p := range []string{"\x00", "/a\x00", "/inside.txt\x00", "/\x00/../etc/passwd", "/sub/\x00x"} {
		fx := newFixture(t)
		fsys := fx.open(t, Options{})
		before := snapshot(t, fx.base, "")
		for op, err := range allOps(fsys, p) {
			if !errors.Is(err, os.ErrInvalid) {
				t.Errorf("%s(%q) = %v, want an error wrapping os.ErrInvalid", op, p, err)
			} else if strings.IndexByte(err.Error(), 0) >= 0 {
				t.Errorf("%s(%q): the error text holds a NUL byte: %q", op, p, err)
			}
		}
		if d := diff(before, snapshot(t, fx.base, "")); d != "" {
			t.Errorf("names with NUL changed files: %s", d)
		}
	}
}

// TestOddNames: long names and invalid UTF-8 either work inside the root or fail, never panic
// and never reach outside.
func TestOddNames(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		mustFail bool   // every operation must fail (ENAMETOOLONG)
		inside   string // if set, Create must make this host path below the root
	}{
		{name: "4 KiB component", path: "/" + strings.Repeat("a", 4096), mustFail: true},
		{name: "4 KiB component under a link out", path: "/up/" + strings.Repeat("b", 4096), mustFail: true},
		{name: "4 KiB of short components", path: "/" + strings.Repeat("d/", 2048) + "f"},
		{name: "4 KiB of dot-dots", path: strings.Repeat("/..", 1365) + "/x", inside: "x"},
		{name: "64 KiB of dot-dots and links", path: strings.Repeat("/up/..", 10000) + "/x", inside: "x"},
		{name: "invalid UTF-8", path: "/\xff\xfe.txt", inside: "\xff\xfe.txt"},
		{name: "truncated UTF-8", path: "/sub/bad\xc3", inside: "sub/bad\xc3"},
		{name: "UTF-16 surrogate", path: "/\xed\xa0\x80", inside: "\xed\xa0\x80"},
		{name: "invalid UTF-8 with dot-dots", path: "/\xff/../../../x", inside: "x"},
		{name: "control characters", path: "/a\r\nb\tc", inside: "a\r\nb\tc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fsys := fx.open(t, Options{})
			outside := fx.outsideSnapshot(t)
			if tc.inside != "" {
				f, err := fsys.Create(tc.path)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				_ = f.Close()
				if _, err := os.Lstat(filepath.Join(fx.root, tc.inside)); err != nil {
					t.Errorf("Create did not make %q inside the root: %v", tc.inside, err)
				}
				must(t, fsys.Remove(tc.path))
			}
			for op, err := range allOps(fsys, tc.path) {
				if tc.mustFail && err == nil {
					t.Errorf("%s succeeded", op)
				}
				if err != nil && strings.Contains(err.Error(), fx.base) {
					t.Errorf("%s: error reveals a host path: %.200v", op, err)
				}
			}
			if d := diff(outside, fx.outsideSnapshot(t)); d != "" {
				t.Errorf("changed the outside: %s", d)
			}
			_ = fsys.RemoveAll("/d")
		})
	}
}
