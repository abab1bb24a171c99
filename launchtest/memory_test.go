package launchtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// rssKiB is VmRSS of process pid.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestListingMemoryReturns: listing a directory of 100,000 entries (LIST
// and MLSD) takes memory for a moment, and the daemon gives it back: its
// resident size returns to within 8 MiB of where it was before, instead of
// staying tens of MiB up (15 -> 65 -> 58 MiB in the run).
// Guards: the daemon returning freed memory to the system after a spike.
func TestListingMemoryReturns(t *testing.T) {
	f := newFixture(t, testutil.DaemonOptions{})
	dir := filepath.Join(f.Root, "big")
	os.Mkdir(dir, 0o755)
	const entries = 100_000
	for i := range entries {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("entry-%06d.dat", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := f.Serve()
	rc := f.Client()
	rc.Timeout = 2 * time.Minute
	// Warm up: a small listing and a transfer, so the baseline has what
	// any session leaves behind (the runtime's pools).
	rc.List("LIST", "")
	rc.Retr(testutil.HelloName)
	base := rssKiB(t, d.Pid())

	peak := base
	for _, verb := range []string{"LIST", "MLSD"} {
		listing := rc.List(verb, "big")
		if n := strings.Count(listing, "entry-"); n != entries {
			t.Fatalf("%s: %d lines, want %d", verb, n, entries)
		}
		peak = max(peak, rssKiB(t, d.Pid()))
	}
	rc.Expect(221, "QUIT")

	const slack = 8 << 10 // KiB
	var now int
	returned := testutil.Poll(60*time.Second, 200*time.Millisecond, func() bool {
		now = rssKiB(t, d.Pid())
		return now <= base+slack
	})
	t.Logf("RSS: %d MiB before, %d MiB after LIST+MLSD of %d entries, %d MiB after",
		base>>10, peak>>10, entries, now>>10)
	if !returned {
		t.Errorf("RSS %d KiB a minute after the listings, baseline %d KiB: the memory was not given back", now, base)
	}
}
