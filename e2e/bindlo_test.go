package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPassiveRefusesOtherInterfaces: when the advertised address is
// loopback, a passive port refuses (at the kernel, SO_BINDTODEVICE "lo")
// connections that arrive on another interface, while the client's own
// connection over loopback gets the file. The daemon runs in a network
// namespace of its own; the "outsider" reaches it over a veth pair from a
// second namespace.
func TestPassiveRefusesOtherInterfaces(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "not root: the test creates network namespaces")
	}
	for _, tool := range []string{"ip", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, tool+" not found (Debian: apt-get install iproute2)")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := tunnelftpdBinary(t)

	suffix := fmt.Sprintf("%d-%s", os.Getpid(), randHex(2))
	nsSrv, nsOut := "tftp-blsrv-"+suffix, "tftp-blout-"+suffix
	for _, ns := range []string{nsSrv, nsOut} {
		mustRun(t, ctx, 10*time.Second, "ip", "netns", "add", ns)
		t.Cleanup(func() { run(context.Background(), 10*time.Second, "ip", "netns", "del", ns) })
	}
	const srv, out = "10.231.1.1", "10.231.1.2"
	mustRun(t, ctx, 10*time.Second, "ip", "link", "add", "tftp-s", "netns", nsSrv, "type", "veth", "peer", "name", "tftp-o", "netns", nsOut)
	for _, side := range []struct{ ns, dev, addr string }{{nsSrv, "tftp-s", srv}, {nsOut, "tftp-o", out}} {
		mustRun(t, ctx, 10*time.Second, "ip", "-n", side.ns, "addr", "add", side.addr+"/30", "dev", side.dev)
		mustRun(t, ctx, 10*time.Second, "ip", "-n", side.ns, "link", "set", side.dev, "up")
		mustRun(t, ctx, 10*time.Second, "ip", "-n", side.ns, "link", "set", "lo", "up")
	}

	root := filepath.Join(tmp, "root")
	os.Mkdir(root, 0o755)
	writeFile(t, filepath.Join(root, "f.txt"), "loopback only\n", 0o644)
	cmd := exec.CommandContext(ctx, bin, "passwd")
	cmd.Stdin = strings.NewReader(ftpPass + "\n")
	hash, _, err := runCmd(cmd)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(tmp, "tunnelftpd.toml")
	writeFile(t, config, fmt.Sprintf(`listen = "127.0.0.1:%s"
[passive]
ports = "22000"
address = "127.0.0.1"
[[users]]
name = %q
password = %q
root = %q
`, ctrlPort, ftpUser, strings.TrimSpace(hash), root), 0o600)
	daemon := start(t, "tunnelftpd serve", netnsCmd(ctx, nsSrv, bin, "serve", "-c", config))
	if err := waitPort(ctx, nsSrv, "127.0.0.1:"+ctrlPort, 20*time.Second, daemon); err != nil {
		t.Fatal(err)
	}

	ctrl, err := dialIn(nsSrv, "127.0.0.1:"+ctrlPort, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ctrl.Close()
	r := bufio.NewReader(ctrl)
	cmdReply := func(line string) (int, string) {
		t.Helper()
		if line != "" {
			fmt.Fprintf(ctrl, "%s\r\n", line)
		}
		ctrl.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", line, err)
			}
			if len(l) >= 4 && l[3] == ' ' {
				code, _ := strconv.Atoi(l[:3])
				return code, strings.TrimSpace(l)
			}
		}
	}
	cmdReply("") // greeting
	cmdReply("USER " + ftpUser)
	if code, msg := cmdReply("PASS " + ftpPass); code != 230 {
		t.Fatalf("login: %s", msg)
	}
	_, msg := cmdReply("EPSV")
	m := regexp.MustCompile(`\|\|\|(\d+)\|`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("EPSV: %s", msg)
	}

	// The outsider, on the other end of the veth, is refused by the kernel.
	c, err := dialIn(nsOut, srv+":"+m[1], 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("a connection to %s:%s from another interface was accepted", srv, m[1])
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("outsider: %v, want connection refused", err)
	}

	data, err := dialIn(nsSrv, "127.0.0.1:"+m[1], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := cmdReply("RETR f.txt"); code != 150 {
		t.Fatalf("RETR: %s", msg)
	}
	got, _ := io.ReadAll(data)
	data.Close()
	if code, msg := cmdReply(""); code != 226 || string(got) != "loopback only\n" {
		t.Fatalf("RETR: %s, data %q", msg, got)
	}
}
