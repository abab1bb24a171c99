package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestPassiveRefusesOtherInterfaces: when the advertised address is
// loopback, a passive port refuses (at the kernel, SO_BINDTODEVICE "lo")
// connections that arrive on another interface, while the client's own
// connection over loopback gets the file. The daemon runs in a network
// namespace of its own; the "outsider" reaches it over a veth pair from a
// second namespace.
func TestPassiveRefusesOtherInterfaces(t *testing.T) {
	testutil.Privileged(t, "creates network namespaces")
	testutil.RequireTool(t, "ip", "go")
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

	// The client: control and data connections over the server
	// namespace's loopback.
	inSrv := func(addr string) (net.Conn, error) { return dialIn(nsSrv, addr, 5*time.Second) }
	rc, err := testutil.TryDialRaw(inSrv, "127.0.0.1:"+ctrlPort)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rc.T = t
	rc.Login(ftpUser, ftpPass)
	port := rc.Epsv()

	// The outsider, on the other end of the veth, is refused by the kernel.
	c, err := dialIn(nsOut, fmt.Sprintf("%s:%d", srv, port), 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("a connection to %s:%d from another interface was accepted", srv, port)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("outsider: %v, want connection refused", err)
	}

	rc.Send("RETR f.txt")
	if got := rc.Receive(port); string(got) != "loopback only\n" {
		t.Fatalf("RETR: data %q", got)
	}
}
