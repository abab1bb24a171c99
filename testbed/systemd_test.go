package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSocketActivatedTunnel installs tunnelftpd in a booted Debian 12 as
// README says (shipped units, hardened, socket activation) and logs in
// and transfers with curl through a real sshd tunnel from the client
// namespace.
func TestSocketActivatedTunnel(t *testing.T) {
	requireHostTools(t)
	bed := Boot(t, Options{})
	s := install(t, bed, nil)

	if got := s.unitState("tunnelftpd.socket"); got != "active" {
		t.Fatalf("tunnelftpd.socket is %q after README's install, want active", got)
	}
	if got := s.unitState("tunnelftpd.service"); got != "inactive" {
		t.Fatalf("tunnelftpd.service is %q before any connection, want inactive (socket activation)", got)
	}
	s.startTunnel()

	// The first connection starts the service.
	list, _, err := s.curl("", "ftp://127.0.0.1:2121/")
	if err != nil {
		t.Fatalf("listing through the tunnel: %v", err)
	}
	if got := s.unitState("tunnelftpd.service"); got != "active" {
		t.Errorf("tunnelftpd.service is %q after a login, want active", got)
	}
	if strings.TrimSpace(list) != "" {
		t.Errorf("listing of an empty root: %q", list)
	}

	want := "uploaded through " + bed.Name + "\n"
	up := filepath.Join(t.TempDir(), "up.txt")
	if err := os.WriteFile(up, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.curl("", "-T", up, "ftp://127.0.0.1:2121/up.txt"); err != nil {
		t.Fatalf("upload (EPSV): %v", err)
	}
	got, err := bed.ReadFile("/srv/ftp/alice/up.txt")
	if err != nil || string(got) != want {
		t.Fatalf("uploaded file in the bed: %q, %v; want %q", got, err, want)
	}
	if owner := strings.TrimSpace(bed.Run(t, "stat", "-c", "%U", "/srv/ftp/alice/up.txt")); owner != "tunnelftpd" {
		t.Errorf("upload owned by %q, want the service user tunnelftpd", owner)
	}
	down, _, err := s.curl("", "--disable-epsv", "ftp://127.0.0.1:2121/up.txt")
	if err != nil || down != want {
		t.Fatalf("download (PASV): %q, %v; want %q", down, err, want)
	}

	j := s.journal("-u", "tunnelftpd.service")
	for _, w := range []string{`msg=login user=alice`, `msg="transfer complete"`, `direction=upload user=alice path=/up.txt bytes=30`} {
		if !strings.Contains(j, w) {
			t.Errorf("journal of tunnelftpd.service has no %q:\n%s", w, tail(j, 3000))
		}
	}
}
