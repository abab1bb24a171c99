package testbed

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A test binary killed before its cleanups ran (go test's -timeout, a
// SIGKILL) leaves its beds behind: the container running, the overlay
// mounted, the namespaces and cgroups. Each bed's runtime directory says
// who made it (owner: pid and start time of the test process) and what to
// stop (leader: the container's PID 1); Boot sweeps the beds whose owner
// is gone before it makes a new one.

// processID names a process for as long as it lives: its pid and its start
// time (pids are reused, start times are not).
func processID(pid int) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	// Field 22, counted after the ")" that ends the command name.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", false
	}
	return fmt.Sprintf("%d %s", pid, f[19]), true
}

// alive reports whether the process named by id (processID) still runs.
// An id of a pid alone (written by an older testbed, which may be running
// in another checkout right now) counts as alive while that pid exists;
// anything else unreadable counts as alive too: only a bed known to be
// orphaned is swept.
func alive(id string) bool {
	pidText, start, withStart := strings.Cut(id, " ")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return true
	}
	now, ok := processID(pid)
	if !withStart || start == "" {
		return ok
	}
	return ok && now == id
}

// killLeader kills the container PID 1 named by id (processID) if that very
// process still runs (same pid, same start time), and waits for it.
func killLeader(id string) {
	pidText, start, ok := strings.Cut(id, " ")
	pid, err := strconv.Atoi(pidText)
	if !ok || start == "" || err != nil || pid <= 1 {
		return
	}
	if now, ok := processID(pid); !ok || now != id {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // checked by waiting for it below
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if now, ok := processID(pid); !ok || now != id {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sweepStale tears down the beds in CacheDir/run whose owner has gone; it
// returns what it removed, for the log.
func sweepStale() []string {
	dirs, _ := filepath.Glob(filepath.Join(CacheDir(), "run", "tfb-*"))
	var swept []string
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil || alive(strings.TrimSpace(string(owner))) {
			continue // being made right now, or still in use
		}
		name := filepath.Base(dir)
		if b, err := os.ReadFile(filepath.Join(dir, "leader")); err == nil {
			killLeader(strings.TrimSpace(string(b)))
		}
		root := filepath.Join(dir, "root")
		if err := unix.Unmount(root, 0); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			unix.Unmount(root, unix.MNT_DETACH) //nolint:errcheck // best effort: the directory removal says if it failed
		}
		for _, ns := range []string{name, name + "-c"} {
			if _, err := os.Stat("/run/netns/" + ns); err == nil {
				exec.Command("ip", "netns", "del", ns).Run() //nolint:errcheck // best effort
			}
		}
		if cgs, err := os.ReadFile(filepath.Join(dir, "cgroups")); err == nil {
			for _, c := range strings.Fields(string(cgs)) {
				removeCgroup(c) //nolint:errcheck // best effort
			}
		}
		if err := os.RemoveAll(dir); err == nil {
			swept = append(swept, name)
		}
	}
	return swept
}
