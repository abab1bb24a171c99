package driver

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

const zeroCopySize = 8 << 20

// zeroCopyHelperEnv makes TestZeroCopyHelper run: TestZeroCopySyscalls starts this test binary
// under strace with it set.
const zeroCopyHelperEnv = "TUNNELFTPD_DRIVER_ZEROCOPY_HELPER"

func TestFileKeepsZeroCopyInterfaces(t *testing.T) {
	var f any = &File{}
	if _, ok := f.(io.WriterTo); !ok {
		t.Error("*File is not an io.WriterTo: RETR would lose sendfile and its own buffer")
	}
	if _, ok := f.(io.ReaderFrom); !ok {
		t.Error("*File is not an io.ReaderFrom: STOR would lose splice")
	}
}

// TestZeroCopyTCP moves 8 MiB each way over a loopback TCP connection the way ftpserverlib does
// (io.Copy between a *net.TCPConn and the handle), and checks the data and the counts, with
// RETR copying (the default) and through sendfile.
func TestZeroCopyTCP(t *testing.T) {
	loopbackTransfers(t, Options{})
	loopbackTransfers(t, Options{Sendfile: true})
}

// TestZeroCopyTCPWithPolicy is TestZeroCopyTCP under a ten-rule access policy: the policy's
// checks and create modes must not put anything between the file and the socket.
func TestZeroCopyTCPWithPolicy(t *testing.T) {
	loopbackTransfers(t, Options{Policy: tenRulePolicy(t)})
	loopbackTransfers(t, Options{Policy: tenRulePolicy(t), Sendfile: true})
}

// TestZeroCopyHelper is the traced half of TestZeroCopySyscalls.
func TestZeroCopyHelper(t *testing.T) {
	if os.Getenv(zeroCopyHelperEnv) == "" {
		t.Skip("helper process for TestZeroCopySyscalls")
	}
	loopbackTransfers(t, Options{Sendfile: true})
	loopbackTransfers(t, Options{Policy: tenRulePolicy(t), Sendfile: true})
	loopbackTransfers(t, Options{})
}

// TestZeroCopySyscalls runs the loopback transfers, with Options.Sendfile without and with an
// access policy and once without it, under strace. It checks that the two downloads with
// Sendfile went through sendfile and the default one did not (it copies), and that every upload
// went through splice, which is what embedding *os.File and delegating ReadFrom is for.
func TestZeroCopySyscalls(t *testing.T) {
	if os.Getenv(zeroCopyHelperEnv) != "" {
		t.Skip("already the helper")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	out := filepath.Join(t.TempDir(), "strace.out")
	cmd := exec.Command(strace, "-f", "-qq", "-e", "trace=sendfile,splice", "-o", out,
		os.Args[0], "-test.run=^TestZeroCopyHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), zeroCopyHelperEnv+"=1")
	output, err := cmd.CombinedOutput()
	if err != nil {
		if bytes.Contains(output, []byte("ptrace")) || bytes.Contains(output, []byte("PTRACE")) {
			t.Skipf("strace cannot trace here: %s", output)
		}
		t.Fatalf("helper under strace: %v\n%s", err, output)
	}
	if !bytes.Contains(output, []byte("--- PASS: TestZeroCopyHelper")) {
		t.Fatalf("helper did not run:\n%s", output)
	}
	trace, err := os.ReadFile(out)
	must(t, err)
	totals := syscallTotals(string(trace))
	t.Logf("sendfile moved %d bytes, splice %d bytes (three transfers each way of %d bytes)", totals["sendfile"], totals["splice"], zeroCopySize)
	if totals["sendfile"] != 2*zeroCopySize {
		t.Errorf("sendfile moved %d bytes, want %d: RETR with Sendfile is not zero-copy, or the default RETR is", totals["sendfile"], 2*zeroCopySize)
	}
	// Each chunk is spliced twice: socket to pipe, pipe to file.
	if totals["splice"] < 6*zeroCopySize {
		t.Errorf("splice moved %d bytes, want at least %d: STOR is not zero-copy", totals["splice"], 6*zeroCopySize)
	}
}

// syscallResult matches a finished sendfile or splice in strace -f output, also when it was
// split into "<unfinished ...>" and "<... splice resumed>".
var syscallResult = regexp.MustCompile(`(?m)^(?:\d+\s+)?(?:<\.\.\. )?(sendfile|splice)\b.*\)\s+=\s+(\d+)`)

func syscallTotals(trace string) map[string]int64 {
	totals := map[string]int64{}
	for _, m := range syscallResult.FindAllStringSubmatch(trace, -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		totals[m[1]] += n
	}
	return totals
}

func loopbackTransfers(t *testing.T, opts Options) {
	dir := t.TempDir()
	data := make([]byte, zeroCopySize)
	_, _ = rand.Read(data)
	want := sha256.Sum256(data)
	must(t, os.WriteFile(filepath.Join(dir, "down.bin"), data, 0o644))

	var transfers []Transfer
	opts.OnTransfer = func(tr Transfer) { transfers = append(transfers, tr) }
	fsys, err := New(dir, opts)
	must(t, err)
	defer fsys.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()

	// RETR: the client reads and hashes; the server copies the file to the connection.
	got := make(chan [32]byte, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			got <- [32]byte{}
			return
		}
		defer c.Close()
		h := sha256.New()
		_, _ = io.Copy(h, c)
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		got <- sum
	}()
	conn := accept(t, ln)
	h, err := fsys.GetHandle("/down.bin", os.O_RDONLY, 0)
	must(t, err)
	n, err := io.Copy(conn, h)
	if err != nil || n != zeroCopySize {
		t.Fatalf("RETR copy: %d bytes, %v", n, err)
	}
	_ = conn.Close()
	must(t, h.Close())
	if sum := <-got; sum != want {
		t.Error("RETR: the client received different data")
	}

	// STOR: the client sends; the server copies the connection to the file.
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		_, _ = io.Copy(c, bytes.NewReader(data))
		_ = c.Close()
	}()
	conn = accept(t, ln)
	h, err = fsys.GetHandle("/up.bin", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0)
	must(t, err)
	n, err = io.Copy(h, conn)
	if err != nil || n != zeroCopySize {
		t.Fatalf("STOR copy: %d bytes, %v", n, err)
	}
	_ = conn.Close()
	must(t, h.Close())
	stored, err := os.ReadFile(filepath.Join(dir, "up.bin"))
	must(t, err)
	if sha256.Sum256(stored) != want {
		t.Error("STOR: the file holds different data")
	}

	if len(transfers) != 2 {
		t.Fatalf("got %d transfers, want 2", len(transfers))
	}
	for i, tr := range transfers {
		if tr.Bytes != zeroCopySize || tr.Err != nil || tr.Upload != (i == 1) {
			t.Errorf("transfer %d = %+v, want %d bytes, no error", i, tr, zeroCopySize)
		}
	}
}

// accept returns the next connection as a *net.TCPConn, the type that lets (*os.File).WriteTo
// and ReadFrom use sendfile and splice.
func accept(t *testing.T, ln net.Listener) *net.TCPConn {
	t.Helper()
	c, err := ln.Accept()
	must(t, err)
	tc, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("accepted %T, want *net.TCPConn", c)
	}
	return tc
}
