package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// netnsCmd is name args… run inside network namespace ns by `ip netns exec`,
// which execs the command in place: the process's pid is the command's.
func netnsCmd(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// run runs cmd to completion within timeout and returns its stdout and
// stderr. The error names the command and carries its stderr.
func run(ctx context.Context, timeout time.Duration, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return runCmd(exec.CommandContext(ctx, name, args...))
}

// runIn is run inside network namespace ns.
func runIn(ctx context.Context, timeout time.Duration, ns, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return runCmd(netnsCmd(ctx, ns, name, args...))
}

func runCmd(cmd *exec.Cmd) (string, string, error) {
	var out, errb bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	cmd.Stderr = &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w\nstderr:\n%s", strings.Join(cmd.Args, " "), err, testutil.Tail(errb.String(), 4000))
	}
	return out.String(), errb.String(), err
}

// mustRun is run that fails the test on error.
func mustRun(t *testing.T, ctx context.Context, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, _, err := run(ctx, timeout, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mustRunIn is runIn that fails the test on error.
func mustRunIn(t *testing.T, ctx context.Context, timeout time.Duration, ns, name string, args ...string) string {
	t.Helper()
	out, _, err := runIn(ctx, timeout, ns, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// start starts cmd (made by netnsCmd) as a process of the test
// (testutil.StartProcess: a process group of its own, stopped and its
// output logged at the end), and makes the end of the test's context stop
// the whole group.
func start(t *testing.T, name string, cmd *exec.Cmd) *testutil.Process {
	t.Helper()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return testutil.StartProcess(t, name, cmd)
}

// inNetns runs fn on an OS thread that has joined network namespace ns, so
// sockets fn creates belong to ns (they keep working from any goroutine).
// The thread is never unlocked: it exits with its goroutine, so no other
// goroutine ever runs in the namespace.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("joining netns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// dialIn connects to addr from inside network namespace ns.
func dialIn(ns, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

// listenIn listens on addr inside network namespace ns.
func listenIn(ns, addr string) (net.Listener, error) {
	var l net.Listener
	err := inNetns(ns, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// waitPort polls until addr accepts a TCP connection inside ns. It gives up
// when ctx ends, after timeout, or as soon as one of watch has exited (its
// output then says why).
func waitPort(ctx context.Context, ns, addr string, timeout time.Duration, watch ...*testutil.Process) error {
	var err error
	var gone *testutil.Process
	testutil.Poll(timeout, 50*time.Millisecond, func() bool {
		var c net.Conn
		if c, err = dialIn(ns, addr, time.Second); err == nil {
			c.Close()
			return true
		}
		for _, p := range watch {
			if p.Exited() {
				gone = p
				return true
			}
		}
		return ctx.Err() != nil
	})
	switch {
	case gone != nil:
		return fmt.Errorf("%s exited (%v) before %s accepted connections", gone.Name, gone.Err(), addr)
	case err != nil:
		return fmt.Errorf("%s in netns %s: no listener after %s: %v", addr, ns, timeout, err)
	}
	return nil
}

// sha256file is the hex SHA-256 of the file at path.
func sha256file(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sameFile fails the test unless got has the bytes of want, and says
// whether it has.
func sameFile(t *testing.T, what, want, got string) bool {
	t.Helper()
	hw, err := sha256file(want)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	hg, err := sha256file(got)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	if hw != hg {
		t.Errorf("%s: sha256 of %s is %s, want %s (of %s)", what, got, hg, hw, want)
		return false
	}
	return true
}

// treeHashes maps every path under root (relative, "/" for directories'
// trailing mark) to the sha256 of its content ("dir" for directories).
func treeHashes(root string) (map[string]string, error) {
	m := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			m[rel+"/"] = "dir"
			return nil
		}
		h, err := sha256file(path)
		m[rel] = h
		return err
	})
	return m, err
}

// sameTree fails the test unless the trees at want and got hold the same
// directories and files with the same bytes.
func sameTree(t *testing.T, what, want, got string) {
	t.Helper()
	hw, err := treeHashes(want)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	hg, err := treeHashes(got)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	var diffs []string
	for p, h := range hw {
		if hg[p] != h {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, want %q", p, hg[p], h))
		}
	}
	for p := range hg {
		if _, ok := hw[p]; !ok {
			diffs = append(diffs, p+": unexpected")
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s: %s differs from %s:\n%s", what, got, want, strings.Join(diffs, "\n"))
	}
}

// processesOf lists the pids of the processes whose real uid is uid.
func processesOf(uid int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				if f[1] == strconv.Itoa(uid) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// isTimeout reports whether err is a dial that got no answer at all (a
// packet filter dropping it), as opposed to a refusal.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// The daemon binary, built once for the package by the first test that
// needs it (a run that skips every test builds nothing).
var (
	buildOnce    sync.Once
	builtBinary  string
	buildErr     error
	buildCleanup = func() {}
)

func tunnelftpdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtBinary, buildCleanup, buildErr = testutil.BuildTunnelftpd("tunnelftpd-e2e-")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBinary
}

func TestMain(m *testing.M) {
	code := m.Run()
	buildCleanup()
	os.Exit(code)
}
