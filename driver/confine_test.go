package driver

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// probe is what an operation saw: identities of the files it opened or stat'ed, and the data it
// read. Either can betray an escape.
type probe struct {
	ids  []fileID
	data string
}

// escapeOps are all operations of the Fs, each applied to one client path.
var escapeOps = []struct {
	name     string
	readOnly bool // only reads: may also be tried on links to the host's real /etc
	run      func(fsys *Fs, p string) (probe, error)
}{
	{"Open", true, func(fsys *Fs, p string) (probe, error) {
		f, err := fsys.Open(p)
		if err != nil {
			return probe{}, err
		}
		return readProbe(f.(*os.File))
	}},
	{"OpenFile/read", true, func(fsys *Fs, p string) (probe, error) {
		f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
		if err != nil {
			return probe{}, err
		}
		return readProbe(f.(*os.File))
	}},
	{"OpenFile/create", false, func(fsys *Fs, p string) (probe, error) {
		f, err := fsys.OpenFile(p, os.O_CREATE|os.O_WRONLY, os.ModePerm)
		if err != nil {
			return probe{}, err
		}
		return writeProbe(f.(*os.File), f)
	}},
	{"Create", false, func(fsys *Fs, p string) (probe, error) {
		f, err := fsys.Create(p)
		if err != nil {
			return probe{}, err
		}
		return writeProbe(f.(*os.File), f)
	}},
	{"GetHandle/read", true, func(fsys *Fs, p string) (probe, error) {
		h, err := fsys.GetHandle(p, os.O_RDONLY, 0)
		if err != nil {
			return probe{}, err
		}
		defer h.Close()
		fi, err := h.(*File).Stat()
		if err != nil {
			return probe{}, err
		}
		b, err := io.ReadAll(h)
		return probe{ids: []fileID{idOf(fi)}, data: string(b)}, err
	}},
	{"GetHandle/write", false, func(fsys *Fs, p string) (probe, error) {
		h, err := fsys.GetHandle(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0)
		if err != nil {
			return probe{}, err
		}
		return writeProbe(h.(*File).File, h)
	}},
	{"GetHandle/append", false, func(fsys *Fs, p string) (probe, error) {
		h, err := fsys.GetHandle(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0)
		if err != nil {
			return probe{}, err
		}
		return writeProbe(h.(*File).File, h)
	}},
	{"Stat", true, func(fsys *Fs, p string) (probe, error) {
		fi, err := fsys.Stat(p)
		if err != nil {
			return probe{}, err
		}
		return probe{ids: []fileID{idOf(fi)}}, nil
	}},
	{"LstatIfPossible", true, func(fsys *Fs, p string) (probe, error) {
		fi, ok, err := fsys.LstatIfPossible(p)
		if !ok {
			panic("LstatIfPossible must say it used lstat")
		}
		if err != nil {
			return probe{}, err
		}
		return probe{ids: []fileID{idOf(fi)}}, nil
	}},
	{"Mkdir", false, func(fsys *Fs, p string) (probe, error) { return probe{}, fsys.Mkdir(p, os.ModePerm) }},
	{"MkdirAll", false, func(fsys *Fs, p string) (probe, error) { return probe{}, fsys.MkdirAll(p+"/deeper", os.ModePerm) }},
	{"Remove", false, func(fsys *Fs, p string) (probe, error) { return probe{}, fsys.Remove(p) }},
	{"RemoveAll", false, func(fsys *Fs, p string) (probe, error) { return probe{}, fsys.RemoveAll(p) }},
	{"Rename/src", false, func(fsys *Fs, p string) (probe, error) { return probe{}, fsys.Rename(p, "/renamed") }},
	{"Rename/dst", false, func(fsys *Fs, p string) (probe, error) { return probe{}, fsys.Rename("/inside.txt", p) }},
	{"Chmod", false, func(fsys *Fs, p string) (probe, error) { return probe{}, fsys.Chmod(p, 0o604) }},
	{"Chown", false, func(fsys *Fs, p string) (probe, error) {
		return probe{}, fsys.Chown(p, os.Getuid(), os.Getgid())
	}},
	{"Chtimes", false, func(fsys *Fs, p string) (probe, error) {
		return probe{}, fsys.Chtimes(p, past.AddDate(1, 0, 0), past.AddDate(1, 0, 0))
	}},
}

func readProbe(f *os.File) (probe, error) {
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return probe{}, err
	}
	pr := probe{ids: []fileID{idOf(fi)}}
	if fi.Mode().IsRegular() {
		b, err := io.ReadAll(f)
		pr.data = string(b)
		return pr, err
	}
	return pr, nil
}

func writeProbe(f *os.File, c io.WriteCloser) (probe, error) {
	fi, err := f.Stat()
	if err != nil {
		_ = c.Close()
		return probe{}, err
	}
	if _, err := c.Write([]byte("written by the confinement test")); err != nil {
		_ = c.Close()
		return probe{}, err
	}
	return probe{ids: []fileID{idOf(fi)}}, c.Close()
}

// escapePaths are client paths that try to leave the root. hostEtc paths reach the host's real
// /etc through a link and are only tried with read-only operations.
func escapePaths(fx fixture) (paths []string, hostEtc []string) {
	paths = []string{
		"..", "../..", "/..", "/../..", "/../../../../../../..", "/../x", "../x", "a/../../x", "/a/../../x",
		"/../secret.txt", "/../root2/secret.txt", "../root2/secret.txt", "/../root2", "/../outside/secret.txt",
		"/sub/../../outside/secret.txt", "/../../../../../../etc/passwd",
		"/etc/passwd", "/etc", "/etc/", "/etc/.", "/etc/newfile", "//etc/passwd", "/./etc/../etc/passwd",
		"/up", "/up/", "/up/.", "/up/secret.txt", "/up/newfile", "/up/sub/deep.txt", "/up/../x", "/up/etc/passwd",
		"/dangling", "/dangling/",
		"/chain1", "/chain1/", "/chain1/secret.txt", "/chain1/newfile", "/chain2/secret.txt",
		"/dirlink", "/dirlink/", "/dirlink/secret.txt", "/dirlink/newdir/x", "/dirlink/etc/passwd",
		"/sub/up2", "/sub/up2/secret.txt", "/sub/up2/../x",
		"/filelink", "/secretlink",
		`\..\outside\secret.txt`, `..\..\x`,
		// Absolute host paths: resolved inside the root, where they do not exist.
		fx.outside, fx.outside + "/secret.txt", fx.root2 + "/secret.txt", fx.base + "/x",
		fx.root + "/../outside/secret.txt", fx.root + "/inside.txt",
		// NUL bytes.
		"\x00", "/etc/passwd\x00", "/up\x00/secret.txt", "/../x\x00", "/inside.txt\x00/../../x",
	}
	hostEtc = []string{"/hostetc", "/hostetc/", "/hostetc/passwd", "/hostetc/hostname", "/hostetc/hosts"}
	return paths, hostEtc
}

// TestConfinement tries every operation on every escape path, each on a fresh fixture, and
// checks that nothing outside the root was read, created, changed or removed.
func TestConfinement(t *testing.T) { confinement(t, Options{}, false) }

// confinement is TestConfinement under opts; writesOnly leaves out the operations that only read.
func confinement(t *testing.T, opts Options, writesOnly bool) {
	var attempts, refused, escapes int
	paths, hostEtc := escapePaths(newFixture(t)) // names only; base differs per fixture
	for _, op := range escapeOps {
		if writesOnly && op.readOnly {
			continue
		}
		n := len(paths)
		if op.readOnly {
			n += len(hostEtc)
		}
		for i := range n {
			t.Run(op.name+"/"+strings.ReplaceAll(nameAt(paths, hostEtc, i), "\x00", "NUL"), func(t *testing.T) {
				fx := newFixture(t)
				ps, hs := escapePaths(fx)
				p := nameAt(ps, hs, i)
				ids := fx.outsideIDs(t)
				before := fx.outsideSnapshot(t)
				fsys := fx.open(t, opts)

				attempts++
				pr, err := op.run(fsys, p)
				if err != nil {
					refused++
					// Errors go to the client: they must not reveal where the root is.
					if !strings.Contains(p, fx.base) && strings.Contains(err.Error(), fx.base) {
						t.Errorf("%s(%q): error reveals a host path: %v", op.name, p, err)
					}
				}
				escaped := false
				for _, id := range pr.ids {
					if where, ok := ids[id]; ok {
						t.Errorf("%s(%q) reached %s outside the root", op.name, p, where)
						escaped = true
					}
				}
				if strings.Contains(pr.data, marker) {
					t.Errorf("%s(%q) read data from outside the root: %q", op.name, p, pr.data)
					escaped = true
				}
				if d := diff(before, fx.outsideSnapshot(t)); d != "" {
					t.Errorf("%s(%q) changed the outside: %s", op.name, p, d)
					escaped = true
				}
				if strings.IndexByte(p, 0) >= 0 && err == nil {
					t.Errorf("%s(%q): a name with NUL was accepted", op.name, p)
				}
				if escaped {
					escapes++
				}
			})
		}
	}
	t.Logf("confinement: %d attempts, %d refused with an error, %d escapes", attempts, refused, escapes)
	if escapes > 0 {
		t.Errorf("%d of %d attempts escaped the root", escapes, attempts)
	}
}

func nameAt(paths, hostEtc []string, i int) string {
	if i < len(paths) {
		return paths[i]
	}
	return hostEtc[i-len(paths)]
}

// TestRemoveAllRoot checks that the root itself cannot be removed, renamed or chmod'ed under any
// spelling, and that removing a link to an outside directory removes only the link.
func TestRemoveAllRoot(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t, Options{})
	inside := snapshot(t, fx.root, "")
	outside := fx.outsideSnapshot(t)

	rootNames := []string{"/", ".", "", "//", "/./", "/a/..", "/..", "../..", "/sub/../..", "a/../.."}
	ops := map[string]func(string) error{
		"RemoveAll":  fsys.RemoveAll,
		"Remove":     fsys.Remove,
		"Rename/src": func(p string) error { return fsys.Rename(p, "/moved") },
		"Rename/dst": func(p string) error { return fsys.Rename("/sub", p) },
		"Chmod":      func(p string) error { return fsys.Chmod(p, 0o700) },
	}
	for opName, op := range ops {
		for _, p := range rootNames {
			err := op(p)
			if err == nil {
				t.Errorf("%s(%q) on the root: got nil error", opName, p)
			} else if !errors.Is(err, os.ErrPermission) {
				t.Errorf("%s(%q) on the root: %v, want a permission error", opName, p, err)
			}
		}
	}
	if d := diff(inside, snapshot(t, fx.root, "")); d != "" {
		t.Fatalf("the root was changed: %s", d)
	}

	for _, link := range []string{"/dirlink/", "/up", "/chain1"} {
		if err := fsys.RemoveAll(link); err != nil {
			t.Errorf("RemoveAll(%q): %v", link, err)
		}
		if _, err := os.Lstat(filepath.Join(fx.root, link)); !os.IsNotExist(err) {
			t.Errorf("RemoveAll(%q): the link is still there (%v)", link, err)
		}
	}
	if d := diff(outside, fx.outsideSnapshot(t)); d != "" {
		t.Errorf("RemoveAll of links changed the outside: %s", d)
	}
	if _, err := os.Stat(filepath.Join(fx.root, "inside.txt")); err != nil {
		t.Errorf("root content lost: %v", err)
	}
}
