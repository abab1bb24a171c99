package driver

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// marker is in every file outside the root; no file inside the root contains it.
const marker = "OUTSIDE-MARKER"

// fixture is a root directory full of symlinks that lead out, next to the files they lead to:
//
//	base/
//	  x, secret.txt                          (outside)
//	  outside/{secret.txt,x,etc/passwd,sub/deep.txt}
//	  root2/secret.txt                       (sibling sharing the root's name as prefix)
//	  root/                                  (the FTP root)
//	    inside.txt, sub/file.txt, a/
//	    etc      -> <base>/outside/etc       (absolute; stands in for /etc so writes cannot harm the host)
//	    hostetc  -> /etc                     (the real one; used by read-only operations only)
//	    up       -> ../outside               (relative escape)
//	    sub/up2  -> ../../outside            (relative escape from a subdirectory)
//	    dangling -> <base>/outside/planted.txt
//	    chain1   -> chain2 -> ../outside     (chain)
//	    dirlink  -> <base>/outside           (absolute directory link)
//	    filelink -> <base>/outside/secret.txt, secretlink -> ../outside/secret.txt
type fixture struct {
	base, root, outside, root2 string
}

// past is the mtime of every outside entry, so that a Chtimes to another time shows.
var past = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func newFixture(t *testing.T) fixture {
	t.Helper()
	base := t.TempDir()
	fx := fixture{
		base:    base,
		root:    filepath.Join(base, "root"),
		outside: filepath.Join(base, "outside"),
		root2:   filepath.Join(base, "root2"),
	}
	for _, d := range []string{
		fx.root, filepath.Join(fx.root, "sub"), filepath.Join(fx.root, "a"),
		filepath.Join(fx.outside, "etc"), filepath.Join(fx.outside, "sub"), fx.root2,
	} {
		must(t, os.MkdirAll(d, 0o755))
	}
	outsideFiles := []string{
		filepath.Join(base, "x"), filepath.Join(base, "secret.txt"),
		filepath.Join(fx.outside, "secret.txt"), filepath.Join(fx.outside, "x"),
		filepath.Join(fx.outside, "etc", "passwd"), filepath.Join(fx.outside, "sub", "deep.txt"),
		filepath.Join(fx.root2, "secret.txt"),
	}
	for _, f := range outsideFiles {
		must(t, os.WriteFile(f, []byte(marker+" "+f), 0o640))
	}
	must(t, os.WriteFile(filepath.Join(fx.root, "inside.txt"), []byte("inside"), 0o644))
	must(t, os.WriteFile(filepath.Join(fx.root, "sub", "file.txt"), []byte("sub file"), 0o644))
	links := map[string]string{
		"etc":        filepath.Join(fx.outside, "etc"),
		"hostetc":    "/etc",
		"up":         "../outside",
		"sub/up2":    "../../outside",
		"dangling":   filepath.Join(fx.outside, "planted.txt"),
		"chain1":     "chain2",
		"chain2":     "../outside",
		"dirlink":    fx.outside,
		"filelink":   filepath.Join(fx.outside, "secret.txt"),
		"secretlink": "../outside/secret.txt",
	}
	for name, target := range links {
		must(t, os.Symlink(target, filepath.Join(fx.root, name)))
	}
	// Set times last, deepest first, so directory mtimes are not disturbed afterwards.
	var paths []string
	must(t, filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == fx.root {
			return filepath.SkipDir
		}
		paths = append(paths, p)
		return nil
	}))
	for i := len(paths) - 1; i >= 0; i-- {
		must(t, os.Chtimes(paths[i], past, past))
	}
	return fx
}

func (fx fixture) open(t *testing.T, opts Options) *Fs {
	t.Helper()
	fsys, err := New(fx.root, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = fsys.Close() })
	return fsys
}

// entry is what a snapshot records about one directory entry.
type entry struct {
	mode  fs.FileMode
	size  int64
	mtime int64
	data  string // file content or symlink target
}

// snapshot records every entry under dir except the subtree skip (may be "").
func snapshot(t *testing.T, dir, skip string) map[string]entry {
	t.Helper()
	snap := map[string]entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.data = string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.data, err = os.Readlink(p); err != nil {
				return err
			}
		}
		snap[p] = e
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return snap
}

// outsideSnapshot records everything in the fixture except the root.
func (fx fixture) outsideSnapshot(t *testing.T) map[string]entry {
	return snapshot(t, fx.base, fx.root)
}

// diff describes how two snapshots differ ("" if they do not).
func diff(before, after map[string]entry) string {
	for p, b := range before {
		a, ok := after[p]
		if !ok {
			return "removed " + p
		}
		if a != b {
			return "changed " + p
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			return "created " + p
		}
	}
	return ""
}

type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) fileID {
	st := fi.Sys().(*syscall.Stat_t)
	return fileID{dev: uint64(st.Dev), ino: st.Ino}
}

// outsideIDs are the identities of every file and directory outside the root, including the
// host's /etc, so that reading any of them through the Fs can be recognised.
func (fx fixture) outsideIDs(t *testing.T) map[fileID]string {
	t.Helper()
	ids := map[fileID]string{}
	for p := range fx.outsideSnapshot(t) {
		fi, err := os.Lstat(p)
		must(t, err)
		ids[idOf(fi)] = p
	}
	for _, p := range []string{"/", "/etc", "/etc/passwd", "/etc/hostname", "/etc/hosts"} {
		if fi, err := os.Stat(p); err == nil {
			ids[idOf(fi)] = p
		}
	}
	return ids
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
