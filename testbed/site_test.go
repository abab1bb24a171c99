package testbed

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// The tunnelftpd tests of this package install the daemon in a bed the
// way README.md says, with the shipped files, and use it as a client
// would: through sshd, from the client namespace, with curl. Inside the
// bed the ports are the shipped defaults (2121, 22000-22004): the bed's
// network namespace is its own, no one else binds there.

const (
	ftpUser = "alice"
	sshUser = "tfbssh"
)

// hostTools are what these tests run on the host (in the client
// namespace), with their Debian packages.
var hostTools = map[string]string{"ssh": "openssh-client", "ssh-keygen": "openssh-client", "curl": "curl", "go": "golang (or Go from go.dev)"}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// tunnelftpdBinary builds the daemon on the host once per test binary, as
// README's first install step does (go build).
func tunnelftpdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		var cleanup func()
		builtBin, cleanup, buildErr = testutil.BuildTunnelftpd("tfb-build-")
		if buildErr == nil {
			binCleanup = cleanup
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// binCleanup removes the build; TestMain calls it.
var binCleanup = func() {}

func TestMain(m *testing.M) {
	code := m.Run()
	binCleanup()
	os.Exit(code)
}

// requireHostTools skips (or fails under TUNNELFTPD_E2E=1) without the
// host tools.
func requireHostTools(t *testing.T) {
	t.Helper()
	for tool, pkg := range hostTools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s not found (Debian: apt-get install %s)", tool, pkg)
			if os.Getenv("TUNNELFTPD_E2E") == "1" {
				t.Fatalf("TUNNELFTPD_E2E=1 but %s", msg)
			}
			t.Skip(msg)
		}
	}
}

// site is tunnelftpd installed in a bed, with an SSH account to tunnel
// through and a virtual FTP user.
type site struct {
	t       *testing.T
	bed     *Bed
	bin     string // the daemon, built on the host
	ftpPass string
	key     string // the SSH client's private key, on the host
	tunnel  *proc  // ssh -L …, in the client namespace
}

// readmeBlock returns the command lines of the first ```sh block after the
// README line that starts with marker, comments removed.
func readmeBlock(t *testing.T, marker string) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	found, in := false, false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !found:
			found = strings.HasPrefix(line, marker)
		case !in:
			in = line == "```sh"
		case line == "```":
			return lines
		default:
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i]
			}
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				lines = append(lines, line)
			}
		}
	}
	t.Fatalf("README.md: no ```sh block after a line starting with %q (the test follows README's install steps)", marker)
	return nil
}

// copyRepoFiles puts the repository's shipped files (etc/, systemd/) into
// the bed under /root/tunnelftpd, where README's commands run.
func copyRepoFiles(t *testing.T, bed *Bed) {
	t.Helper()
	for _, dir := range []string{"etc", "systemd"} {
		err := filepath.WalkDir(filepath.Join("..", dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel("..", p)
			return bed.CopyIn(p, "/root/tunnelftpd/"+filepath.ToSlash(rel), 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// install sets tunnelftpd up in a fresh bed following README.md: the
// preparation block of "inetd, xinetd and systemd", then the block of
// "systemd, one daemon" up to enabling the socket. `go build` runs on the
// host (the bed has no Go) and the binary is copied in; `$EDITOR` is
// edit, applied to the installed sample config.
func install(t *testing.T, bed *Bed, edit func(sample string) string) *site {
	t.Helper()
	s := &site{t: t, bed: bed, bin: tunnelftpdBinary(t), ftpPass: "pw-" + randHex(8)}
	copyRepoFiles(t, bed)
	steps := append(readmeBlock(t, "## inetd, xinetd and systemd"), readmeBlock(t, "**systemd, one daemon**")...)
	enabled := false
	for _, line := range steps {
		switch {
		case strings.HasPrefix(line, "go build ") && strings.Contains(line, "-o /usr/local/bin/tunnelftpd"):
			if err := bed.CopyIn(s.bin, "/usr/local/bin/tunnelftpd", 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		case strings.HasPrefix(line, "systemctl status") || strings.HasPrefix(line, "systemctl reload"):
			continue // the tests check these later
		}
		for _, cmd := range strings.Split(line, "&&") {
			cmd = strings.TrimSpace(cmd)
			if path, ok := strings.CutPrefix(cmd, "$EDITOR "); ok {
				s.editConfig(strings.TrimSpace(path), edit)
				continue
			}
			t.Logf("README: %s", cmd)
			bed.Shell(t, "cd /root/tunnelftpd && "+cmd)
			enabled = enabled || (strings.Contains(cmd, "enable --now") && strings.Contains(cmd, " tunnelftpd.socket"))
		}
	}
	if !enabled {
		t.Fatal("README's systemd block no longer enables tunnelftpd.socket: update this test")
	}
	s.addSSHUser()
	return s
}

// editConfig is the administrator's edit of the installed sample: a
// virtual user (password hashed by `tunnelftpd passwd` in the bed), then
// edit's changes.
func (s *site) editConfig(path string, edit func(string) string) {
	t, bed := s.t, s.bed
	old, err := bed.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := bed.Command(context.Background(), "/usr/local/bin/tunnelftpd", "passwd")
	cmd.Stdin = strings.NewReader(s.ftpPass + "\n")
	hash, err := cmd.Output()
	if err != nil {
		t.Fatalf("tunnelftpd passwd: %v", err)
	}
	cfg := string(old) + fmt.Sprintf("\n[[users]]\nname = %q\npassword = %q\nroot = \"/srv/ftp/alice\"\n", ftpUser, strings.TrimSpace(string(hash)))
	if edit != nil {
		cfg = edit(cfg)
	}
	if err := bed.WriteFile(path+".new", []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	// Keep the mode and group README's install gave the file.
	bed.Shell(t, fmt.Sprintf("chown --reference=%[1]s %[1]s.new && chmod --reference=%[1]s %[1]s.new && mv %[1]s.new %[1]s", path))
}

// addSSHUser creates the SSH account the tunnel logs in to (key only) and
// installs the sshd Match block `tunnelftpd tunnel --format sshd-match`
// prints, as docs/ssh-client.md says.
func (s *site) addSSHUser() {
	t, bed := s.t, s.bed
	s.key = filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tfb-client", "-f", s.key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(s.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	// "*": no password, not locked.
	bed.Run(t, "useradd", "-m", "-p", "*", "-s", "/bin/sh", sshUser)
	if err := bed.WriteFile("/home/"+sshUser+"/.ssh/authorized_keys", pub, 0o600); err != nil {
		t.Fatal(err)
	}
	bed.Run(t, "chown", "-R", sshUser+":"+sshUser, "/home/"+sshUser+"/.ssh")
	match := bed.Run(t, "tunnelftpd", "tunnel", "--format", "sshd-match", "--host", sshUser+"@"+BedAddr)
	if err := bed.WriteFile("/etc/ssh/sshd_config.d/tunnelftpd.conf", []byte(match), 0o644); err != nil {
		t.Fatal(err)
	}
	bed.Run(t, "sshd", "-t")
	// Not reload: sshd re-executes itself on SIGHUP and listens again a
	// moment after systemctl returns. A restart of the Type=notify unit
	// returns once sshd is ready (no session is open yet).
	bed.Run(t, "systemctl", "restart", "ssh.service")
}

// sshArgs are the test's own options for ssh: its key, no host key
// check, no prompt, no ssh_config of the host's.
func (s *site) sshArgs() []string {
	return []string{"-F", "/dev/null", "-i", s.key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=VERBOSE", "-o", "ConnectTimeout=10"}
}

// startTunnel runs, in the client namespace, the ssh command `tunnelftpd
// tunnel` prints in the bed, and waits until its forwards listen.
func (s *site) startTunnel() {
	t := s.t
	line := strings.TrimSpace(s.bed.Run(t, "tunnelftpd", "tunnel", "--host", sshUser+"@"+BedAddr))
	args := strings.Fields(line)
	if len(args) < 2 || args[0] != "ssh" || args[len(args)-1] != sshUser+"@"+BedAddr {
		t.Fatalf("unexpected ssh command from tunnelftpd tunnel: %s", line)
	}
	args = slices.Insert(args[1:], 0, s.sshArgs()...)
	s.tunnel = startProc(t, "ssh tunnel", s.bed.ClientCommand(context.Background(), "ssh", args...))
	// ssh opens its forwards in order before serving any: once the last
	// passive port listens, all do. (Probing it makes sshd log a failed
	// connect_to: nothing listens on it between transfers.)
	testutil.WaitFor(t, 30*time.Second, 50*time.Millisecond, "the tunnel's forwards", func() bool {
		if s.tunnel.exited() {
			t.Fatalf("ssh exited: %v\n%s", s.tunnel.err, s.tunnel.out.String())
		}
		return s.clientDial("127.0.0.1:22004") == nil
	})
}

// clientDial connects to addr from the client namespace and closes the
// connection.
func (s *site) clientDial(addr string) error {
	_, _, err := s.bed.ClientExec(context.Background(), "bash", "-c", "exec 3<>/dev/tcp/"+strings.Replace(addr, ":", "/", 1))
	return err
}

// curl runs curl in the client namespace, logged in as the FTP user (or
// with password pass when not ""), and returns its output; the error
// carries curl's messages.
func (s *site) curl(pass string, args ...string) (string, string, error) {
	if pass == "" {
		pass = s.ftpPass
	}
	base := []string{"-sS", "--fail", "--max-time", "60", "-u", ftpUser + ":" + pass}
	return s.bed.ClientExec(context.Background(), "curl", append(base, args...)...)
}

// journal returns the bed's journal lines (-o cat) for journalctl args.
func (s *site) journal(args ...string) string {
	s.bed.Run(s.t, "journalctl", "--sync")
	return s.bed.Run(s.t, "journalctl", append([]string{"--no-pager", "-o", "cat"}, args...)...)
}

// unitState is `systemctl is-active unit`'s answer.
func (s *site) unitState(unit string) string {
	out, _, _ := s.bed.Exec(context.Background(), "systemctl", "is-active", unit)
	return strings.TrimSpace(out)
}

// proc is a long-running host process a test started and stops.
type proc struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
	err  error
}

// startProc starts cmd in a process group of its own and stops it (the
// group) when the test ends; its output is logged if the test failed.
func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", name, tail(p.out.String(), 6000))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, SIGKILL after 5 s, and waits.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM) //nolint:errcheck // gone already is fine
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck
		<-p.done
	}
}
