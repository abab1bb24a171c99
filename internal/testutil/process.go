package testutil

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopGrace = 5 * time.Second

// Process is a process a test started (the daemon, systemd-socket-activate,
// inetd, sshd, ssh, ...), in a process group of its own, with its standard
// output and error captured. The test's end stops the group (Stop) and, if
// the test failed, logs the output.
type Process struct {
	Name string      // for messages
	Cmd  *exec.Cmd   // started; Cmd.Process.Pid is the group's id
	Out  *SyncBuffer // standard output and error, interleaved
	t    testing.TB
	done chan struct{} // closed once Wait has returned
	err  error         // Wait's result, once done is closed
}

// StartProcess starts cmd (not yet started; Stdout, Stderr and
// SysProcAttr are set here) in a process group of its own, so that
// stopping it also stops what it forked. name is used in messages. A cmd
// made with exec.CommandContext keeps its Cancel; to stop the whole group
// when the context ends, set Cancel to signal -Cmd.Process.Pid. There is no
// Pdeathsig: it fires when the forking OS thread exits, and tests that
// enter network namespaces end such threads on purpose.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Name: name, Cmd: cmd, Out: &SyncBuffer{}, t: t, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child that outlives the process keeps the output pipe open; do not
	// let Wait wait for it.
	cmd.WaitDelay = StopGrace
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		if errors.Is(p.err, exec.ErrWaitDelay) {
			p.err = nil // it exited with status 0; only a child kept the output open
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop() //nolint:errcheck // its exit status is the test's business
		if t.Failed() {
			t.Logf("--- output of %s (pid %d, %v):\n%s", name, p.Pid(), p.err, Tail(p.Out.String(), 12000))
		}
	})
	return p
}

// Pid is the process's id (and its process group's).
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the result of the process's Wait once it has exited (nil for exit
// status 0), and nil before.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Signal sends sig to the process (not its group), and fails the test if
// it cannot.
func (p *Process) Signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to %s: %v", sig, p.Name, err)
	}
}

// TryWait waits up to timeout for the process to exit, and returns its exit
// code (-1 if a signal ended it) and whether it exited.
func (p *Process) TryWait(timeout time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return -1, false
	}
}

// Wait is TryWait that fails the test if the process is still running
// after timeout.
func (p *Process) Wait(timeout time.Duration) int {
	p.t.Helper()
	code, ok := p.TryWait(timeout)
	if !ok {
		p.t.Fatalf("%s did not exit within %v", p.Name, timeout)
	}
	return code
}

// Stop sends SIGTERM to the process group, SIGKILL after StopGrace, waits
// for the process, and returns Wait's result (an exit status, or nil).
func (p *Process) Stop() error {
	if p.Exited() {
		return p.err
	}
	syscall.Kill(-p.Pid(), syscall.SIGTERM) //nolint:errcheck // gone already is fine
	select {
	case <-p.done:
	case <-time.After(StopGrace):
		syscall.Kill(-p.Pid(), syscall.SIGKILL) //nolint:errcheck
		<-p.done
	}
	return p.err
}

// WaitOutput waits until the process's output matches re and returns the
// match and its submatches. It fails the test after timeout, or at once if
// the process exits without the output matching.
func (p *Process) WaitOutput(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	m, err := waitMatch(p, p.Out.String, re, timeout)
	if err != nil {
		p.t.Fatalf("%s: output: %v", p.Name, err)
	}
	return m
}

// waitMatch polls text until re matches it, and returns the match. It
// gives up after timeout, or when proc (if not nil) exits without a match.
func waitMatch(proc *Process, text func() string, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	var m []string
	exited := false
	Poll(timeout, 20*time.Millisecond, func() bool {
		m = re.FindStringSubmatch(text())
		exited = m == nil && proc != nil && proc.Exited()
		return m != nil || exited
	})
	switch {
	case m != nil:
		return m, nil
	case exited:
		// One more look: the last lines may have come with the exit.
		if m = re.FindStringSubmatch(text()); m != nil {
			return m, nil
		}
		return nil, fmt.Errorf("%s exited (%v) before anything matched %s; so far:\n%s", proc.Name, proc.err, re, Tail(text(), 4000))
	default:
		return nil, fmt.Errorf("nothing matched %s after %v; so far:\n%s", re, timeout, Tail(text(), 4000))
	}
}

// Tail is the last n bytes of s, marked with "…" when cut.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
