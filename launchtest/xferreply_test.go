package launchtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// goErrorText matches what a reply must never carry: Go's error chains,
// addresses, system calls.
var goErrorText = regexp.MustCompile(`(?i)network error|error transferring|tcp |\d+\.\d+\.\d+\.\d+:\d+|splice|sendfile|i/o timeout|read: |write: `)

// checkTransferReply fails the test unless reply is code with plain words.
func checkTransferReply(t *testing.T, what string, code int, msg string, want int, words string) {
	t.Helper()
	if code != want || !strings.Contains(msg, words) || goErrorText.MatchString(msg) {
		t.Errorf("%s: %d %q, want %d in plain words with %q", what, code, msg, want, words)
	} else {
		t.Logf("%s: %s", what, msg)
	}
}

// mountSmallTmpfs mounts a tmpfs of the given options at a new directory,
// unmounted when the test ends.
func mountSmallTmpfs(t *testing.T, opts string) string {
	t.Helper()
	testutil.Privileged(t, "mounts a small tmpfs")
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		t.Fatalf("mount tmpfs -o %s: %v", opts, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	return mnt
}

// TestTransferReplies: a transfer that fails after its 150 gets the reply
// that says why, in plain words, and is logged incomplete (xferlog i):
// 426 when the data connection was cut (the data_timeout watchdog, a reset
// by the client, the server shutting down: TestSIGTERMCutsStalledTransfersAsIncomplete),
// 452 for a full disk, 552 for a file over the size limit (a quota is
// 552 too: server TestTransferFailureReplies). A listing,
// which has no file, gets the same. The library's reply was 550 (permanent,
// so clients do not retry) with Go's error chain ("550 Issue during
// transfer: network error: error transferring data: read tcp ...").
func TestTransferReplies(t *testing.T) {
	t.Run("stalled download", func(t *testing.T) {
		f := newFixture(t, testutil.DaemonOptions{DataTimeout: "1s", Xferlog: true})
		os.WriteFile(filepath.Join(f.Root, "big"), bytes.Repeat([]byte("s"), 64<<20), 0o644)
		f.Serve()
		rc := f.Client()
		data := rc.OpenData() // never read: the server's sends stall
		rc.Expect(150, "RETR big")
		code, msg := rc.Reply()
		checkTransferReply(t, "RETR stalled past data_timeout", code, msg, 426, "data_timeout")
		rc.Expect(200, "NOOP")
		data.Close()
		f.WaitXfer(1, 5*time.Second)
		if st := f.Xfer(); st[0] != "i" {
			t.Errorf("xferlog: %v, want i", st)
		}
	})

	t.Run("stalled listing", func(t *testing.T) {
		f := newFixture(t, testutil.DaemonOptions{DataTimeout: "1s"})
		dir := filepath.Join(f.Root, "many")
		os.Mkdir(dir, 0o755)
		// More than the socket buffers of both ends hold (several MiB on
		// loopback): 30,000 entries of about 250 bytes.
		long := strings.Repeat("n", 200)
		for i := range 30000 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%06d", long, i)), nil, 0o644)
		}
		f.Serve()
		rc := f.Client()
		data := rc.OpenData()
		rc.Expect(150, "LIST many")
		code, msg := rc.Reply()
		checkTransferReply(t, "LIST stalled past data_timeout", code, msg, 426, "data_timeout")
		data.Close()
	})

	t.Run("upload reset by the client", func(t *testing.T) {
		f := newFixture(t, testutil.DaemonOptions{Xferlog: true})
		f.Serve()
		rc := f.Client()
		data := rc.OpenData()
		rc.Expect(150, "STOR cut.bin")
		if _, err := data.Write(bytes.Repeat([]byte("u"), 1<<20)); err != nil {
			t.Fatal(err)
		}
		data.(*net.TCPConn).SetLinger(0)
		data.Close() // RST
		code, msg := rc.Reply()
		checkTransferReply(t, "STOR reset by the client", code, msg, 426, "reset")
		f.WaitXfer(1, 5*time.Second)
		if st := f.Xfer(); st[0] != "i" {
			t.Errorf("xferlog: %v, want i", st)
		}
	})

	t.Run("disk full", func(t *testing.T) {
		mnt := mountSmallTmpfs(t, "size=1m,mode=0755")
		f := newFixture(t, testutil.DaemonOptions{Xferlog: true})
		f.EditConfig(fmt.Sprintf("root = %q", f.Root), fmt.Sprintf("root = %q", mnt))
		f.Serve()
		rc := f.Client()
		data := rc.OpenData()
		rc.Expect(150, "STOR big.bin")
		go func() {
			data.Write(bytes.Repeat([]byte("d"), 3<<20)) // fails once the server stops reading
			data.Close()
		}()
		code, msg := rc.Reply()
		checkTransferReply(t, "STOR on a full disk", code, msg, 452, "storage space")
		f.WaitXfer(1, 5*time.Second)
		if st := f.Xfer(); st[0] != "i" {
			t.Errorf("xferlog: %v, want i", st)
		}
	})

	t.Run("file too large", func(t *testing.T) {
		testutil.RequireTool(t, "prlimit")
		f := newFixture(t, testutil.DaemonOptions{Xferlog: true})
		d := f.Serve("prlimit", "--fsize=1048576", "--")
		rc := f.Client()
		data := rc.OpenData()
		rc.Expect(150, "STOR big.bin")
		go func() {
			data.Write(bytes.Repeat([]byte("f"), 3<<20))
			data.Close()
		}()
		code, msg := rc.Reply()
		checkTransferReply(t, "STOR over RLIMIT_FSIZE", code, msg, 552, "storage allocation")
		f.WaitXfer(1, 5*time.Second)
		if st := f.Xfer(); st[0] != "i" {
			t.Errorf("xferlog: %v, want i", st)
		}
		if d.Exited() {
			t.Errorf("the daemon died of SIGXFSZ: %v", d.Err())
		}
	})

}
