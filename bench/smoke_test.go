package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs `bench/run --smoke`: every server starts (tunnelftpd and the
// three peers unpacked from Debian packages), the ssh tunnel comes up, and
// every step of every phase runs at tiny sizes. It fails when a step breaks,
// never because a target is missed.
//
// It needs root on Linux, the tools bench/run checks (sshd, ssh, useradd,
// setpriv, apt-get, dpkg-deb, ...) and a Debian mirror the first time (the
// unpacked peers are kept in bench/peers/). Without them it skips, saying
// why. TUNNELFTPD_BENCH_SMOKE=0 skips it; =1 turns those skips into failures.
func TestSmoke(t *testing.T) {
	force := os.Getenv("TUNNELFTPD_BENCH_SMOKE")
	switch {
	case force == "0":
		t.Skip("TUNNELFTPD_BENCH_SMOKE=0")
	case testing.Short() && force != "1":
		t.Skip("-short: the benchmark smoke run takes about two minutes")
	case runtime.GOOS != "linux":
		t.Skip("bench/run needs Linux")
	case os.Geteuid() != 0 && force != "1":
		t.Skip("bench/run needs root (throwaway user, sshd); run as root or set TUNNELFTPD_BENCH_SMOKE=1 to insist")
	}
	script, err := filepath.Abs("run")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "--smoke")
	// A full run holds the machine-wide lock for up to 10 minutes: wait two,
	// then skip (exit 77) rather than time out.
	cmd.Env = append(os.Environ(), "BENCH_LOCK_WAIT=120")
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("bench/run --smoke took %s", time.Since(start).Round(time.Second))
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 && force != "1" {
		t.Skipf("bench/run --smoke: prerequisite missing: %s", skipReason(out.String()))
	}
	if err != nil {
		t.Fatalf("bench/run --smoke: %v\n%s", err, tail(out.String(), 120))
	}
	if !strings.Contains(out.String(), "every step ran") {
		t.Fatalf("bench/run --smoke exited 0 without confirming every step:\n%s", tail(out.String(), 120))
	}
	t.Logf("\n%s", tail(out.String(), 60))
}

func skipReason(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "SKIP: "); i >= 0 {
			return l[i+len("SKIP: "):]
		}
	}
	return tail(out, 5)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
