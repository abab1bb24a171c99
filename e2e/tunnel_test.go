package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// Addresses of the veth pair. They exist only inside the two namespaces the
// test creates, so runs never see each other's and nothing leaves them.
const (
	srvAddr  = "10.231.0.1"
	cliAddr  = "10.231.0.2"
	vethSrv  = "tftp-s"
	vethCli  = "tftp-c"
	ctrlPort = "2121"
	ftpUser  = "e2e"
	ftpPass  = "e2e-secret-password"
)

// tools the test runs; the Debian packages that bring them are in doc.go.
var tools = []string{"ip", "nft", "/usr/sbin/sshd", "ssh", "ssh-keygen", "curl", "lftp", "python3", "useradd", "userdel", "go", "fail2ban-regex"}

// TestTunnel runs tunnelftpd behind a real sshd in one network namespace and
// real FTP clients behind ssh -L in another; a packet filter lets only SSH
// into the server namespace, so every byte goes through the tunnel.
func TestTunnel(t *testing.T) {
	testutil.Privileged(t, "creates network namespaces and a system user")
	testutil.RequireTool(t, tools...)
	began := time.Now()
	budget := 5 * time.Minute
	bigSize := int64(256 << 20)
	if testing.Short() {
		budget, bigSize = 3*time.Minute, 64<<20
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, tmp: t.TempDir()}

	e.buildBinary()
	e.makeUser()
	e.makeNamespaces()
	e.makeFiles(bigSize)
	e.startDaemon()
	e.startSSHD()
	t.Run("filter", e.testFilter)
	t.Run("ssh-config", e.testSSHConfigTunnel)
	e.startTunnel()
	t.Run("curl-epsv", func(t *testing.T) { e.testCurl(t, "epsv") })
	t.Run("curl-pasv", func(t *testing.T) { e.testCurl(t, "pasv") })
	t.Run("lftp-mirror", e.testLftp)
	t.Run("python-ftplib-pasv", e.testFtplib)
	t.Run("20-concurrent", e.testConcurrent)
	t.Run("identity", e.testIdentity) // before throughput, which stops the daemon
	t.Run("throughput", e.testThroughput)
	t.Logf("end-to-end tunnel test took %s", time.Since(began).Round(100*time.Millisecond))
}

// env is the state of one TestTunnel run.
type env struct {
	t   *testing.T
	ctx context.Context
	tmp string // root-only scratch directory

	bin       string // the tunnelftpd binary
	config    string // tunnelftpd's config file
	hash      string // the FTP user's password hash (startDaemonWith)
	ftpRoot   string // the FTP user's root directory (server side)
	cliDir    string // files of the client side
	bigFile   string // the throughput file, in ftpRoot
	sysUser   string // the throwaway SSH user
	clientKey string // its private key
	nsSrv     string
	nsCli     string

	daemon *testutil.Process
	sshd   *testutil.Process
	ssh    *testutil.Process // the tunnel built from `tunnelftpd tunnel --format ssh`
}

func (e *env) buildBinary() { e.bin = tunnelftpdBinary(e.t) }

// makeUser creates the throwaway system user that logs in over SSH with a key
// only, and removes it (with its home) when the test ends.
func (e *env) makeUser() {
	t := e.t
	e.sysUser = "tftpe2e" + randHex(4)
	// "*": no password, yet not locked ("!"), which sshd without PAM refuses.
	mustRun(t, e.ctx, 30*time.Second, "useradd", "-m", "-p", "*", "-s", "/usr/sbin/nologin", "-c", "tunnelftpd e2e test", e.sysUser)
	u, err := user.Lookup(e.sysUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	t.Cleanup(func() {
		// sshd's session processes run as the user; they end with the
		// tunnel, but userdel refuses a user that still has processes.
		testutil.Poll(5*time.Second, 50*time.Millisecond, func() bool { return len(processesOf(uid)) == 0 })
		for _, pid := range processesOf(uid) {
			t.Logf("killing leftover process %d of %s", pid, e.sysUser)
			syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // it may have ended meanwhile
		}
		if _, _, err := run(context.Background(), 30*time.Second, "userdel", "-r", e.sysUser); err != nil {
			t.Errorf("removing test user: %v", err)
		}
	})
}

// makeNamespaces creates the server and client namespaces joined by a veth
// pair, and the server's packet filter: only SSH comes in from the veth.
func (e *env) makeNamespaces() {
	t, ctx := e.t, e.ctx
	suffix := fmt.Sprintf("%d-%s", os.Getpid(), randHex(2))
	e.nsSrv, e.nsCli = "tftp-srv-"+suffix, "tftp-cli-"+suffix
	for _, ns := range []string{e.nsSrv, e.nsCli} {
		mustRun(t, ctx, 10*time.Second, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if _, _, err := run(context.Background(), 10*time.Second, "ip", "netns", "del", ns); err != nil {
				t.Errorf("removing netns: %v", err)
			}
		})
	}
	mustRun(t, ctx, 10*time.Second, "ip", "link", "add", vethSrv, "netns", e.nsSrv, "type", "veth", "peer", "name", vethCli, "netns", e.nsCli)
	for _, side := range []struct{ ns, dev, addr string }{{e.nsSrv, vethSrv, srvAddr}, {e.nsCli, vethCli, cliAddr}} {
		mustRun(t, ctx, 10*time.Second, "ip", "-n", side.ns, "addr", "add", side.addr+"/30", "dev", side.dev)
		mustRun(t, ctx, 10*time.Second, "ip", "-n", side.ns, "link", "set", side.dev, "up")
		mustRun(t, ctx, 10*time.Second, "ip", "-n", side.ns, "link", "set", "lo", "up")
	}
	rules := filepath.Join(e.tmp, "filter.nft")
	writeFile(t, rules, `table inet tftpe2e {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		iifname "`+vethSrv+`" tcp dport 22 counter accept
		counter drop
	}
}
`, 0o600)
	mustRunIn(t, ctx, 10*time.Second, e.nsSrv, "nft", "-f", rules)
}

// makeFiles fills the FTP root and the client's directory.
func (e *env) makeFiles(bigSize int64) {
	t := e.t
	e.ftpRoot, e.cliDir = t.TempDir(), t.TempDir()
	randomFile(t, filepath.Join(e.ftpRoot, "small.bin"), 1<<20+17)
	randomFile(t, filepath.Join(e.ftpRoot, "multi.bin"), 4<<20)
	e.bigFile = filepath.Join(e.ftpRoot, "big.bin")
	randomFile(t, e.bigFile, bigSize)
	randomFile(t, filepath.Join(e.cliDir, "up.bin"), 2<<20+3)
	for _, root := range []string{filepath.Join(e.ftpRoot, "tree"), filepath.Join(e.cliDir, "srctree")} {
		randomFile(t, filepath.Join(root, "top.txt"), 100)
		randomFile(t, filepath.Join(root, "a", "empty"), 0)
		randomFile(t, filepath.Join(root, "a", "one"), 1)
		randomFile(t, filepath.Join(root, "b", "c", "mid.bin"), 300<<10)
		randomFile(t, filepath.Join(root, "b", "c", "d", "deep.bin"), 65537)
		if err := os.MkdirAll(filepath.Join(root, "emptydir"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// startDaemon writes tunnelftpd's config and runs `tunnelftpd serve` in the
// server namespace on 127.0.0.1:2121 with 5 passive ports.
func (e *env) startDaemon() {
	t, ctx := e.t, e.ctx
	cmd := exec.CommandContext(ctx, e.bin, "passwd")
	cmd.Stdin = strings.NewReader(ftpPass + "\n")
	hash, _, err := runCmd(cmd)
	if err != nil {
		t.Fatal(err)
	}
	e.config = filepath.Join(e.tmp, "tunnelftpd.toml")
	// Tunnel identity is on in full: only sshd sessions may connect, the FTP
	// user must come through the SSH user's own tunnel, and data
	// connections must come from the control connection's sshd process.
	writeFile(t, e.config, fmt.Sprintf(`listen = "127.0.0.1:%s"
tunnel_only = true

[passive]
ports = "22000-22004"
address = "127.0.0.1"

[log]
xferlog = %q

[[users]]
name = %q
password = %q
root = %q
require_ssh_user = true
ssh_user = %q
`, ctrlPort, filepath.Join(e.tmp, "xferlog"), ftpUser, strings.TrimSpace(hash), e.ftpRoot, e.sysUser), 0o600)
	mustRun(t, ctx, 10*time.Second, e.bin, "check", "-c", e.config)
	e.daemon = start(t, "tunnelftpd serve", netnsCmd(ctx, e.nsSrv, e.bin, "serve", "-c", e.config))
	if err := waitPort(ctx, e.nsSrv, "127.0.0.1:"+ctrlPort, 20*time.Second, e.daemon); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			xfer, _ := os.ReadFile(filepath.Join(e.tmp, "xferlog"))
			t.Logf("--- xferlog:\n%s", testutil.Tail(string(xfer), 4000))
		}
	})
}

// startSSHD runs sshd in the server namespace on the veth address, with its
// own host key, key-only login for the test user, and the Match block that
// `tunnelftpd tunnel --format sshd-match` prints.
func (e *env) startSSHD() {
	t, ctx := e.t, e.ctx
	e.clientKey = filepath.Join(e.tmp, "client_key")
	hostKey := filepath.Join(e.tmp, "host_key")
	mustRun(t, ctx, 30*time.Second, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tunnelftpd-e2e", "-f", e.clientKey)
	mustRun(t, ctx, 30*time.Second, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey)

	// sshd reads authorized keys as the user, who cannot enter e.tmp (0700).
	keysDir, err := os.MkdirTemp("", "tftpe2e-keys-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(keysDir) })
	if err := os.Chmod(keysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(e.clientKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(keysDir, "authorized_keys"), string(pub), 0o644)

	// sshd's privilege-separation directory; the openssh-server package
	// creates it at boot, a fresh container may not have it yet.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.Mkdir("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}

	match := e.tunnelOutput("--format", "sshd-match", "--host", e.sysUser+"@"+srvAddr)
	if !strings.Contains(match, "Match User "+e.sysUser+"\n") {
		t.Fatalf("sshd-match output does not match user %s:\n%s", e.sysUser, match)
	}
	cfg := filepath.Join(e.tmp, "sshd_config")
	writeFile(t, cfg, fmt.Sprintf(`# Base config of the e2e test's sshd; the Match block below is
# tunnelftpd tunnel's output, unchanged.
ListenAddress %s:22
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers %s
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin no
LogLevel VERBOSE

%s`, srvAddr, hostKey, filepath.Join(e.tmp, "sshd.pid"), filepath.Join(keysDir, "authorized_keys"), e.sysUser, match), 0o600)
	mustRunIn(t, ctx, 10*time.Second, e.nsSrv, "/usr/sbin/sshd", "-t", "-f", cfg)
	e.sshd = start(t, "sshd", netnsCmd(ctx, e.nsSrv, "/usr/sbin/sshd", "-D", "-e", "-f", cfg))
	if err := waitPort(ctx, e.nsCli, srvAddr+":22", 20*time.Second, e.sshd); err != nil {
		t.Fatal(err)
	}
}

// tunnelOutput runs `tunnelftpd tunnel -c CONFIG args…` and returns its output.
func (e *env) tunnelOutput(args ...string) string {
	e.t.Helper()
	return mustRun(e.t, e.ctx, 10*time.Second, e.bin, append([]string{"tunnel", "-c", e.config}, args...)...)
}

// sshOptions are what the test adds to the generated ssh command: its key,
// no host key check, no prompt, verbose logs.
func (e *env) sshOptions() []string {
	return []string{"-i", e.clientKey, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=VERBOSE"}
}

// waitForwards waits until the tunnel's local forwards accept: ssh opens
// them in order, control port first, before it serves any, so the last
// passive port stands for all. (Probing the passive ports makes sshd log a
// failed connect_to: nothing listens there between transfers.)
func (e *env) waitForwards(t *testing.T, ctrl string, ssh *testutil.Process) {
	t.Helper()
	for _, port := range []string{ctrl, "22004"} {
		if err := waitPort(e.ctx, e.nsCli, "127.0.0.1:"+port, 30*time.Second, ssh, e.sshd); err != nil {
			t.Fatal(err)
		}
	}
}

// testFilter proves the packet filter: from the client namespace, the
// daemon's control and passive ports get no answer at all (a drop, where
// without the filter the kernel would refuse at once), and the drop rule
// counted them.
func (e *env) testFilter(t *testing.T) {
	var wg sync.WaitGroup
	for _, port := range []string{ctrlPort, "22000", "22004"} {
		wg.Go(func() {
			c, err := dialIn(e.nsCli, srvAddr+":"+port, 1500*time.Millisecond)
			if err == nil {
				c.Close()
				t.Errorf("direct connection to %s:%s from the client namespace succeeded", srvAddr, port)
			} else if !isTimeout(err) {
				t.Errorf("direct connection to %s:%s: %v; want a timeout (a drop by the filter)", srvAddr, port, err)
			}
		})
	}
	wg.Wait()
	out := mustRunIn(t, e.ctx, 10*time.Second, e.nsSrv, "nft", "list", "chain", "inet", "tftpe2e", "input")
	m := regexp.MustCompile(`counter packets (\d+) bytes \d+ drop`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Errorf("the filter's drop rule counted nothing:\n%s", out)
	}
}

// testSSHConfigTunnel starts ssh from nothing but the generated ~/.ssh/config
// block (local control port 2222, SessionType none instead of -N) and
// downloads one file through it.
func (e *env) testSSHConfigTunnel(t *testing.T) {
	block := e.tunnelOutput("--format", "ssh-config", "--host", e.sysUser+"@"+srvAddr, "--local-port", "2222")
	cfg := filepath.Join(e.tmp, "ssh_config")
	writeFile(t, cfg, block, 0o600)
	args := append([]string{"-F", cfg}, e.sshOptions()...)
	ssh := start(t, "ssh (ssh-config)", netnsCmd(e.ctx, e.nsCli, "ssh", append(args, srvAddr)...))
	e.waitForwards(t, "2222", ssh)
	got := filepath.Join(e.cliDir, "small-via-2222.bin")
	e.curl(t, "epsv", "-o", got, e.url("2222", "small.bin"))
	sameFile(t, "download through the ssh-config tunnel", filepath.Join(e.ftpRoot, "small.bin"), got)
	ssh.Stop() //nolint:errcheck // ends by SIGTERM
}

// startTunnel runs the ssh command `tunnelftpd tunnel --format ssh` prints,
// with the test's options inserted after "ssh".
func (e *env) startTunnel() {
	t := e.t
	line := strings.TrimSpace(e.tunnelOutput("--format", "ssh", "--host", e.sysUser+"@"+srvAddr))
	args := strings.Fields(line)
	if len(args) < 2 || args[0] != "ssh" || args[len(args)-1] != e.sysUser+"@"+srvAddr {
		t.Fatalf("unexpected ssh command: %s", line)
	}
	// -F /dev/null: no ssh_config of this machine's or root's gets in the way.
	args = slices.Insert(args[1:], 0, append([]string{"-F", "/dev/null"}, e.sshOptions()...)...)
	t.Logf("tunnel: ssh %s", strings.Join(args, " "))
	e.ssh = start(t, "ssh (tunnel)", netnsCmd(e.ctx, e.nsCli, "ssh", args...))
	e.waitForwards(t, ctrlPort, e.ssh)
}

func (e *env) url(port, path string) string {
	return "ftp://127.0.0.1:" + port + "/" + path
}

// curl runs curl in the client namespace in mode "epsv" or "pasv" (PASV,
// using the address the server advertises) and checks it used that command.
func (e *env) curl(t *testing.T, mode string, args ...string) {
	t.Helper()
	base := []string{"-sS", "--fail", "-v", "--max-time", "120", "-u", ftpUser + ":" + ftpPass}
	want := "> EPSV"
	if mode == "pasv" {
		base = append(base, "--disable-epsv", "--no-ftp-skip-pasv-ip")
		want = "> PASV"
	}
	_, stderr, err := runIn(e.ctx, 150*time.Second, e.nsCli, "curl", append(base, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("curl did not send %q:\n%s", want[2:], testutil.Tail(stderr, 3000))
	}
}

func (e *env) testCurl(t *testing.T, mode string) {
	got := filepath.Join(e.cliDir, "small-"+mode+".bin")
	e.curl(t, mode, "-o", got, e.url(ctrlPort, "small.bin"))
	sameFile(t, mode+" download", filepath.Join(e.ftpRoot, "small.bin"), got)

	up := filepath.Join(e.cliDir, "up.bin")
	e.curl(t, mode, "--ftp-create-dirs", "-T", up, e.url(ctrlPort, "uploads/"+mode+".bin"))
	sameFile(t, mode+" upload", up, filepath.Join(e.ftpRoot, "uploads", mode+".bin"))
}

// testLftp mirrors a tree both ways with lftp, with EPSV preferred and with
// plain PASV.
func (e *env) testLftp(t *testing.T) {
	home := t.TempDir() // lftp keeps history and bookmarks under $HOME
	for _, epsv := range []string{"yes", "no"} {
		down := filepath.Join(e.cliDir, "mirror-down-epsv-"+epsv)
		upName := "mirror-up-epsv-" + epsv
		script := strings.Join([]string{
			"set cmd:fail-exit yes", "set net:max-retries 1", "set net:timeout 30",
			"set ftp:ssl-allow no", "set ftp:passive-mode on", "set ftp:prefer-epsv " + epsv,
			"open -u " + ftpUser + "," + ftpPass + " -p " + ctrlPort + " 127.0.0.1",
			"mirror tree " + down,
			"mirror -R " + filepath.Join(e.cliDir, "srctree") + " " + upName,
		}, "; ")
		_, stderr, err := runIn(e.ctx, 120*time.Second, e.nsCli, "env", "HOME="+home, "lftp", "-d", "-c", script)
		if err != nil {
			t.Fatalf("lftp (prefer-epsv %s): %v", epsv, err)
		}
		want := "PASV"
		if epsv == "yes" {
			want = "EPSV"
		}
		if !strings.Contains(stderr, "---> "+want) {
			t.Errorf("lftp (prefer-epsv %s) did not send %s:\n%s", epsv, want, testutil.Tail(stderr, 3000))
		}
		sameTree(t, "lftp mirror (prefer-epsv "+epsv+")", filepath.Join(e.ftpRoot, "tree"), down)
		sameTree(t, "lftp mirror -R (prefer-epsv "+epsv+")", filepath.Join(e.cliDir, "srctree"), filepath.Join(e.ftpRoot, upName))
	}
}

// ftplibScript downloads and uploads one file with Python's ftplib in PASV
// mode, connecting to the address in the 227 reply.
const ftplibScript = `
import ftplib, sys
port, user, password, remote_dl, local_dl, local_ul, remote_ul = sys.argv[1:]
f = ftplib.FTP(timeout=60)
f.set_debuglevel(1)
f.connect("127.0.0.1", int(port))
f.login(user, password)
f.set_pasv(True)
f.trust_server_pasv_ipv4_address = True
with open(local_dl, "wb") as out:
    f.retrbinary("RETR " + remote_dl, out.write)
with open(local_ul, "rb") as src:
    f.storbinary("STOR " + remote_ul, src)
f.quit()
`

func (e *env) testFtplib(t *testing.T) {
	got := filepath.Join(e.cliDir, "small-ftplib.bin")
	up := filepath.Join(e.cliDir, "up.bin")
	stdout, _, err := runIn(e.ctx, 120*time.Second, e.nsCli, "python3", "-c", ftplibScript,
		ctrlPort, ftpUser, ftpPass, "small.bin", got, up, "ftplib-up.bin")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(stdout, "*cmd* 'PASV'") != 2 {
		t.Errorf("ftplib did not use PASV for both transfers:\n%s", testutil.Tail(stdout, 3000))
	}
	sameFile(t, "ftplib download", filepath.Join(e.ftpRoot, "small.bin"), got)
	sameFile(t, "ftplib upload", up, filepath.Join(e.ftpRoot, "ftplib-up.bin"))
}

// testConcurrent runs 20 curl downloads at once through the 5 passive ports,
// half EPSV, half PASV; every one must succeed with the right bytes.
func (e *env) testConcurrent(t *testing.T) {
	const n = 20
	dir := filepath.Join(e.cliDir, "concurrent")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			args := []string{"-sS", "--fail", "--max-time", "120", "-u", ftpUser + ":" + ftpPass,
				"-o", filepath.Join(dir, strconv.Itoa(i)), e.url(ctrlPort, "multi.bin")}
			if i%2 == 1 {
				args = append(args, "--disable-epsv", "--no-ftp-skip-pasv-ip")
			}
			_, _, errs[i] = runIn(e.ctx, 150*time.Second, e.nsCli, "curl", args...)
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	ok := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
			continue
		}
		if sameFile(t, fmt.Sprintf("client %d", i), filepath.Join(e.ftpRoot, "multi.bin"), filepath.Join(dir, strconv.Itoa(i))) {
			ok++
		}
	}
	t.Logf("%d concurrent clients, 5 passive ports: %d/%d downloads of 4 MiB correct in %s", n, ok, n, elapsed.Round(time.Millisecond))
}

// testThroughput downloads the big file through the tunnel with curl (once
// into a file to check its bytes, once into /dev/null to time it), then
// stops the daemon and sends as many bytes as a raw TCP stream through the
// same ssh forward (the control port's) into a sink that discards them too,
// and logs both rates.
func (e *env) testThroughput(t *testing.T) {
	size := fileSize(t, e.bigFile)
	got := filepath.Join(e.cliDir, "big.bin")
	e.curl(t, "pasv", "-o", got, e.url(ctrlPort, "big.bin"))
	sameFile(t, "big PASV download", e.bigFile, got)
	os.Remove(got)

	stdout, _, err := runIn(e.ctx, 200*time.Second, e.nsCli, "curl", "-sS", "--fail", "--max-time", "180",
		"-u", ftpUser+":"+ftpPass, "-o", "/dev/null", "-w", "%{size_download} %{time_pretransfer} %{time_total}", e.url(ctrlPort, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	var pre, total float64
	if _, err := fmt.Sscan(stdout, &n, &pre, &total); err != nil || n != size || total <= pre {
		t.Fatalf("curl -w said %q (%v); want %d bytes", stdout, err, size)
	}
	ftpRate := float64(n) / (1 << 20) / (total - pre)

	// The raw stream: the daemon goes, a plain TCP source takes its port in
	// the server namespace, and the sink reads through the client's forward.
	if err := e.daemon.Stop(); err != nil {
		t.Errorf("tunnelftpd serve did not stop cleanly: %v", err)
	}
	l, err := listenIn(e.nsSrv, "127.0.0.1:"+ctrlPort)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		for left := size; left > 0; left -= int64(len(buf)) {
			if _, err := c.Write(buf[:min(left, int64(len(buf)))]); err != nil {
				return
			}
		}
	}()
	c, err := dialIn(e.nsCli, "127.0.0.1:"+ctrlPort, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(180 * time.Second)) //nolint:errcheck
	began := time.Now()
	got64, err := io.CopyBuffer(io.Discard, c, make([]byte, 1<<20))
	secs := time.Since(began).Seconds()
	if err != nil || got64 != size {
		t.Fatalf("raw stream: %d of %d bytes: %v", got64, size, err)
	}
	rawRate := float64(got64) / (1 << 20) / secs
	t.Logf("through the tunnel, %d MiB: FTP download (curl, EPSV) %.0f MiB/s; raw TCP stream %.0f MiB/s; FTP/raw = %.2f",
		size>>20, ftpRate, rawRate, ftpRate/rawRate)
}

// randomFile writes size pseudo-random bytes to path, creating its directory.
func randomFile(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var seed [32]byte
	rand.Read(seed[:])
	src := mrand.NewChaCha8(seed)
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		b := buf[:min(left, int64(len(buf)))]
		src.Read(b) //nolint:errcheck // ChaCha8.Read never fails
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testIdentity checks tunnel identity through the real sshd: the daemon's
// log names the SSH user and the SSH client's real address, fail2ban's
// filter picks that address (not 127.0.0.1) from a failed login, xferlog
// records it, and a local connection that is not an sshd session is refused.
func (e *env) testIdentity(t *testing.T) {
	// A failed login through the tunnel.
	_, _, err := runIn(e.ctx, 60*time.Second, e.nsCli, "curl", "-sS", "--max-time", "30",
		"-u", ftpUser+":wrong-password", e.url(ctrlPort, ""))
	if err == nil {
		t.Fatal("curl with a wrong password succeeded")
	}
	logs := e.daemon.Out.String()
	loginRe := regexp.MustCompile(`msg=login user=` + ftpUser + ` from=127\.0\.0\.1:\d+ ssh_user=` + e.sysUser +
		` client=` + regexp.QuoteMeta(cliAddr) + `:\d+ `)
	if !loginRe.MatchString(logs) {
		t.Errorf("no login line naming ssh_user=%s client=%s:\n%s", e.sysUser, cliAddr, testutil.Tail(logs, 4000))
	}
	// Through sshd, retr_sendfile = "auto" (the default) copies: sshd reads
	// the file from the CPU cache (driver.File.WriteTo).
	if re := regexp.MustCompile(`msg=login user=` + ftpUser + ` from=127\.0\.0\.1:\d+ ssh_user=` + e.sysUser + ` .* retr=copy`); !re.MatchString(logs) {
		t.Errorf("login through sshd does not copy on RETR (want retr=copy):\n%s", testutil.Tail(logs, 4000))
	}
	failRe := regexp.MustCompile(`msg="login failed" user=` + ftpUser + ` from=127\.0\.0\.1:\d+ ssh_user=` + e.sysUser +
		` client=` + regexp.QuoteMeta(cliAddr) + `:\d+ `)
	if !failRe.MatchString(logs) {
		t.Errorf("no login-failed line with the real client address:\n%s", testutil.Tail(logs, 4000))
	}

	logFile := filepath.Join(e.tmp, "daemon.log")
	writeFile(t, logFile, logs, 0o600)
	filter, err := filepath.Abs("../etc/fail2ban/filter.d/tunnelftpd.conf")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := run(e.ctx, 60*time.Second, "fail2ban-regex", "-v", logFile, filter)
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	if !strings.Contains(out, cliAddr) || strings.Contains(out, "    127.0.0.1 ") {
		t.Errorf("fail2ban did not find the real client %s (or found 127.0.0.1):\n%s", cliAddr, out)
	}

	xfer, err := os.ReadFile(filepath.Join(e.tmp, "xferlog"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(xfer)), "\n") {
		if f := strings.Fields(line); len(f) < 7 || f[6] != cliAddr {
			t.Errorf("xferlog remote-host is not the SSH client %s: %q", cliAddr, line)
			break
		}
	}

	// tunnel_only: a local process that is not sshd is turned away.
	c, err := dialIn(e.nsSrv, "127.0.0.1:"+ctrlPort, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "421 ") || !strings.Contains(string(b), "tunnel_only") {
		t.Errorf("a non-sshd local connection got %q, want 421 (tunnel_only)", b)
	}
}
