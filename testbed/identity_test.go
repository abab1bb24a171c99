package testbed

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/ident"
)

// TestIdentHelperUnit runs the shipped tunnelftpd-ident units (socket
// activation, DynamicUser, two capabilities, the sandbox) and asks the
// helper itself (the test takes the daemon's place) about a connection
// that came through the bed's sshd: it names
// the sshd session, the SSH user and the SSH client's real address. With
// either capability alone it cannot: both are the least that works.
func TestIdentHelperUnit(t *testing.T) {
	requireHostTools(t)
	for _, tc := range []struct {
		caps    string // "" = the shipped unit as is
		wantPID bool
	}{
		{"", true},
		{"CAP_SYS_PTRACE", false},
		{"CAP_DAC_READ_SEARCH", false},
	} {
		name := tc.caps
		if name == "" {
			name = "shipped"
		}
		t.Run(name, func(t *testing.T) {
			bed := Boot(t, Options{})
			s := install(t, bed, nil)
			if tc.caps != "" {
				dropIn := fmt.Sprintf("[Service]\nCapabilityBoundingSet=\nCapabilityBoundingSet=%[1]s\nAmbientCapabilities=\nAmbientCapabilities=%[1]s\n", tc.caps)
				if err := bed.WriteFile("/etc/systemd/system/tunnelftpd-ident.service.d/caps.conf", []byte(dropIn), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// README's install enabled the helper's socket; nothing asked it yet.
			bed.Run(t, "systemctl", "daemon-reload")
			if got := s.unitState("tunnelftpd-ident.socket"); got != "active" {
				t.Fatalf("tunnelftpd-ident.socket is %q after README's install, want active", got)
			}
			// The test takes the daemon's place on the control port.
			bed.Run(t, "systemctl", "disable", "--now", "tunnelftpd.socket")
			l := listenInBed(t, bed, "127.0.0.1:2121")
			s.startTunnel()
			curled := make(chan struct{})
			go func() {
				defer close(curled)
				s.curl("", "--max-time", "5", "ftp://127.0.0.1:2121/") //nolint:errcheck // no FTP server answers it
			}()
			t.Cleanup(func() { <-curled }) // before the tunnel stops; c's close ends it
			l.SetDeadline(time.Now().Add(20 * time.Second))
			c, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The helper's socket, seen from the host through the bed's root.
			p, err := ident.Ask(fmt.Sprintf("/proc/%d/root%s", bed.Leader, ident.HelperSocket), c)
			if err != nil {
				t.Fatalf("asking the helper: %v\n%s", err, s.journal("-u", "tunnelftpd-ident.service"))
			}
			if p.User != sshUser {
				t.Errorf("helper says the peer's owner is %q, want the SSH user %s", p.User, sshUser)
			}
			if !tc.wantPID {
				if p.PID != 0 || p.Client != "" {
					t.Errorf("with only %s the helper saw %+v: that capability alone is enough, the unit could do with less", tc.caps, *p)
				}
				return
			}
			if p.PID == 0 || !p.SSH || p.Comm != "sshd" {
				t.Errorf("helper says %+v, want the sshd session process", *p)
			}
			if host, _, _ := net.SplitHostPort(p.Client); host != ClientAddr {
				t.Errorf("helper says the SSH client is %q, want %s:PORT", p.Client, ClientAddr)
			}
			status := bed.Shell(t, "grep -E '^(Uid|CapEff)' /proc/$(systemctl show -p MainPID --value tunnelftpd-ident.service)/status")
			if !strings.Contains(status, "CapEff:\t0000000000080004") {
				t.Errorf("the helper runs with more or other capabilities than CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE:\n%s", status)
			}
			if strings.Contains(status, "Uid:\t0\t") {
				t.Errorf("the helper runs as root:\n%s", status)
			}
		})
	}
}

// listenInBed listens on addr inside the bed's network namespace.
func listenInBed(t *testing.T, bed *Bed, addr string) *net.TCPListener {
	t.Helper()
	type result struct {
		l   net.Listener
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open("/run/netns/" + bed.Name)
		if err != nil {
			res <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- result{nil, err}
			return
		}
		l, err := net.Listen("tcp", addr)
		res <- result{l, err}
	}()
	r := <-res
	if r.err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, bed.Name, r.err)
	}
	t.Cleanup(func() { r.l.Close() })
	return r.l.(*net.TCPListener)
}
