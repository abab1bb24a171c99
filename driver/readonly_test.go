package driver

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

func TestReadOnlyRefusesWrites(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t, Options{ReadOnly: true})
	before := snapshot(t, fx.root, "")

	openFlags := map[string]int{
		"O_WRONLY":         os.O_WRONLY,
		"O_RDWR":           os.O_RDWR,
		"O_CREATE":         os.O_RDONLY | os.O_CREATE,
		"O_TRUNC":          os.O_RDONLY | os.O_TRUNC,
		"O_APPEND":         os.O_RDONLY | os.O_APPEND,
		"STOR":             os.O_WRONLY | os.O_CREATE | os.O_TRUNC,
		"APPE":             os.O_WRONLY | os.O_CREATE | os.O_APPEND,
		"STOR after REST":  os.O_WRONLY | os.O_CREATE,
		"O_RDWR|O_EXCL...": os.O_RDWR | os.O_CREATE | os.O_EXCL,
	}
	tests := map[string]func() error{
		"Create":    func() error { _, err := fsys.Create("/new.txt"); return err },
		"Create/ex": func() error { _, err := fsys.Create("/inside.txt"); return err },
		"Mkdir":     func() error { return fsys.Mkdir("/newdir", 0o755) },
		"MkdirAll":  func() error { return fsys.MkdirAll("/new/dir", 0o755) },
		"Remove":    func() error { return fsys.Remove("/inside.txt") },
		"Remove/d":  func() error { return fsys.Remove("/a") },
		"RemoveAll": func() error { return fsys.RemoveAll("/sub") },
		"Rename":    func() error { return fsys.Rename("/inside.txt", "/renamed.txt") },
		"Chmod":     func() error { return fsys.Chmod("/inside.txt", 0o600) },
		"Chown":     func() error { return fsys.Chown("/inside.txt", os.Getuid(), os.Getgid()) },
		"Chtimes":   func() error { return fsys.Chtimes("/inside.txt", time.Now(), time.Now()) },
	}
	for name, flags := range openFlags {
		tests["OpenFile/"+name] = func() error {
			f, err := fsys.OpenFile("/inside.txt", flags, 0o644)
			if f != nil {
				t.Errorf("OpenFile(%s) returned a file with error %v", name, err)
				_ = f.Close()
			}
			return err
		}
		tests["GetHandle/"+name] = func() error {
			f, err := fsys.GetHandle("/new.txt", flags, 0)
			if f != nil {
				t.Errorf("GetHandle(%s) returned a file with error %v", name, err)
				_ = f.Close()
			}
			return err
		}
	}
	for name, op := range tests {
		t.Run(name, func(t *testing.T) {
			err := op()
			if !errors.Is(err, os.ErrPermission) {
				t.Errorf("got %v, want an error wrapping os.ErrPermission", err)
			}
		})
	}
	if d := diff(before, snapshot(t, fx.root, "")); d != "" {
		t.Errorf("a read-only session changed the root: %s", d)
	}

	// Reads still work.
	if _, err := fsys.Stat("/inside.txt"); err != nil {
		t.Errorf("Stat: %v", err)
	}
	if _, _, err := fsys.LstatIfPossible("/etc"); err != nil {
		t.Errorf("LstatIfPossible: %v", err)
	}
	d, err := fsys.Open("/")
	if err != nil {
		t.Fatalf("Open /: %v", err)
	}
	if names, err := d.Readdirnames(-1); err != nil || len(names) == 0 {
		t.Errorf("Readdirnames: %v %v", names, err)
	}
	_ = d.Close()
	h, err := fsys.GetHandle("/inside.txt", os.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("GetHandle read: %v", err)
	}
	if b, err := io.ReadAll(h); err != nil || string(b) != "inside" {
		t.Errorf("read %q, %v", b, err)
	}
	_ = h.Close()
}

// TestChownAlwaysRefused: even a writable session never changes ownership.
func TestChownAlwaysRefused(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t, Options{})
	for _, p := range []string{"/inside.txt", "/", "/sub", "/nonexistent"} {
		if err := fsys.Chown(p, os.Getuid(), os.Getgid()); !errors.Is(err, os.ErrPermission) {
			t.Errorf("Chown(%q) = %v, want os.ErrPermission", p, err)
		}
	}
}

func TestInterfaces(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t, Options{})
	var d any = fsys
	if _, ok := d.(ftpserver.ClientDriverExtensionSymlink); ok {
		t.Error("Fs implements ClientDriverExtensionSymlink (SITE SYMLINK must stay off)")
	}
	if _, ok := d.(ftpserver.ClientDriverExtentionFileTransfer); !ok {
		t.Error("Fs does not implement ClientDriverExtentionFileTransfer")
	}
	f, err := fsys.Open("/inside.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(*os.File); !ok {
		t.Errorf("Open returned %T, want a bare *os.File", f)
	}
	_ = f.Close()
	if f, err := fsys.Open("/nonexistent"); f != nil || err == nil {
		t.Errorf("Open(nonexistent) = %#v, %v; want a nil interface and an error", f, err)
	}
	if f, err := fsys.OpenFile("/etc/passwd", os.O_RDONLY, 0); f != nil || err == nil {
		t.Errorf("OpenFile(escape) = %#v, %v; want a nil interface and an error", f, err)
	}
	if h, err := fsys.GetHandle("/nonexistent", os.O_RDONLY, 0); h != nil || err == nil {
		t.Errorf("GetHandle(nonexistent) = %#v, %v; want a nil interface and an error", h, err)
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/file"
	must(t, os.WriteFile(file, nil, 0o644))
	for _, bad := range []string{dir + "/missing", file} {
		if fsys, err := New(bad, Options{}); err == nil {
			_ = fsys.Close()
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	fsys, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := fsys.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := fsys.Stat("/"); err == nil {
		t.Error("Stat after Close succeeded")
	}
}

// TestCreatedModes: created files get at most 0644 and directories at most 0755, whatever
// mode is asked for, and Chmod never sets setuid/setgid/sticky bits.
func TestCreatedModes(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t, Options{})
	f, err := fsys.OpenFile("/f1", os.O_WRONLY|os.O_CREATE, os.ModePerm)
	must(t, err)
	_ = f.Close()
	f, err = fsys.Create("/f2")
	must(t, err)
	_ = f.Close()
	h, err := fsys.GetHandle("/f3", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0)
	must(t, err)
	_ = h.Close()
	must(t, fsys.Mkdir("/d1", os.ModePerm))
	must(t, fsys.MkdirAll("/d2/d3", os.ModePerm))
	for p, limit := range map[string]os.FileMode{"/f1": 0o644, "/f2": 0o644, "/f3": 0o644, "/d1": 0o755, "/d2": 0o755, "/d2/d3": 0o755} {
		fi, err := fsys.Stat(p)
		must(t, err)
		if fi.Mode().Perm()&^limit != 0 {
			t.Errorf("%s has mode %v, want at most %v", p, fi.Mode().Perm(), limit)
		}
	}
	must(t, fsys.Chmod("/f1", os.ModeSetuid|os.ModeSetgid|os.ModeSticky|0o755))
	fi, err := fsys.Stat("/f1")
	must(t, err)
	if fi.Mode() != 0o755 {
		t.Errorf("after Chmod with setuid: mode %v, want -rwxr-xr-x", fi.Mode())
	}
}

// TestReadDirHidesControlNames: names holding CR, LF or other control
// characters never reach a listing (they could inject FTP reply lines).
func TestReadDirHidesControlNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"ok.txt", "evil\r\n250 fake", "tab\there", "nul\x01x"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	fis, err := fs.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	if len(fis) != 1 || fis[0].Name() != "ok.txt" {
		names := []string{}
		for _, fi := range fis {
			names = append(names, fi.Name())
		}
		t.Errorf("listing %q, want only ok.txt", names)
	}
}

// TestRemoveDirOnlyRemovesDirectories: RMD refuses files and symlinks.
func TestRemoveDirOnlyRemovesDirectories(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.Symlink("sub", filepath.Join(dir, "link"))
	fs, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	for _, n := range []string{"/file", "/link"} {
		if err := fs.RemoveDir(n); err == nil {
			t.Errorf("RemoveDir(%s) removed a non-directory", n)
		}
	}
	if err := fs.RemoveDir("/sub"); err != nil {
		t.Errorf("RemoveDir(/sub): %v", err)
	}
	for _, n := range []string{"file", "link"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s is gone: %v", n, err)
		}
	}
}
