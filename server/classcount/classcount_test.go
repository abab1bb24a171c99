package classcount

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// openCounter is a Counter on its own open file description of path: to the kernel's locks, a
// separate process.
func openCounter(t *testing.T, path string) *Counter {
	t.Helper()
	f, err := OpenLock(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); f.Close() })
	return c
}

func acquire(t *testing.T, c *Counter, class string, max int) *Slot {
	t.Helper()
	s, ok, err := c.Acquire(class, max)
	if err != nil || !ok {
		t.Fatalf("Acquire(%s, %d): ok %v, err %v", class, max, ok, err)
	}
	return s
}

// TestLimitAcrossDescriptions: two counters on one file share a class's limit, each sees the
// other's sessions, other classes are not affected, and a released slot is free again.
func TestLimitAcrossDescriptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "classes.lock")
	a, b := openCounter(t, path), openCounter(t, path)

	s1 := acquire(t, a, "partners", 2)
	s2 := acquire(t, b, "partners", 2)
	if _, ok, err := a.Acquire("partners", 2); ok || err != nil {
		t.Fatalf("third session of a class of 2 admitted (ok %v, err %v)", ok, err)
	}
	if _, ok, _ := b.Acquire("partners", 2); ok {
		t.Fatal("third session admitted by the other process")
	}
	if n := a.Count("partners"); n != 2 {
		t.Errorf("Count in a = %d, want 2", n)
	}
	if n := b.Count("partners"); n != 2 {
		t.Errorf("Count in b = %d, want 2", n)
	}
	other := acquire(t, b, "anonymous", 1) // another class has its own slots
	if n := a.Count("anonymous"); n != 1 {
		t.Errorf("anonymous count = %d, want 1", n)
	}

	r, err := OpenForCount(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := CountIn(r, "partners"); err != nil || n != 2 {
		t.Errorf("CountIn by a reader = %d, %v; want 2", n, err)
	}

	s1.Release()
	s1.Release() // twice is harmless
	if n := b.Count("partners"); n != 1 {
		t.Errorf("after a release, count = %d, want 1", n)
	}
	s3 := acquire(t, b, "partners", 2)
	if _, ok, _ := a.Acquire("partners", 2); ok {
		t.Fatal("admitted over the limit after the slot was taken again")
	}
	for _, s := range []*Slot{s2, s3, other} {
		s.Release()
	}
	if n, _ := CountIn(r, "partners"); n != 0 {
		t.Errorf("all released, count = %d", n)
	}
}

// TestSameProcessSlots: sessions of one process never share a slot (its locks do not exclude
// each other, so the counter must remember them).
func TestSameProcessSlots(t *testing.T) {
	for _, shared := range []bool{false, true} {
		var c *Counter
		if shared {
			c = openCounter(t, filepath.Join(t.TempDir(), "classes.lock"))
		} else {
			var err error
			if c, err = New(nil); err != nil {
				t.Fatal(err)
			}
		}
		var slots []*Slot
		for range 3 {
			slots = append(slots, acquire(t, c, "c", 3))
		}
		if _, ok, _ := c.Acquire("c", 3); ok {
			t.Errorf("shared=%v: a fourth session of a class of 3 admitted", shared)
		}
		if n := c.Count("c"); n != 3 {
			t.Errorf("shared=%v: Count = %d, want 3", shared, n)
		}
		slots[1].Release()
		acquire(t, c, "c", 3)
	}
}

// TestUnlimitedClassCounts: a class without a limit admits every session and counts them.
func TestUnlimitedClassCounts(t *testing.T) {
	c := openCounter(t, filepath.Join(t.TempDir(), "classes.lock"))
	for range 10 {
		acquire(t, c, "all", 0)
	}
	if n := c.Count("all"); n != 10 {
		t.Errorf("Count = %d, want 10", n)
	}
}

// TestLowerLimitAfterReload: sessions admitted under a larger limit count against a smaller one.
func TestLowerLimitAfterReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "classes.lock")
	a, b := openCounter(t, path), openCounter(t, path)
	for range 4 {
		acquire(t, a, "c", 5)
	}
	if _, ok, _ := b.Acquire("c", 3); ok {
		t.Error("admitted with 4 sessions running and a limit of 3")
	}
}

// TestCrashReleases: the slots of a process that dies are free at once. The helper process
// takes a slot and waits; killed, its lock goes with it.
func TestCrashReleases(t *testing.T) {
	if os.Getenv("CLASSCOUNT_HELPER") != "" {
		c := openCounter(t, os.Getenv("CLASSCOUNT_HELPER"))
		acquire(t, c, "crash", 1)
		os.Stdout.WriteString("held\n")
		buf := make([]byte, 1)
		os.Stdin.Read(buf) // until killed
		return
	}
	path := filepath.Join(t.TempDir(), "classes.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashReleases$")
	cmd.Env = append(os.Environ(), "CLASSCOUNT_HELPER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "held\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q %v", line, err)
	}
	c := openCounter(t, path)
	if _, ok, _ := c.Acquire("crash", 1); ok {
		t.Error("slot held by a live process was taken")
	}
	if n := c.Count("crash"); n != 1 {
		t.Errorf("count with the helper alive = %d", n)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if n := c.Count("crash"); n != 0 {
		t.Errorf("count after the helper died = %d", n)
	}
	acquire(t, c, "crash", 1)
}

// TestOpenLockRefusesOthersFiles: a lock file others may write is refused.
func TestOpenLockRefusesOthersFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "classes.lock")
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenLock(path); err == nil {
		f.Close()
		t.Error("a world-writable lock file was accepted")
	}
	link := filepath.Join(t.TempDir(), "link.lock")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenLock(link); err == nil {
		f.Close()
		t.Error("a symlink was followed")
	}
}
