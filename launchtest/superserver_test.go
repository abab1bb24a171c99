package launchtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// The shipped etc/inetd.conf line and etc/xinetd.d/tunnelftpd, run by the
// real super-servers. Debian's openbsd-inetd and xinetd conflict with each
// other, so a machine has at most one: the other test skips. (A plain skip,
// not testutil.RequireTool: .ci/run installs neither, so TUNNELFTPD_E2E=1
// must not turn their absence into a failure.)

// shipped reads a shipped file and points it at the test's binary, config,
// port and user (root: the test dirs are root's).
func shipped(t *testing.T, f *testutil.Daemon, name string, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), installedBinary, binary)
	text = strings.ReplaceAll(text, "/etc/tunnelftpd/tunnelftpd.toml", f.Config)
	r := strings.NewReplacer(edits...)
	return r.Replace(text)
}

// TestShippedInetdConf: openbsd-inetd runs the shipped line; each
// connection is served by its own process, which exits 0.
func TestShippedInetdConf(t *testing.T) {
	inetd, err := exec.LookPath("inetd")
	if err != nil {
		t.Skip("SKIP: inetd is not installed (Debian package: openbsd-inetd, which conflicts with xinetd)")
	}
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{LogLevel: "debug"})
	conf := filepath.Join(f.Dir, "inetd.conf")
	text := shipped(t, f, "etc/inetd.conf", "127.0.0.1:2121", f.Addr, "\ttunnelftpd\t"+binary, "\troot\t"+binary)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, inetd, "-d", conf) // -d: debug, in the foreground
	p.WaitOutput(regexp.MustCompile(`ADD: `+regexp.QuoteMeta(f.Addr)), 10*time.Second)
	for i, name := range []string{"one.txt", "two.txt"} {
		exercise(t, f, name)
		pid := sessionPID(t, f.Logs, i+1)
		p.WaitOutput(regexp.MustCompile(fmt.Sprintf(`%d reaped, status 0\b`, pid)), 10*time.Second)
		waitGone(t, pid, 10*time.Second)
	}
	if !strings.Contains(f.Logs(), "mode=inetd ") {
		t.Errorf("the daemon did not run in inetd mode:\n%s", f.Logs())
	}
}

// TestShippedXinetd: xinetd runs the shipped service file; each connection
// is served by its own process, which exits.
func TestShippedXinetd(t *testing.T) {
	xinetd, err := exec.LookPath("xinetd")
	if err != nil {
		t.Skip("SKIP: xinetd is not installed (Debian package: xinetd)")
	}
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{LogLevel: "debug"})
	dir := filepath.Join(f.Dir, "xinetd.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	text := shipped(t, f, "etc/xinetd.d/tunnelftpd", "= 2121", fmt.Sprintf("= %d", f.Port), "= tunnelftpd\n", "= root\n")
	if err := os.WriteFile(filepath.Join(dir, "tunnelftpd"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(f.Dir, "xinetd.conf")
	if err := os.WriteFile(conf, []byte("defaults\n{\n}\nincludedir "+dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	xlog := filepath.Join(f.Dir, "xinetd.log")
	start(t, xinetd, "-dontfork", "-filelog", xlog, "-f", conf) // (-d would stop it logging)
	testutil.WaitText(t, "xinetd's log", func() string { b, _ := os.ReadFile(xlog); return string(b) },
		regexp.MustCompile(`Started working: 1 available service`), 10*time.Second)
	for i, name := range []string{"one.txt", "two.txt"} {
		exercise(t, f, name)
		pid := sessionPID(t, f.Logs, i+1)
		waitGone(t, pid, 10*time.Second)
		if !regexp.MustCompile(fmt.Sprintf(`mode=inetd .*pid=%d`, pid)).MatchString(f.Logs()) {
			t.Errorf("process %d did not run in inetd mode", pid)
		}
	}
}
