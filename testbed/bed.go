package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// Addresses of the veth pair between a bed and its client namespace. They
// exist only inside the two namespaces of one bed (every bed has its own
// pair), so beds running at once never see each other's.
const (
	BedAddr    = "192.0.2.1" // the container's address (TEST-NET-1)
	ClientAddr = "192.0.2.2" // the client namespace's address
)

// Options say what Boot boots.
type Options struct {
	// Packages are installed on top of BasePackages (another image,
	// cached on its own).
	Packages []string
	// BootTimeout bounds the boot, from starting systemd-nspawn to
	// systemd reporting startup finished (default 2 minutes).
	BootTimeout time.Duration
	// BuildTimeout bounds building the image when it is not cached
	// (default 20 minutes).
	BuildTimeout time.Duration
	// Mask are units masked for this boot (systemd.mask=), on top of the
	// timers and gettys every bed masks: e.g. "rsyslog.service" for a
	// system that logs to the journal only, as Debian 12 installs do.
	Mask []string
}

// Bed is a booted Debian system in a container of its own: its own PID 1
// (systemd), mount, network, IPC and UTS namespaces, on a copy-on-write
// layer over a cached image. Methods may be called from any goroutine.
type Bed struct {
	// Name is the machine name and hostname, "tfb-" and 8 hex digits;
	// the container's network namespace has the same name.
	Name string
	// ClientNS is a network namespace (ip netns) joined to the
	// container by a veth pair: ClientAddr there, BedAddr in the bed.
	ClientNS string
	// Leader is the host pid of the container's PID 1.
	Leader int
	// Image is the image directory the bed runs on.
	Image string

	t       testing.TB
	run     string // runtime directory: upper, work, root, notify socket
	root    string // the container's / on the host
	overlay bool   // root is an overlay mount (else a copy)
	cgroups []string
	nspawn  *exec.Cmd
	console *testutil.SyncBuffer
	exited  chan struct{}

	once sync.Once
}

// tools Boot runs on the host, with the Debian package that brings each.
var tools = map[string]string{
	"debootstrap":    "debootstrap",
	"systemd-nspawn": "systemd-container",
	"nsenter":        "util-linux",
	"ip":             "iproute2",
	"chroot":         "coreutils",
}

// Require skips the test unless the test bed can run here (root, Linux,
// the host tools); under TUNNELFTPD_E2E=1 it fails instead of skipping.
func Require(t testing.TB) {
	t.Helper()
	testutil.Privileged(t, "the test bed boots a container with systemd-nspawn")
	for tool, pkg := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s not found (Debian: apt-get install %s)", tool, pkg)
			if os.Getenv("TUNNELFTPD_E2E") == "1" {
				t.Fatalf("TUNNELFTPD_E2E=1 but %s", msg)
			}
			t.Skip(msg)
		}
	}
}

// Boot builds or reuses the image, boots a bed on a fresh layer over it
// and waits until its systemd has finished starting up (the state may be
// "degraded": Boot logs the failed units; the test decides). The bed is
// torn down when the test ends. It skips the test where Require does.
func Boot(t testing.TB, opt Options) *Bed {
	t.Helper()
	Require(t)
	if opt.BootTimeout == 0 {
		opt.BootTimeout = 2 * time.Minute
	}
	if opt.BuildTimeout == 0 {
		opt.BuildTimeout = 20 * time.Minute
	}
	buildCtx, cancel := context.WithTimeout(context.Background(), opt.BuildTimeout)
	began := time.Now()
	img, err := Image(buildCtx, opt.Packages, t.Logf)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if swept := sweepStale(); len(swept) > 0 {
		t.Logf("testbed: removed beds left by test runs that were killed: %s", strings.Join(swept, " "))
	}
	began = time.Now()
	b := &Bed{Name: "tfb-" + randHex(4), Image: img, t: t, console: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	b.ClientNS = b.Name + "-c"
	t.Cleanup(b.Teardown)
	ctx, cancel := context.WithTimeout(context.Background(), opt.BootTimeout)
	defer cancel()
	if err := b.boot(ctx, opt.Mask); err != nil {
		t.Fatalf("testbed: booting %s: %v\n--- console:\n%s", b.Name, err, tail(b.console.String(), 6000))
	}
	state, _, _ := b.Exec(ctx, "systemctl", "is-system-running", "--wait")
	state = strings.TrimSpace(state)
	if state != "running" {
		failed, _, _ := b.Exec(ctx, "systemctl", "--failed", "--no-legend", "--plain")
		t.Logf("testbed: %s is %q; failed units:\n%s", b.Name, state, failed)
	}
	t.Logf("testbed: %s booted in %s (image %s)", b.Name, time.Since(began).Round(100*time.Millisecond), filepath.Base(img))
	return b
}

// boot prepares the layer, the network and the cgroups and starts
// systemd-nspawn, returning once the container's systemd reported ready.
func (b *Bed) boot(ctx context.Context, mask []string) error {
	b.run = filepath.Join(CacheDir(), "run", b.Name)
	b.root = filepath.Join(b.run, "root")
	if err := os.MkdirAll(b.run, 0o700); err != nil {
		return err
	}
	// The layer's top directory becomes the container's /: 0755 like the
	// image's (a 0700 / locks every service user out of everything).
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(b.run, d), 0o755); err != nil {
			return err
		}
	}
	self, _ := processID(os.Getpid())
	if err := os.WriteFile(filepath.Join(b.run, "owner"), []byte(self), 0o600); err != nil {
		return err
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", b.Image, filepath.Join(b.run, "upper"), filepath.Join(b.run, "work"))
	if err := unix.Mount("overlay", b.root, "overlay", 0, opts); err == nil {
		b.overlay = true
	} else {
		// No overlayfs here (or not on this file system): a full copy,
		// slower but the same.
		b.t.Logf("testbed: overlay mount failed (%v), copying the image", err)
		if out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", b.Image+"/.", b.root).CombinedOutput(); err != nil {
			return fmt.Errorf("copying the image: %w\n%s", err, out)
		}
	}
	if err := b.writeHosts(); err != nil {
		return err
	}
	if err := b.makeNetwork(ctx); err != nil {
		return err
	}
	if err := b.makeCgroups(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.run, "cgroups"), []byte(strings.Join(b.cgroups, "\n")), 0o600); err != nil {
		return err
	}

	notifyPath := filepath.Join(b.run, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	defer notify.Close()

	// Units that only cost time or poke at a console nobody reads.
	masks := []string{"console-getty.service", "getty@.service", "apt-daily.timer", "apt-daily-upgrade.timer",
		"man-db.timer", "e2scrub_all.timer", "dpkg-db-backup.timer", "fstrim.timer", "logrotate.timer",
		"systemd-tmpfiles-clean.timer"}
	args := []string{
		"--quiet",
		"--keep-unit", "--register=no", // no machined or D-Bus needed on the host
		"--directory=" + b.root,
		"--machine=" + b.Name,
		"--network-namespace-path=/run/netns/" + b.Name,
		// The network namespace is the bed's own: its firewall (nftables,
		// fail2ban's bans) is the bed's to change.
		"--capability=CAP_NET_ADMIN",
		"--notify-ready=yes",
		"--console=pipe",
		"--link-journal=no",
		"--resolv-conf=off",
		"--timezone=off",
		"--boot", "--",
	}
	for _, m := range append(masks, mask...) {
		args = append(args, "systemd.mask="+m)
	}
	// The shell puts itself into the bed's own cgroups, then becomes
	// systemd-nspawn: the container's cgroups are made below those.
	script := `IFS=:; for c in $TFB_CGROUPS; do echo $$ > "$c/cgroup.procs" || exit 1; done
exec systemd-nspawn "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifyPath, "TFB_CGROUPS="+strings.Join(b.cgroups, ":"), "SYSTEMD_LOG_COLOR=0")
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = b.console, b.console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting systemd-nspawn: %w", err)
	}
	b.nspawn = cmd
	go func() {
		cmd.Wait() //nolint:errcheck // the console tells why
		close(b.exited)
	}()

	type msg struct {
		ready  bool
		leader int
	}
	msgs := make(chan msg, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			var m msg
			for _, kv := range strings.Split(string(buf[:n]), "\n") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "READY":
					m.ready = v == "1"
				case "X_NSPAWN_LEADER_PID":
					m.leader, _ = strconv.Atoi(v)
				}
			}
			msgs <- m
		}
	}()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return errors.New("notify socket closed")
			}
			if m.leader > 0 {
				b.Leader = m.leader
				if id, ok := processID(b.Leader); ok {
					os.WriteFile(filepath.Join(b.run, "leader"), []byte(id), 0o600) //nolint:errcheck // only the sweep after a killed run needs it
				}
			}
			if m.ready {
				if b.Leader == 0 {
					return errors.New("systemd-nspawn said READY=1 without X_NSPAWN_LEADER_PID")
				}
				return nil
			}
		case <-b.exited:
			return fmt.Errorf("systemd-nspawn exited: %v", cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("no READY=1 from the container: %w", ctx.Err())
		}
	}
}

// writeHosts gives the bed the /etc/hosts a Debian install has: localhost
// and its own name. It writes into the layer before boot, through os.Root,
// so a symlink in the image cannot lead the write out of it.
func (b *Bed) writeHosts() error {
	r, err := os.OpenRoot(b.root)
	if err != nil {
		return err
	}
	defer r.Close()
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n", b.Name)
	if err := r.WriteFile("etc/hosts", []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("writing /etc/hosts: %w", err)
	}
	return nil
}

// makeNetwork creates the container's network namespace and the client's,
// joined by a veth pair, loopback up in both.
func (b *Bed) makeNetwork(ctx context.Context) error {
	id := strings.TrimPrefix(b.Name, "tfb-")
	vs, vc := "tfb"+id+"s", "tfb"+id+"c" // at most 15 bytes
	steps := [][]string{
		{"netns", "add", b.Name},
		{"netns", "add", b.ClientNS},
		{"link", "add", vs, "netns", b.Name, "type", "veth", "peer", "name", vc, "netns", b.ClientNS},
		{"-n", b.Name, "addr", "add", BedAddr + "/24", "dev", vs},
		{"-n", b.ClientNS, "addr", "add", ClientAddr + "/24", "dev", vc},
		{"-n", b.Name, "link", "set", "lo", "up"},
		{"-n", b.Name, "link", "set", vs, "up"},
		{"-n", b.ClientNS, "link", "set", "lo", "up"},
		{"-n", b.ClientNS, "link", "set", vc, "up"},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, "ip", s...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

// makeCgroups makes a cgroup named after the bed in every hierarchy
// systemd-nspawn uses (cgroup v2, and name=systemd on a hybrid host),
// below the test's own: systemd-nspawn --keep-unit creates its
// "payload" and "supervisor" groups inside its current cgroup, and two
// beds sharing one would collide.
func (b *Bed) makeCgroups() error {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(self)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var mount string
		switch {
		case parts[0] == "0" && parts[1] == "":
			mount = "/sys/fs/cgroup"
			if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err == nil {
				mount = "/sys/fs/cgroup/unified"
			}
		case parts[1] == "name=systemd":
			mount = "/sys/fs/cgroup/systemd"
		default:
			continue
		}
		dir := filepath.Join(mount, parts[2], b.Name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		b.cgroups = append(b.cgroups, dir)
	}
	if len(b.cgroups) == 0 {
		return errors.New("no cgroup hierarchy found in /proc/self/cgroup")
	}
	return nil
}

// Teardown stops the bed (SIGKILL to its PID 1 ends every process in it),
// then removes its layer, namespaces and cgroups. Boot registers it with
// t.Cleanup; calling it again does nothing.
func (b *Bed) Teardown() {
	b.once.Do(b.teardown)
}

func (b *Bed) teardown() {
	if b.nspawn != nil {
		if b.Leader > 0 {
			syscall.Kill(b.Leader, syscall.SIGKILL) //nolint:errcheck // gone already is fine
		}
		select {
		case <-b.exited:
		case <-time.After(20 * time.Second):
			b.t.Errorf("testbed: systemd-nspawn (pid %d) did not exit after its container was killed; killing it", b.nspawn.Process.Pid)
			syscall.Kill(-b.nspawn.Process.Pid, syscall.SIGKILL) //nolint:errcheck
			<-b.exited
		}
		if b.t.Failed() {
			b.t.Logf("--- console of %s:\n%s", b.Name, tail(b.console.String(), 8000))
		}
	}
	if b.overlay {
		if err := unix.Unmount(b.root, 0); err != nil {
			b.t.Logf("testbed: unmounting %s: %v; detaching it", b.root, err)
			unix.Unmount(b.root, unix.MNT_DETACH) //nolint:errcheck
		}
	}
	if b.run != "" {
		if err := os.RemoveAll(b.run); err != nil {
			b.t.Errorf("testbed: removing %s: %v", b.run, err)
		}
	}
	for _, ns := range []string{b.Name, b.ClientNS} {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				b.t.Errorf("testbed: ip netns del %s: %v: %s", ns, err, out)
			}
		}
	}
	for _, c := range b.cgroups {
		if err := removeCgroup(c); err != nil {
			b.t.Errorf("testbed: %v", err)
		}
	}
}

// removeCgroup removes a cgroup and the groups below it, deepest first.
// The processes in them are gone (the container was killed), but the
// kernel may take a moment to notice: it retries for a few seconds.
func removeCgroup(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error { //nolint:errcheck // best effort listing
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	deadline := time.Now().Add(10 * time.Second)
	for i := len(dirs) - 1; i >= 0; i-- {
		for {
			err := os.Remove(dirs[i])
			if err == nil || os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("removing cgroup %s: %w", dirs[i], err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// env is the environment of commands run in the bed: a clean one, not the
// test's.
var env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root", "TERM=dumb", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}

// Command returns a command that runs name with args inside the bed, as
// root, in all of its namespaces, with a clean environment. The process
// is not part of a unit: to run a service, start one with systemctl or
// systemd-run.
func (b *Bed) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	a := append([]string{"-t", strconv.Itoa(b.Leader), "-a", "--", "/usr/bin/env", "-i"}, env...)
	a = append(a, name)
	return exec.CommandContext(ctx, "nsenter", append(a, args...)...)
}

// Exec runs name with args in the bed (see Command) and returns its
// standard output and error; the error names the command and carries its
// standard error. A command still running after a minute is killed
// (ctx may end it sooner).
func (b *Bed) Exec(ctx context.Context, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return runCmd(b.Command(ctx, name, args...), nil)
}

// Run is Exec that fails the test on error; it returns standard output.
func (b *Bed) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, _, err := b.Exec(context.Background(), name, args...)
	if err != nil {
		t.Fatalf("in %s: %v", b.Name, err)
	}
	return out
}

// Shell runs script with `sh -ec` in the bed and fails the test on error;
// it returns standard output.
func (b *Bed) Shell(t testing.TB, script string) string {
	t.Helper()
	return b.Run(t, "/bin/sh", "-ec", script)
}

// WriteFile writes data to path in the bed (parent directories made),
// owned by root with mode perm, replacing it atomically. The path is
// resolved inside the bed, so its symlinks cannot lead to the host's files.
func (b *Bed) WriteFile(path string, data []byte, perm os.FileMode) error {
	const script = `set -e; umask 077; mkdir -p "$(dirname "$1")"; cat > "$1.tfb-tmp"; chmod "$2" "$1.tfb-tmp"; mv -f "$1.tfb-tmp" "$1"`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := runCmd(b.Command(ctx, "/bin/sh", "-c", script, "sh", path, fmt.Sprintf("%04o", perm.Perm())), bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("writing %s in %s: %w", path, b.Name, err)
	}
	return nil
}

// CopyIn copies the host file src to dst in the bed, with mode perm
// (see WriteFile).
func (b *Bed) CopyIn(src, dst string, perm os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	return b.WriteFile(dst, data, perm)
}

// ReadFile returns the content of path in the bed.
func (b *Bed) ReadFile(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := b.Command(ctx, "/bin/cat", "--", path)
	var out bytes.Buffer
	cmd.Stdout = &out
	if _, _, err := runCmd(cmd, nil); err != nil {
		return nil, fmt.Errorf("reading %s in %s: %w", path, b.Name, err)
	}
	return out.Bytes(), nil
}

// ClientCommand returns a command that runs the host's name with args in
// the client namespace (ip netns exec: the pid is the command's).
func (b *Bed) ClientCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", b.ClientNS, name}, args...)...)
}

// ClientExec runs ClientCommand to completion (bounded like Exec).
func (b *Bed) ClientExec(ctx context.Context, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return runCmd(b.ClientCommand(ctx, name, args...), nil)
}

// DialClient connects to addr (TCP) from the client namespace, as a
// client host would: the socket belongs to that namespace, and keeps
// working from any goroutine.
func (b *Bed) DialClient(addr string, timeout time.Duration) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	res := make(chan result, 1)
	go func() {
		// This thread joins the namespace and is never unlocked: it
		// ends with the goroutine, so nothing else ever runs there.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + b.ClientNS)
		if err != nil {
			res <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- result{nil, fmt.Errorf("joining %s: %w", b.ClientNS, err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		res <- result{c, err}
	}()
	r := <-res
	return r.c, r.err
}

// Console returns what the bed printed on its console (systemd's boot
// messages), for failure reports.
func (b *Bed) Console() string { return b.console.String() }

// runCmd runs cmd with stdin and returns its output; cmd.Stdout may be set
// by the caller (then stdout is "").
func runCmd(cmd *exec.Cmd, stdin io.Reader) (string, string, error) {
	var out, errb bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	cmd.Stderr = &errb
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w\nstdout:\n%s\nstderr:\n%s", strings.Join(cmd.Args, " "), err, tail(out.String(), 3000), tail(errb.String(), 3000))
	}
	return out.String(), errb.String(), err
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}
