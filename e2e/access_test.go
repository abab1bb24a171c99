package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestTunnelDenyClients: behind the real sshd every FTP connection comes from 127.0.0.1, yet
// deny_clients and a class's clients match the SSH client's real address, which tunnelftpd
// finds from the tunnel's sshd process (issue 14). The same daemon, reloaded between the
// steps, first refuses the client's address at connect, then refuses only the FTP user's login
// by it (while 127.0.0.0/8, the TCP peer, is denied at connect without effect), then admits it.
func TestTunnelDenyClients(t *testing.T) {
	testutil.Privileged(t, "creates network namespaces and a system user")
	testutil.RequireTool(t, tools...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, tmp: t.TempDir()}
	e.buildBinary()
	e.makeUser()
	e.makeNamespaces()
	e.makeFiles(1 << 20)
	e.startDaemonWith(fmt.Sprintf(`
[[classes]]
name = "blocked"
deny_clients = ["%s/32"]
`, cliAddr))
	e.startSSHD()
	e.startTunnel()

	// 1. Refused at connect: the client's real address is denied.
	stderr := e.curlFails(t, e.url(ctrlPort, "small.bin"))
	if !strings.Contains(stderr, "< 421 Connections from your address are not accepted here") {
		t.Errorf("connect from a denied client: curl saw no 421:\n%s", testutil.Tail(stderr, 3000))
	}
	e.waitDaemonLog(t, regexp.MustCompile(`msg="connection refused by deny_clients" .*class=blocked client=`+regexp.QuoteMeta(cliAddr)))

	// 2. The peer address denied at connect changes nothing; the user's class refuses the
	// login from the client's address.
	e.reload(t, fmt.Sprintf(`
[[classes]]
name = "partners"
who = [%q]
clients = ["%s/24"]
deny_clients = ["%s"]

[[classes]]
name = "loopback"
deny_clients = ["127.0.0.0/8"]
`, ftpUser, cliAddr[:strings.LastIndex(cliAddr, ".")]+".0", cliAddr))
	stderr = e.curlFails(t, e.url(ctrlPort, "small.bin"))
	if !strings.Contains(stderr, "< 220 ") || !strings.Contains(stderr, "< 421 Connections from your address are not accepted here") {
		t.Errorf("login from a denied client: curl saw no 220 then 421:\n%s", testutil.Tail(stderr, 3000))
	}
	e.waitDaemonLog(t, regexp.MustCompile(`msg="login refused by deny_clients" .*user=`+ftpUser+` class=partners client=`+regexp.QuoteMeta(cliAddr)))

	// 3. Not denied: the download works, and the session is in its class.
	e.reload(t, fmt.Sprintf(`
[[classes]]
name = "partners"
who = [%q]
clients = ["%s/32"]
max_sessions = 2
`, ftpUser, cliAddr))
	got := filepath.Join(e.cliDir, "small-allowed.bin")
	e.curl(t, "epsv", "-o", got, e.url(ctrlPort, "small.bin"))
	sameFile(t, "download after the reload", filepath.Join(e.ftpRoot, "small.bin"), got)
	e.waitDaemonLog(t, regexp.MustCompile(`msg=login user=`+ftpUser+` .*client=`+regexp.QuoteMeta(cliAddr)+`:\d+ .*class=partners`))
}

// baseConfig is TestTunnel's daemon config (tunnel identity in full) with extra appended.
func (e *env) baseConfig(hash, extra string) string {
	return fmt.Sprintf(`listen = "127.0.0.1:%s"
tunnel_only = true

[passive]
ports = "22000-22004"
address = "127.0.0.1"
lock_file = %q

[[users]]
name = %q
password = %q
root = %q
require_ssh_user = true
ssh_user = %q
`, ctrlPort, filepath.Join(e.tmp, "run", "passive.lock"), ftpUser, hash, e.ftpRoot, e.sysUser) + extra
}

// startDaemonWith runs tunnelftpd like startDaemon, with extra config (tables) appended, and
// keeps the password hash for reloads.
func (e *env) startDaemonWith(extra string) {
	t, ctx := e.t, e.ctx
	cmd := exec.CommandContext(ctx, e.bin, "passwd")
	cmd.Stdin = strings.NewReader(ftpPass + "\n")
	hash, _, err := runCmd(cmd)
	if err != nil {
		t.Fatal(err)
	}
	e.hash = strings.TrimSpace(hash)
	e.config = filepath.Join(e.tmp, "tunnelftpd.toml")
	writeFile(t, e.config, e.baseConfig(e.hash, extra), 0o600)
	mustRun(t, ctx, 10*time.Second, e.bin, "check", "-c", e.config)
	e.daemon = start(t, "tunnelftpd serve", netnsCmd(ctx, e.nsSrv, e.bin, "serve", "-c", e.config))
	if err := waitPort(ctx, e.nsSrv, "127.0.0.1:"+ctrlPort, 20*time.Second, e.daemon); err != nil {
		t.Fatal(err)
	}
}

// reload rewrites the config with extra and reloads the daemon (SIGHUP).
func (e *env) reload(t *testing.T, extra string) {
	t.Helper()
	before := strings.Count(e.daemon.Out.String(), `msg="config reloaded for new sessions"`)
	writeFile(t, e.config, e.baseConfig(e.hash, extra), 0o600)
	mustRun(t, e.ctx, 10*time.Second, e.bin, "check", "-q", "-c", e.config)
	e.daemon.Signal(syscall.SIGHUP)
	testutil.WaitFor(t, 10*time.Second, 20*time.Millisecond, "the reload", func() bool {
		return strings.Count(e.daemon.Out.String(), `msg="config reloaded for new sessions"`) > before
	})
}

// curlFails runs a download that must fail and returns curl's -v output.
func (e *env) curlFails(t *testing.T, url string) string {
	t.Helper()
	_, stderr, err := runIn(e.ctx, 60*time.Second, e.nsCli, "curl", "-sS", "-v", "--max-time", "30",
		"-u", ftpUser+":"+ftpPass, "-o", "/dev/null", url)
	if err == nil {
		t.Fatalf("curl %s succeeded; want it refused:\n%s", url, testutil.Tail(stderr, 3000))
	}
	return stderr
}

// waitDaemonLog waits until the daemon's output matches re.
func (e *env) waitDaemonLog(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	testutil.WaitText(t, "the daemon's log", e.daemon.Out.String, re, 10*time.Second)
}
