package driver

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// listingDir makes a directory of n regular files plus one of each other
// kind (directory, symlinks in and out, FIFO, setuid/setgid/sticky modes,
// odd times and sizes), and returns it.
func listingDir(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("f%05d", i))
		if err := os.WriteFile(p, make([]byte, i%97), 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Unix(int64(1_000_000_000+i*3600), int64(i)*1000)
		os.Chtimes(p, when, when)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(dir, "subdir"), 0o750))
	must(os.Symlink("f00000", filepath.Join(dir, "link-in")))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "link-out")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	special := filepath.Join(dir, "special")
	must(os.WriteFile(special, []byte("x"), 0o755))
	must(os.Chmod(special, 0o755|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
	return dir
}

// TestReadDirMatchesLstat: every entry ReadDir returns is what os.Lstat
// says of it (name, size, mode, time, kind), in directory order, both for a
// small directory and for one large enough to be stat'ed in parallel; except
// that a link that stays inside the root is what os.Stat says (its target),
// and one that leads out is left out (see listing.go).
func TestReadDirMatchesLstat(t *testing.T) {
	for _, n := range []int{10, 3 * parallelStatMin} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := listingDir(t, n)
			fsys, err := New(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fsys.Close()
			got, err := fsys.ReadDir("/")
			if err != nil {
				t.Fatal(err)
			}
			d, err := os.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			all, err := d.Readdirnames(-1)
			d.Close()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, name := range all {
				if name != "link-out" {
					names = append(names, name)
				}
			}
			if len(got) != len(names) || len(got) != n+4 {
				t.Fatalf("ReadDir returned %d entries, directory has %d besides link-out (want %d)", len(got), len(names), n+4)
			}
			for i, fi := range got {
				if fi.Name() != names[i] {
					t.Fatalf("entry %d is %q, directory order has %q", i, fi.Name(), names[i])
				}
				stat := os.Lstat
				if names[i] == "link-in" {
					stat = os.Stat
				}
				want, err := stat(filepath.Join(dir, names[i]))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != want.Size() || fi.Mode() != want.Mode() || !fi.ModTime().Equal(want.ModTime()) || fi.IsDir() != want.IsDir() {
					t.Errorf("%s: size %d mode %v time %v dir %v; (l)stat says %d %v %v %v", fi.Name(),
						fi.Size(), fi.Mode(), fi.ModTime(), fi.IsDir(), want.Size(), want.Mode(), want.ModTime(), want.IsDir())
				}
			}
		})
	}
}

// BenchmarkReadDir lists a directory of 10,000 files with ReadDir and, side
// by side, with os.File.Readdir (the one-goroutine lstat loop it replaced).
func BenchmarkReadDir(b *testing.B) {
	dir := listingDir(b, 10000)
	fsys, err := New(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer fsys.Close()
	b.Run("ReadDir", func(b *testing.B) {
		for range b.N {
			if _, err := fsys.ReadDir("/"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("os.File.Readdir", func(b *testing.B) {
		for range b.N {
			d, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := d.Readdir(-1); err != nil {
				b.Fatal(err)
			}
			d.Close()
		}
	})
}
