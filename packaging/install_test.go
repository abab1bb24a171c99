package packaging

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/testbed"
)

// The install test runs the .deb the way an administrator would, on a
// booted Debian 12 (the test bed: systemd as PID 1, sshd, its own network
// namespace and a client namespace joined to it). Inside the bed the ports
// are the shipped defaults (2121, 22000-22004): no one else binds there.

const (
	ftpUser = "alice"
	sshUser = "tfbpkgssh"
	conf    = "/etc/tunnelftpd/tunnelftpd.toml"
)

// pkgBed is a bed with the package installed and an SSH account.
type pkgBed struct {
	t   *testing.T
	bed *testbed.Bed
	key string // the SSH client's private key, on the host
}

// sh runs script in the bed, failing the test on error.
func (p *pkgBed) sh(script string) string {
	p.t.Helper()
	return p.bed.Shell(p.t, script)
}

// try runs script in the bed and returns its output and error.
func (p *pkgBed) try(script string) (string, error) {
	out, errs, err := p.bed.Exec(context.Background(), "/bin/sh", "-c", script)
	return out + errs, err
}

// apt installs or removes with apt, non-interactively, as a config
// management run would.
func (p *pkgBed) apt(args string) string {
	p.t.Helper()
	return p.sh("DEBIAN_FRONTEND=noninteractive apt-get -y -q " + args + " 2>&1")
}

// TestInstallOnTestbed: apt installs the .deb on a booted Debian 12 and
// nothing starts; man pages work; the shipped config passes
// `tunnelftpd check` once a user is added; the socket, enabled by the
// admin, serves a login and transfers through a real sshd tunnel;
// `systemctl reload` applies a changed config; an upgrade to a newer build
// keeps the edited config, its mode and group, and restarts the running
// daemon; remove keeps the config; purge leaves none of the package's paths,
// the config, the logs or the enable links behind (the account stays, as
// Debian policy wants).
func TestInstallOnTestbed(t *testing.T) {
	for tool, why := range map[string]string{"ssh": "the tunnel (openssh-client)", "ssh-keygen": "the tunnel's key (openssh-client)", "curl": "the FTP client"} {
		needTool(t, tool, why)
	}
	testbed.Require(t)
	b := packages(t)
	newer := b.Version + ".1"
	newDir := t.TempDir()
	run(t, "..", "packaging/build", "--arch", "amd64", "--version", newer, "--out", newDir)
	newDeb := filepath.Join(newDir, "tunnelftpd_"+newer+"_amd64.deb")

	bed := testbed.Boot(t, testbed.Options{Packages: []string{"man-db"}})
	p := &pkgBed{t: t, bed: bed}
	for src, dst := range map[string]string{b.Deb["amd64"]: "/root/" + filepath.Base(b.Deb["amd64"]), newDeb: "/root/" + filepath.Base(newDeb)} {
		if err := bed.CopyIn(src, dst, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Install: the account, the config's group, nothing started or enabled.
	out := p.sh("cd /root && DEBIAN_FRONTEND=noninteractive apt install -y ./" + filepath.Base(b.Deb["amd64"]) + " 2>&1")
	t.Logf("apt install:\n%s", out)
	commit := strings.TrimSpace(run(t, "..", "git", "rev-parse", "HEAD"))
	if got := p.sh("tunnelftpd version | head -1"); got != "tunnelftpd "+b.Version+" (commit "+commit+")\n" {
		t.Errorf("installed tunnelftpd version: %q", got)
	}
	account := strings.Split(strings.TrimSpace(p.sh("getent passwd tunnelftpd")), ":")
	if len(account) != 7 || account[5] != "/nonexistent" || account[6] != "/usr/sbin/nologin" || len(account[2]) > 3 {
		t.Errorf("tunnelftpd account: %v, want a system account without home or shell", account)
	}
	p.checkConfMode()
	for _, unit := range []string{"tunnelftpd.socket", "tunnelftpd.service", "tunnelftpd-conn.socket"} {
		if state, _ := p.try("systemctl is-active " + unit); strings.TrimSpace(state) != "inactive" {
			t.Errorf("%s is %q after install, want inactive", unit, strings.TrimSpace(state))
		}
		// tunnelftpd.service has no [Install] of its own (Also= the socket):
		// "indirect" says it is enabled only if the socket is.
		want := map[string]string{"tunnelftpd.service": "indirect"}[unit]
		if want == "" {
			want = "disabled"
		}
		if state, _ := p.try("systemctl is-enabled " + unit); strings.TrimSpace(state) != want {
			t.Errorf("%s is %q after install, want %s", unit, strings.TrimSpace(state), want)
		}
	}
	if got := strings.TrimSpace(p.sh("stat -c '%U %a' /run/tunnelftpd /var/log/tunnelftpd")); got != "tunnelftpd 755\ntunnelftpd 755" {
		t.Errorf("/run/tunnelftpd, /var/log/tunnelftpd: %q", got)
	}
	files := strings.Fields(p.sh("dpkg -L tunnelftpd"))

	// The man pages.
	for page, want := range map[string]string{"tunnelftpd": "tunnelftpd - FTP daemon for FTP over SSH port forwarding", "5 tunnelftpd.toml": "tunnelftpd.toml - configuration file of the tunnelftpd FTP daemon"} {
		text := p.sh("MANPAGER=cat MANWIDTH=100 man " + page + " 2>&1")
		if !strings.Contains(text, want) || !strings.Contains(text, b.Version) {
			t.Errorf("man %s:\n%s", page, text)
		}
	}

	// The shipped config needs a user; with one, check passes.
	if out, err := p.try("tunnelftpd check"); err == nil || !strings.Contains(out, "[[users]]") {
		t.Errorf("tunnelftpd check on the shipped config: %v\n%s", err, out)
	}
	pass := "pw-" + fmt.Sprint(time.Now().UnixNano())
	cmd := bed.Command(context.Background(), "tunnelftpd", "passwd")
	cmd.Stdin = strings.NewReader(pass + "\n")
	hash, err := cmd.Output()
	if err != nil {
		t.Fatalf("tunnelftpd passwd: %v", err)
	}
	p.sh("install -d -o tunnelftpd -g tunnelftpd /srv/ftp/" + ftpUser)
	p.editConf(func(c string) string {
		return c + fmt.Sprintf("\n[[users]]\nname = %q\npassword = %q\nroot = \"/srv/ftp/%s\"\n", ftpUser, strings.TrimSpace(string(hash)), ftpUser)
	})
	p.sh("tunnelftpd check -q")

	// Enable, log in and transfer through sshd, with the identity helper:
	// the unprivileged daemon asks it who is behind each control connection
	// and, under same_owner, whether sshd holds each data connection.
	p.sh("systemctl enable --now tunnelftpd.socket tunnelftpd-ident.socket")
	p.addSSHUser()
	p.startTunnel()
	curl := func(args ...string) (string, error) {
		base := []string{"-sS", "--fail", "--max-time", "60", "-u", ftpUser + ":" + pass}
		out, errs, err := bed.ClientExec(context.Background(), "curl", append(base, args...)...)
		if err != nil {
			return out, fmt.Errorf("%w: %s", err, errs)
		}
		return out, nil
	}
	payload := "uploaded to the packaged daemon\n"
	up := filepath.Join(t.TempDir(), "up.txt")
	os.WriteFile(up, []byte(payload), 0o644)
	if _, err := curl("-T", up, "ftp://127.0.0.1:2121/up.txt"); err != nil {
		t.Fatalf("upload through the tunnel: %v", err)
	}
	if got, err := curl("--disable-epsv", "ftp://127.0.0.1:2121/up.txt"); err != nil || got != payload {
		t.Fatalf("download (PASV) through the tunnel: %q, %v", got, err)
	}
	if owner := strings.TrimSpace(p.sh("stat -c %U /srv/ftp/" + ftpUser + "/up.txt")); owner != "tunnelftpd" {
		t.Errorf("upload owned by %s, want tunnelftpd", owner)
	}

	// Reload: a new banner for new sessions.
	banner := "packaged tunnelftpd, reloaded"
	p.editConf(func(c string) string {
		return strings.Replace(c, `banner = "tunnelftpd ready"`, fmt.Sprintf("banner = %q", banner), 1)
	})
	pid := p.mainPID()
	if pid == "0" {
		t.Fatalf("tunnelftpd.service is not running after the logins (socket activation)")
	}
	p.sh("systemctl reload tunnelftpd")
	dialogue, errs, err := bed.ClientExec(context.Background(), "curl", "-sS", "-v", "--max-time", "60", "-u", ftpUser+":"+pass, "ftp://127.0.0.1:2121/")
	if err != nil || !strings.Contains(errs, "< 220 "+banner) {
		t.Errorf("after reload, the greeting is not the new banner: %v\n%s%s", err, dialogue, errs)
	}
	if after := p.mainPID(); after != pid {
		t.Errorf("reload restarted the daemon (pid %s -> %s)", pid, after)
	}
	edited := p.readConf()
	identPID := strings.TrimSpace(p.sh("systemctl show -P MainPID tunnelftpd-ident.service"))
	if identPID == "0" {
		t.Errorf("tunnelftpd-ident.service did not start on the daemon's first question (socket activation)")
	}

	// Upgrade: the edited config stays as it is, with its mode and group;
	// the running daemon is restarted on the new binary.
	out = p.sh("cd /root && DEBIAN_FRONTEND=noninteractive apt install -y ./" + filepath.Base(newDeb) + " 2>&1")
	t.Logf("apt install (upgrade):\n%s", out)
	if got := strings.TrimSpace(p.sh("dpkg-query -W -f '${Version}' tunnelftpd")); got != newer {
		t.Fatalf("after the upgrade dpkg has %q, want %q", got, newer)
	}
	if got := p.readConf(); got != edited {
		t.Errorf("the upgrade changed the edited config:\n%s", got)
	}
	p.checkConfMode()
	if after := p.mainPID(); after == pid || after == "0" {
		t.Errorf("the upgrade did not restart the running daemon (pid %s -> %s)", pid, after)
	}
	// The helper runs until stopped: the upgrade restarts it too, so it
	// answers the new daemon's questions.
	if after := strings.TrimSpace(p.sh("systemctl show -P MainPID tunnelftpd-ident.service")); after == identPID || after == "0" {
		t.Errorf("the upgrade did not restart the identity helper (pid %s -> %s)", identPID, after)
	}
	if got := strings.TrimSpace(p.sh("tunnelftpd version | head -1; readlink /proc/$(systemctl show -P MainPID tunnelftpd.service)/exe")); got != "tunnelftpd "+newer+" (commit "+commit+")\n/usr/sbin/tunnelftpd" {
		t.Errorf("after the upgrade, the binary and the running daemon's: %q, want version %s running from /usr/sbin/tunnelftpd", got, newer)
	}
	if got, err := curl("ftp://127.0.0.1:2121/"); err != nil || !strings.Contains(got, "up.txt") {
		t.Errorf("listing after the upgrade: %q, %v", got, err)
	}

	// Remove keeps the config; the units are stopped.
	p.apt("remove tunnelftpd")
	if got := p.readConf(); got != edited {
		t.Errorf("remove changed or removed the config")
	}
	for _, unit := range []string{"tunnelftpd.socket", "tunnelftpd.service"} {
		if state, _ := p.try("systemctl is-active " + unit); strings.TrimSpace(state) == "active" {
			t.Errorf("%s still active after remove", unit)
		}
	}
	if _, err := p.try("test ! -e /usr/sbin/tunnelftpd"); err != nil {
		t.Errorf("the binary is still there after remove")
	}

	// Purge leaves nothing of the package behind.
	p.apt("purge tunnelftpd")
	if st, err := p.try("dpkg-query -W -f '${db:Status-Abbrev}' tunnelftpd"); err == nil && !strings.HasPrefix(st, "pn") {
		t.Errorf("dpkg still has tunnelftpd after purge: %q", st)
	}
	for _, f := range files {
		if _, err := p.try("test -e '" + f + "' || test -L '" + f + "'"); err != nil {
			continue // gone
		}
		if owner, err := p.try("dpkg -S '" + f + "'"); err != nil || !isDir(p, f) {
			t.Errorf("after purge %s is still there (owned by: %s)", f, strings.TrimSpace(owner))
		}
	}
	left := p.sh(`for f in /etc/tunnelftpd /var/log/tunnelftpd /run/tunnelftpd /etc/systemd/system/sockets.target.wants/tunnelftpd.socket /etc/systemd/system/sockets.target.wants/tunnelftpd-conn.socket; do if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done; dpkg-statoverride --list | grep tunnelftpd || true`)
	if strings.TrimSpace(left) != "" {
		t.Errorf("after purge these are left:\n%s", left)
	}
	if _, err := p.try("getent passwd tunnelftpd"); err != nil {
		t.Errorf("purge removed the tunnelftpd account; Debian policy keeps it (files it owns may remain)")
	}
}

// isDir reports whether path is a directory in the bed (a shared one, such
// as /usr/share/doc, stays after a purge).
func isDir(p *pkgBed, path string) bool {
	_, err := p.try("test -d '" + path + "' && ! test -L '" + path + "'")
	return err == nil
}

// checkConfMode: the config is 0640 root:tunnelftpd.
func (p *pkgBed) checkConfMode() {
	p.t.Helper()
	if got := strings.TrimSpace(p.sh("stat -c '%a %U %G' " + conf)); got != "640 root tunnelftpd" {
		p.t.Errorf("%s is %s, want 640 root tunnelftpd", conf, got)
	}
}

func (p *pkgBed) readConf() string {
	p.t.Helper()
	data, err := p.bed.ReadFile(conf)
	if err != nil {
		p.t.Fatal(err)
	}
	return string(data)
}

// editConf is the administrator's edit of the config, in place (the file
// keeps its inode, owner and mode, as with an editor).
func (p *pkgBed) editConf(edit func(string) string) {
	p.t.Helper()
	if err := p.bed.WriteFile("/root/tunnelftpd.toml.new", []byte(edit(p.readConf())), 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.sh("cat /root/tunnelftpd.toml.new > " + conf + " && rm /root/tunnelftpd.toml.new")
}

// mainPID is tunnelftpd.service's main pid ("0" when not running).
func (p *pkgBed) mainPID() string {
	p.t.Helper()
	return strings.TrimSpace(p.sh("systemctl show -P MainPID tunnelftpd.service"))
}

// addSSHUser makes the SSH account the tunnel logs in to (key only) and
// installs the sshd Match block `tunnelftpd tunnel --format sshd-match`
// prints for the installed config.
func (p *pkgBed) addSSHUser() {
	t := p.t
	p.key = filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tfb-pkg", "-f", p.key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(p.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	p.sh("useradd -m -p '*' -s /bin/sh " + sshUser)
	if err := p.bed.WriteFile("/home/"+sshUser+"/.ssh/authorized_keys", pub, 0o600); err != nil {
		t.Fatal(err)
	}
	p.sh("chown -R " + sshUser + ": /home/" + sshUser + "/.ssh")
	match := p.sh("tunnelftpd tunnel --format sshd-match --host " + sshUser + "@" + testbed.BedAddr)
	if err := p.bed.WriteFile("/etc/ssh/sshd_config.d/tunnelftpd.conf", []byte(match), 0o644); err != nil {
		t.Fatal(err)
	}
	// A restart, not a reload: systemctl returns once the new sshd
	// listens (Type=notify), where a reload's re-exec would leave a moment
	// in which connections are refused.
	p.sh("sshd -t && systemctl restart ssh.service")
}

// startTunnel runs, in the client namespace, the ssh command `tunnelftpd
// tunnel` prints in the bed, and waits until its forwards listen. ssh is
// stopped when the test ends.
func (p *pkgBed) startTunnel() {
	t := p.t
	line := strings.TrimSpace(p.sh("tunnelftpd tunnel --host " + sshUser + "@" + testbed.BedAddr))
	args := strings.Fields(line)
	if len(args) < 2 || args[0] != "ssh" || args[len(args)-1] != sshUser+"@"+testbed.BedAddr {
		t.Fatalf("unexpected ssh command from tunnelftpd tunnel: %s", line)
	}
	opts := []string{"-F", "/dev/null", "-i", p.key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"}
	cmd := p.bed.ClientCommand(context.Background(), "ssh", slices.Insert(args[1:], 0, opts...)...)
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("ssh: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) //nolint:errcheck // gone already is fine
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck
			<-done
		}
		if t.Failed() {
			t.Logf("--- ssh:\n%s", out.String())
		}
	})
	last := regexp.MustCompile(`-L (\d+):127\.0\.0\.1:\d+ [^-]*$`).FindStringSubmatch(line)
	if last == nil {
		t.Fatalf("no last forward in %s", line)
	}
	// ssh opens its forwards in order: once the last one listens, all do.
	testutil.WaitFor(t, 30*time.Second, 50*time.Millisecond, "the tunnel's forwards", func() bool {
		select {
		case <-done:
			t.Fatalf("ssh exited:\n%s", out.String())
		default:
		}
		_, _, err := p.bed.ClientExec(context.Background(), "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"+last[1])
		return err == nil
	})
}
