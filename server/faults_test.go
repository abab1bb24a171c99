package server

// Faults during transfers (issue 6, item 4), in process. The faults that need
// the real binary or a second network namespace (a client that vanishes
// without a FIN, out of file descriptors, SIGHUP/SIGTERM during 50
// transfers) are in package launchtest. The data peer that stops reading is
// TestDataStallWatchdog (passive_test.go).

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// resetConn closes c with an RST instead of a FIN (SO_LINGER 0).
func resetConn(t testing.TB, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestDataResetMidRETR: the client resets the data connection in the middle
// of a download. The server must not report it as complete (no 226, xferlog
// status i), the session goes on, and the port is free.
// Guards: the copy error reaching the reply and the transfer record (the
// library treats "connection reset by peer" as success when it closes a data
// connection; a transfer error must not be folded into that).
func TestDataResetMidRETR(t *testing.T) {
	xfer := filepath.Join(t.TempDir(), "xferlog")
	ts := startServer(t, 1, func(c *config.Config) { c.Log.Xferlog = xfer })
	size := 64 << 20
	os.WriteFile(filepath.Join(ts.Root, "big"), bytes.Repeat([]byte("r"), size), 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)

	data := rc.OpenData()
	rc.Expect(150, "RETR big")
	if _, err := io.ReadFull(data, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	resetConn(t, data)
	if code, msg := rc.Reply(); code < 400 {
		t.Errorf("RETR reset by the client ended with %d %s, want a 4xx/5xx failure", code, msg)
	}
	rc.Expect(200, "NOOP")
	if st := xferStatuses(t, xfer, 1); st[0] != "i" {
		t.Errorf("reset download logged with status %q, want i", st[0])
	}
	if n := xferBytes(t, xfer, 0); n >= int64(size) {
		t.Errorf("reset download logged %d bytes of %d", n, size)
	}
	if n := ts.PassivePortsBusy(); n != 0 {
		t.Errorf("%d passive ports still busy", n)
	}
	if got := rc.Retr("big"); len(got) != size {
		t.Errorf("next RETR on the same session: %d bytes", len(got))
	}
}

// TestDataResetMidSTOR: the client resets the data connection in the middle
// of an upload. Not complete (no 226, status i); the partial file is kept
// (README: partial uploads are kept, so REST+STOR can resume them) and holds
// exactly the bytes the server received.
// Guards: an upload cut by an RST must not look like an upload ended by a
// FIN (which FTP cannot tell from success).
func TestDataResetMidSTOR(t *testing.T) {
	xfer := filepath.Join(t.TempDir(), "xferlog")
	ts := startServer(t, 1, func(c *config.Config) { c.Log.Xferlog = xfer })
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)

	data := rc.OpenData()
	rc.Expect(150, "STOR part.bin")
	sent := 1 << 20
	if _, err := data.Write(bytes.Repeat([]byte("s"), sent)); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(ts.Root, "part.bin")
	waitFor(t, 5*time.Second, "the server to store the first MiB", func() bool {
		fi, err := os.Stat(dst)
		return err == nil && fi.Size() == int64(sent)
	})
	resetConn(t, data)
	if code, msg := rc.Reply(); code < 400 {
		t.Errorf("STOR reset by the client ended with %d %s, want a 4xx/5xx failure", code, msg)
	}
	rc.Expect(200, "NOOP")
	if st := xferStatuses(t, xfer, 1); st[0] != "i" {
		t.Errorf("reset upload logged with status %q, want i", st[0])
	}
	if fi, err := os.Stat(dst); err != nil || fi.Size() != int64(sent) {
		t.Errorf("partial upload: %v, %v; want it kept with %d bytes", fi, err, sent)
	}
	if n := ts.PassivePortsBusy(); n != 0 {
		t.Errorf("%d passive ports still busy", n)
	}
}

// TestDiskFullDuringSTOR: an upload into a full file system gets 452
// (insufficient storage), is logged as incomplete, keeps its partial file,
// and the session goes on; once space is freed, uploads work again.
// Guards: the ctrl.Conn rewrite of the library's generic 550 (storageReply):
// without it the client gets 550, which clients read as "no such file".
func TestDiskFullDuringSTOR(t *testing.T) {
	testutil.Privileged(t, "mounts a 1 MiB tmpfs as the user's root")
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=0755"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	xfer := filepath.Join(t.TempDir(), "xferlog")
	// Registered after the unmount, so it runs (and stops the server) first.
	ts := startServer(t, 1, func(c *config.Config) {
		c.Users[0].Root = mnt
		c.Log.Xferlog = xfer
	})
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)

	data := rc.OpenData()
	rc.Expect(150, "STOR big.bin")
	go func(c net.Conn) {
		// The server stops reading when the disk is full; this write then
		// fails, which is expected.
		c.Write(bytes.Repeat([]byte("d"), 3<<20))
		c.Close()
	}(data)
	code, msg := rc.Reply()
	if code != 452 && code != 552 {
		t.Errorf("STOR on a full disk: %d %s, want 452 or 552", code, msg)
	}
	t.Logf("STOR on a full disk: %s", msg)
	rc.Expect(200, "NOOP")
	if st := xferStatuses(t, xfer, 1); st[0] != "i" {
		t.Errorf("upload on a full disk logged with status %q, want i", st[0])
	}
	fi, err := os.Stat(filepath.Join(mnt, "big.bin"))
	if err != nil || fi.Size() == 0 || fi.Size() > 1<<20 {
		t.Errorf("partial file on a full disk: %v %v; want it kept, 0 < size <= 1 MiB", fi, err)
	} else if n := xferBytes(t, xfer, 0); n != fi.Size() {
		t.Errorf("xferlog says %d bytes, the partial file has %d", n, fi.Size())
	}

	// Free the space: the session works as before.
	rc.Expect(250, "DELE big.bin")
	small := rc.OpenData()
	rc.Expect(150, "STOR small.txt")
	small.Write([]byte("fits"))
	small.Close()
	if code, msg := rc.Reply(); code != 226 {
		t.Errorf("STOR after freeing space: %d %s", code, msg)
	}
	if got := readFile(t, filepath.Join(mnt, "small.txt")); got != "fits" {
		t.Errorf("after freeing space: %q", got)
	}
	if st := xferStatuses(t, xfer, 2); st[1] != "c" {
		t.Errorf("upload after freeing space logged %q, want c", st[1])
	}
	if strings.Contains(msg, mnt) {
		t.Errorf("the reply reveals the host path: %s", msg)
	}
}
