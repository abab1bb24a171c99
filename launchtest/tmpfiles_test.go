package launchtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestShippedTmpfiles: systemd-tmpfiles creates /run/tunnelftpd, owned by
// the service user, from the shipped etc/tmpfiles.d/tunnelftpd.conf (in a
// scratch root, so the host is not touched).
func TestShippedTmpfiles(t *testing.T) {
	testutil.RequireTool(t, "systemd-tmpfiles")
	testutil.Privileged(t, "chowns in the scratch root")
	root := t.TempDir()
	for _, d := range []string{"etc", "run"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("tunnelftpd:x:990:990::/nonexistent:/usr/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("tunnelftpd:x:990:\n"), 0o644)
	conf, _ := filepath.Abs("../etc/tmpfiles.d/tunnelftpd.conf")
	if out, err := exec.Command("systemd-tmpfiles", "--root="+root, "--create", conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-tmpfiles: %v\n%s", err, out)
	}
	st, err := os.Stat(filepath.Join(root, "run/tunnelftpd"))
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if !st.IsDir() || sys.Uid != 990 || st.Mode().Perm() != 0o755 {
		t.Errorf("/run/tunnelftpd: dir=%v uid=%d mode=%v, want a 0755 directory of tunnelftpd", st.IsDir(), sys.Uid, st.Mode().Perm())
	}
}
