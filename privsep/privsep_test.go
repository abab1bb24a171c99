package privsep

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestDropInChild re-runs this test binary as a child that drops to nobody
// and reports its /proc/self/status ids; the parent stays root.
func TestDropInChild(t *testing.T) {
	if os.Getenv("PRIVSEP_CHILD") == "1" {
		id, err := Lookup("nobody")
		if err != nil {
			t.Fatal(err)
		}
		if err := Drop(id); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Gid:") || strings.HasPrefix(l, "Groups:") {
				os.Stdout.WriteString(l + "\n")
			}
		}
		if _, err := os.Create("/root/privsep-should-fail"); err == nil {
			os.Remove("/root/privsep-should-fail")
			t.Fatal("could write in /root after dropping")
		}
		return
	}
	testutil.Privileged(t, "drops from root to nobody")
	cmd := exec.Command(os.Args[0], "-test.run=TestDropInChild", "-test.v")
	cmd.Env = append(os.Environ(), "PRIVSEP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child status lacks %q:\n%s", want, out)
		}
	}
}

func TestDropRefusesRoot(t *testing.T) {
	if err := Drop(Identity{Name: "root", UID: 0}); err == nil {
		t.Fatal("Drop to uid 0 accepted")
	}
}
