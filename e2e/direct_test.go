package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestDirectClientGetsSendfile: with retr_sendfile = "auto" (the default) a
// real FTP client (curl) that connects to the daemon directly on loopback,
// not through sshd, gets sendfile for RETR: the daemon sees the process
// holding the peer socket (curl, of the daemon's own uid, or any uid when the
// daemon is root) and it is not an sshd session. The file arrives intact,
// the login line says retr=sendfile, and strace shows the daemon sending the
// whole file with sendfile(2). Through sshd the same default copies
// (TestTunnel's identity step checks retr=copy).
func TestDirectClientGetsSendfile(t *testing.T) {
	testutil.RequireTool(t, "curl", "strace", "go")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := tunnelftpdBinary(t)

	root := filepath.Join(tmp, "root")
	const size = 3<<20 + 123 // several sendfile calls, not a whole number of pages
	randomFile(t, filepath.Join(root, "down.bin"), size)
	cmd := exec.CommandContext(ctx, bin, "passwd")
	cmd.Stdin = strings.NewReader(ftpPass + "\n")
	hash, _, err := runCmd(cmd)
	if err != nil {
		t.Fatal(err)
	}
	ctrl := strconv.Itoa(testutil.FreePort(t))
	first, last := testutil.FreePortRange(t, 2)
	config := filepath.Join(tmp, "tunnelftpd.toml")
	// retr_sendfile is left out: the default ("auto") is what is tested.
	writeFile(t, config, fmt.Sprintf(`listen = "127.0.0.1:%s"
tunnel_only = false
registry_dir = %q

[passive]
ports = "%d-%d"
address = "127.0.0.1"
lock_file = %q

[[users]]
name = %q
password = %q
root = %q
`, ctrl, filepath.Join(tmp, "run"), first, last, filepath.Join(tmp, "passive.lock"), ftpUser, strings.TrimSpace(hash), root), 0o600)
	mustRun(t, ctx, 10*time.Second, bin, "check", "-q", "-c", config)
	if out, _, err := run(ctx, 10*time.Second, bin, "check", "-c", config); err != nil || !strings.Contains(out, `retr_sendfile = "auto"`) {
		t.Fatalf("the effective config does not say retr_sendfile = \"auto\" (%v):\n%s", err, out)
	}

	trace := filepath.Join(tmp, "strace.out")
	daemon := start(t, "tunnelftpd serve (under strace)", exec.CommandContext(ctx, "strace", "-f", "-qq",
		"-e", "trace=sendfile", "-o", trace, bin, "serve", "-c", config))
	testutil.WaitFor(t, 20*time.Second, 50*time.Millisecond, "the daemon listening on 127.0.0.1:"+ctrl, func() bool {
		if daemon.Exited() {
			t.Fatalf("the daemon exited (%v):\n%s", daemon.Err(), testutil.Tail(daemon.Out.String(), 4000))
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+ctrl, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	got := filepath.Join(tmp, "got.bin")
	mustRun(t, ctx, 60*time.Second, "curl", "-sS", "--fail", "--max-time", "50",
		"-u", ftpUser+":"+ftpPass, "-o", got, "ftp://127.0.0.1:"+ctrl+"/down.bin")
	sameFile(t, "curl's download", filepath.Join(root, "down.bin"), got)

	testutil.WaitText(t, "the daemon's log", daemon.Out.String,
		regexp.MustCompile(`msg=login user=`+ftpUser+` from=127\.0\.0\.1:\d+ .*retr=sendfile\b`), 10*time.Second)
	if strings.Contains(daemon.Out.String(), "retr=copy") {
		t.Errorf("a session of the direct client copies:\n%s", testutil.Tail(daemon.Out.String(), 4000))
	}

	// strace writes a call's line when it returns; stopping the daemon
	// (and strace with it) ends the trace.
	if err := daemon.Stop(); err != nil {
		t.Logf("stopping the daemon: %v", err)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatalf("strace wrote no trace: %v\n%s", err, testutil.Tail(daemon.Out.String(), 4000))
	}
	sent, calls := sendfileTotal(string(b))
	t.Logf("the daemon's sendfile calls: %d, %d bytes (file: %d bytes)", calls, sent, size)
	if sent != size {
		t.Errorf("the daemon sent %d bytes with sendfile in %d calls, want the file's %d: RETR did not use sendfile\n%s",
			sent, calls, size, testutil.Tail(string(b), 2000))
	}
}

// sendfileResult matches a finished sendfile in strace -f output, also when
// it was split into "<unfinished ...>" and "<... sendfile resumed>".
var sendfileResult = regexp.MustCompile(`(?m)^(?:\d+\s+)?(?:<\.\.\. )?sendfile\b.*\)\s+=\s+(\d+)`)

// sendfileTotal is the bytes moved by, and the number of, the successful
// sendfile calls in an strace trace.
func sendfileTotal(trace string) (bytes int64, calls int) {
	for _, m := range sendfileResult.FindAllStringSubmatch(trace, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		bytes += n
		calls++
	}
	return bytes, calls
}
