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
	// SIGUSR1, not SIGHUP: a shell cannot trap a signal ignored when it started, and tests run
	// under nohup inherit SIGHUP ignored (sh then loops on after any number of SIGHUPs).
	p := StartProcess(t, "sh", exec.Command("sh", "-c", `trap 'echo got USR1; exit 3' USR1; echo ready; while :; do sleep 0.05; done`))
	p.WaitOutput(regexp.MustCompile(`ready`), 10*time.Second)
	if _, ok := p.TryWait(50 * time.Millisecond); ok {
		t.Fatal("TryWait: exited before the signal")
	}
	p.Signal(syscall.SIGUSR1)
	if code := p.Wait(10 * time.Second); code != 3 {
		t.Errorf("exit code %d, want 3", code)
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
