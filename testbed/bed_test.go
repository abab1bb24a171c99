package testbed

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBoot boots a bed and checks what the other tests rely on: systemd
// is PID 1 and running, journald stores lines, files go in and come back,
// and the client namespace reaches the bed's sshd over the veth.
func TestBoot(t *testing.T) {
	bed := Boot(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if comm := strings.TrimSpace(bed.Run(t, "cat", "/proc/1/comm")); comm != "systemd" {
		t.Errorf("PID 1 in the bed is %q, want systemd", comm)
	}
	if host := strings.TrimSpace(bed.Run(t, "hostname")); host != bed.Name {
		t.Errorf("hostname %q, want %q", host, bed.Name)
	}
	for _, unit := range []string{"systemd-journald.service", "dbus.service", "ssh.service"} {
		if out, _, err := bed.Exec(ctx, "systemctl", "is-active", unit); err != nil {
			t.Errorf("%s is not active: %q %v", unit, out, err)
		}
	}

	want := "testbed-" + randHex(8)
	bed.Run(t, "logger", "-t", "tfbtest", want)
	bed.Run(t, "journalctl", "--sync")
	got := bed.Run(t, "journalctl", "-t", "tfbtest", "-o", "cat", "--no-pager")
	if !strings.Contains(got, want) {
		t.Errorf("journal has no %q line: %q", want, got)
	}

	if err := bed.WriteFile("/var/run/tfb/x", []byte(want), 0o640); err != nil {
		t.Fatal(err)
	}
	back, err := bed.ReadFile("/run/tfb/x") // /var/run is a symlink to /run, resolved in the bed
	if err != nil || string(back) != want {
		t.Errorf("read back %q, %v; want %q", back, err, want)
	}
	if mode := strings.TrimSpace(bed.Run(t, "stat", "-c", "%a %U", "/run/tfb/x")); mode != "640 root" {
		t.Errorf("mode and owner %q, want 640 root", mode)
	}

	banner, _, err := bed.ClientExec(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+BedAddr+"/22 && head -c 7 <&3")
	if err != nil || banner != "SSH-2.0" {
		t.Errorf("sshd banner from the client namespace: %q, %v", banner, err)
	}
}

// TestHelperBootAndHang is not a test: TestSweepStale runs the test binary
// with it, as a test run that boots a bed and is then killed.
func TestHelperBootAndHang(t *testing.T) {
	if os.Getenv("TFB_HELPER_HANG") != "1" {
		t.Skip("helper process of TestSweepStale")
	}
	bed := Boot(t, Options{})
	fmt.Printf("BED %s %d\n", bed.Name, bed.Leader)
	io.Copy(io.Discard, os.Stdin) // until killed (or stdin closes)
}

// TestSweepStale: a test run killed before its cleanups (go test -timeout,
// SIGKILL) leaves its bed running; the next Boot removes it: the
// container's processes, the overlay, the namespaces, the cgroups and the
// runtime directory.
func TestSweepStale(t *testing.T) {
	Require(t)
	if _, err := Image(context.Background(), nil, t.Logf); err != nil { // built here, not under the helper's timeout
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBootAndHang$", "-test.v")
	cmd.Env = append(os.Environ(), "TFB_HELPER_HANG=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var name string
	var leader int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "BED %s %d", &name, &leader); err == nil {
			break
		}
	}
	if name == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the helper process did not boot a bed")
	}
	cmd.Process.Kill() // no cleanup runs
	cmd.Wait()
	go io.Copy(io.Discard, out)
	run := filepath.Join(CacheDir(), "run", name)
	if _, err := os.Stat(run); err != nil {
		t.Fatalf("the killed run left no bed to sweep (%v): the test proves nothing", err)
	}
	if _, ok := processID(leader); !ok {
		t.Fatalf("the killed run's container (pid %d) is gone already: the test proves nothing", leader)
	}

	swept := sweepStale()
	if !slices.Contains(swept, name) {
		t.Errorf("sweepStale removed %v, want %s", swept, name)
	}
	if _, ok := processID(leader); ok {
		t.Errorf("the container's PID 1 (%d) still runs", leader)
	}
	for _, p := range []string{run, "/run/netns/" + name, "/run/netns/" + name + "-c"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), name) {
		t.Errorf("a mount of %s is left", name)
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	cgs2, _ := filepath.Glob("/sys/fs/cgroup/" + name)
	if len(cgs)+len(cgs2) > 0 {
		t.Errorf("cgroups left: %v %v", cgs, cgs2)
	}
}

// TestAlive: a bed is swept only when its owner is known to be gone; a
// bed of an older testbed (owner: a pid alone) stays while that pid runs.
func TestAlive(t *testing.T) {
	self, ok := processID(os.Getpid())
	if !ok {
		t.Skip("no /proc")
	}
	pid := fmt.Sprint(os.Getpid())
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{self, true},
		{pid + " 1", false},      // the pid was reused
		{pid, true},              // older format, the process runs
		{"2147483646", false},    // older format, no such process
		{"2147483646 12", false}, // gone
		{"", true},               // unreadable: never swept
		{"garbage here", true},   // unreadable: never swept
	} {
		if got := alive(tc.id); got != tc.want {
			t.Errorf("alive(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
