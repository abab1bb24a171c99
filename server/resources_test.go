package server

// Helpers shared by the reliability and security suite (abuse_test.go,
// faults_test.go, fuzz_test.go, soak_test.go): resource counts of this
// process, the passive range's listening sockets, the transfer log.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// longRun reports whether the long variants were asked for
// (TUNNELFTPD_LONG=1, see README "Run the tests").
func longRun() bool { return os.Getenv("TUNNELFTPD_LONG") == "1" }

// openFDs is the number of open file descriptors of this process.
func openFDs(t testing.TB) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es) - 1 // the directory being read
}

// fdTargets lists this process's open fds and what they point to, for
// failure messages.
func fdTargets() string {
	es, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range es {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"->"+l)
	}
	return strings.Join(out, " ")
}

// listeningPorts returns the ports in [first, last] that have a socket in
// LISTEN state, from the kernel's tables (IPv4 and IPv6).
func listeningPorts(t testing.TB, first, last int) []int {
	t.Helper()
	var ports []int
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue // no IPv6
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 4 || fs[3] != "0A" { // 0A = TCP_LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if err == nil && int(p) >= first && int(p) <= last {
				ports = append(ports, int(p))
			}
		}
		f.Close()
	}
	return ports
}

// settleGoroutines polls until the goroutines of this process are at most
// max, and returns the last count. With max 0 it waits the whole timeout:
// the count after that much quiet is a baseline.
func settleGoroutines(max int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= max || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// baselineGoroutines returns the goroutine count once this process is
// quiet: no stall watchdog of an earlier test left (each ends at its next
// tick, up to 5s after its data connection closed; waited for at most 6s)
// and nothing changing for a moment.
func baselineGoroutines() int {
	deadline := time.Now().Add(6 * time.Second)
	buf := make([]byte, 1<<20)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte("passive.watchStall")) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return settleGoroutines(0, 300*time.Millisecond)
}

// settleFDs polls until this process has at most max open fds, and returns
// the last count. It runs the garbage collector first each time: Go keeps
// the pipes it uses for splice (STOR) in a pool that only a collection
// empties, and closes them from finalizers.
func settleFDs(t testing.TB, max int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runtime.GC()
		n := openFDs(t)
		if n <= max || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goroutineSlack is how many goroutines above the baseline a released
// session may leave: the runtime's own (GC workers, timers firing) come and
// go.
const goroutineSlack = 5

// xferStatuses waits until the transfer log at path has n lines and
// returns the status field (c or i) of each.
func xferStatuses(t testing.TB, path string, n int) []string {
	t.Helper()
	var lines []string
	waitFor(t, 10*time.Second, fmt.Sprintf("%d xferlog lines", n), func() bool {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) == 0 {
			lines = nil
		}
		return len(lines) >= n
	})
	st := make([]string, len(lines))
	for i, l := range lines {
		f := strings.Fields(l)
		st[i] = f[len(f)-1]
	}
	return st
}

// xferBytes is the byte count of xferlog line i (0-based) at path.
func xferBytes(t testing.TB, path string, i int) int64 {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(readFile(t, path)), "\n")
	f := strings.Fields(lines[i])
	n, err := strconv.ParseInt(f[7], 10, 64)
	if err != nil {
		t.Fatalf("xferlog line %q: %v", lines[i], err)
	}
	return n
}
