package testbed

import (
	"context"
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
