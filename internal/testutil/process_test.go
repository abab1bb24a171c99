package testutil

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcessStopEndsGroup: Stop ends the process and what it forked (the
// whole group), and cleanup needs no Stop of its own.
func TestProcessStopEndsGroup(t *testing.T) {
	p := StartProcess(t, "sh", exec.Command("sh", "-c", `sleep 60 & echo child=$!; wait`))
	m := p.WaitOutput(regexp.MustCompile(`child=(\d+)`), 10*time.Second)
	if p.Exited() || p.Err() != nil {
		t.Fatalf("exited %v, err %v before Stop", p.Exited(), p.Err())
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Stop: %v, want the SIGTERM exit", err)
	}
	if !p.Exited() {
		t.Error("not Exited after Stop")
	}
	// The child was in the group: it got SIGTERM too, and init reaps it.
	WaitFor(t, 10*time.Second, 20*time.Millisecond, "the forked child to end", func() bool {
		b, err := os.ReadFile("/proc/" + m[1] + "/stat")
		return err != nil || strings.Contains(string(b), ") Z ")
	})
}

// TestProcessWaitAndSignal: Signal reaches the process, TryWait reports
// the exit and its code, WaitOutput gives up at once on a process that
// exited without the output.
func TestProcessWaitAndSignal(t *testing.T) {
	p := StartProcess(t, "sh", exec.Command("sh", "-c", `trap 'echo got HUP; exit 3' HUP; echo ready; while :; do sleep 0.05; done`))
	p.WaitOutput(regexp.MustCompile(`ready`), 10*time.Second)
	if _, ok := p.TryWait(50 * time.Millisecond); ok {
		t.Fatal("TryWait: exited before the signal")
	}
	// Sent again every half second, bounded: dash may miss a signal that comes while it
	// forks the loop's sleep (seen once in CI: sh still looping 10 s after one SIGHUP); what
	// is tested is that Signal reaches the process and the exit is reported.
	p.Signal(syscall.SIGHUP)
	code, exited := p.TryWait(500 * time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); !exited && time.Now().Before(deadline); {
		p.Cmd.Process.Signal(syscall.SIGHUP) //nolint:errcheck // it may have exited just now
		code, exited = p.TryWait(500 * time.Millisecond)
	}
	if !exited || code != 3 {
		t.Errorf("exited %v with code %d, want exit code 3 after SIGHUP", exited, code)
	}
	if p.Err() == nil {
		t.Error("Err is nil after exit status 3")
	}

	began := time.Now()
	f := run(t, func(tb testing.TB) {
		q := StartProcess(tb, "true", exec.Command("true"))
		q.WaitOutput(regexp.MustCompile(`never`), 30*time.Second)
	})
	if !strings.Contains(f.failed, "exited") || time.Since(began) > 10*time.Second {
		t.Errorf("WaitOutput on an exited process: %q after %v", f.failed, time.Since(began))
	}
}
