package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParsePasv(t *testing.T) {
	tests := []struct {
		text string
		ip   string
		port int
		bad  bool
	}{
		{"Entering Passive Mode (127,0,0,1,121,44).", "127.0.0.1", 121<<8 | 44, false},
		{"Entering Passive Mode (127,0,0,1,121,44)", "127.0.0.1", 31020, false},
		{"PASV ok 10,1,2,3,0,21", "10.1.2.3", 21, false},
		{"Entering Passive Mode (127,0,0,1,121)", "", 0, true},
		{"Entering Passive Mode (127,0,0,1,300,1)", "", 0, true},
		{"no numbers", "", 0, true},
	}
	for _, tt := range tests {
		ip, port, err := parsePasv(tt.text)
		if (err != nil) != tt.bad || ip != tt.ip || port != tt.port {
			t.Errorf("parsePasv(%q) = %q, %d, %v; want %q, %d, error %v", tt.text, ip, port, err, tt.ip, tt.port, tt.bad)
		}
	}
}

func TestFailureKey(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&ReplyError{Cmd: "PASV", Code: 425, Text: "busy"}, "425 (PASV)"},
		{fmt.Errorf("wrapped: %w", &ReplyError{Cmd: "connect", Code: 421}), "421 (connect)"},
		{&StageError{Stage: "PASV", Err: fmt.Errorf("%w: 40000", ErrPasvOutOfRange)}, "PASV port outside range"},
		{&StageError{Stage: "data-connect", Err: syscall.ECONNREFUSED}, "data-connect: refused"},
		{&StageError{Stage: "banner", Err: io.EOF}, "banner: closed"},
		{&StageError{Stage: "RETR data", Err: os.ErrDeadlineExceeded}, "RETR data: timeout"},
	}
	for _, tt := range tests {
		if got := FailureKey(tt.err); got != tt.want {
			t.Errorf("FailureKey(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestDigest checks that the chunked digest sees every byte, across chunks.
func TestDigest(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	size := int64(ChunkSize + 12345)
	if err := GenFile(a, size, 1); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	data[ChunkSize+7] ^= 1 // one bit in the second chunk
	if err := os.WriteFile(b, data, 0o644); err != nil {
		t.Fatal(err)
	}
	da, err := FileDigest(a, 2)
	if err != nil {
		t.Fatal(err)
	}
	da2, _ := FileDigest(a, 1)
	db, _ := FileDigest(b, 2)
	if da.Size != size || len(da.Chunks) != 2 || !da.Equal(da2) {
		t.Fatalf("digest of %d bytes: %d chunks, size %d, stable %v", size, len(da.Chunks), da.Size, da.Equal(da2))
	}
	if da.Equal(db) {
		t.Fatal("a one-bit change in the second chunk went unnoticed")
	}
}

// TestRawServer moves a file both ways through the limit helper.
func TestRawServer(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	const size = 3<<20 + 17
	if err := GenFile(filepath.Join(src, "f.bin"), size, 7); err != nil {
		t.Fatal(err)
	}
	ls, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lr, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close(); lr.Close() })
	go (&RawServer{SrcDir: src, Dir: dst}).Serve(ls, lr)

	want, _ := FileDigest(filepath.Join(src, "f.bin"), 2)
	down := filepath.Join(t.TempDir(), "down")
	f, _ := os.Create(down)
	n, err := RawDownload(ls.Addr().String(), "f.bin", f, 10*time.Second)
	f.Close()
	if err != nil || n != size {
		t.Fatalf("RawDownload: %d bytes, %v", n, err)
	}
	if err := checkFile(down, want); err != nil {
		t.Fatal(err)
	}

	in, _ := os.Open(filepath.Join(src, "f.bin"))
	defer in.Close()
	n, path, err := RawUpload(lr.Addr().String(), in, 10*time.Second)
	if err != nil || n != size || !strings.HasPrefix(path, dst) {
		t.Fatalf("RawUpload: %d bytes to %q, %v", n, path, err)
	}
	if err := checkFile(path, want); err != nil {
		t.Fatal(err)
	}
}

// TestClientAgainstScript runs the client against a scripted server: login,
// a PASV outside the range refused as the tunnel would, then a RETR.
func TestClientAgainstScript(t *testing.T) {
	ctrl, _ := net.Listen("tcp", "127.0.0.1:0")
	data, _ := net.Listen("tcp", "127.0.0.1:0")
	t.Cleanup(func() { ctrl.Close(); data.Close() })
	dport := data.Addr().(*net.TCPAddr).Port
	payload := bytes.Repeat([]byte("tunnel"), 1000)
	go func() {
		c, err := ctrl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 512)
		say := func(s string) { io.WriteString(c, s+"\r\n") }
		say("220-hello")
		say("220 ready")
		pasv := 0
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			switch cmd := strings.Fields(string(buf[:n]))[0]; cmd {
			case "USER":
				say("331 password")
			case "PASS":
				say("230 in")
			case "PASV":
				pasv++
				port := dport
				if pasv == 1 {
					port = 40000 // outside the range
				}
				say(fmt.Sprintf("227 Entering Passive Mode (127,0,0,1,%d,%d)", port>>8, port&255))
			case "RETR":
				d, err := data.Accept()
				if err != nil {
					return
				}
				say("150 here")
				d.Write(payload)
				d.Close()
				say("226 done")
			case "QUIT":
				say("221 bye")
				return
			}
		}
	}()
	pasv := Passive{First: dport, Last: dport, Address: "127.0.0.1"}
	c, banner, err := Dial(ctrl.Addr().String(), pasv, 5*time.Second)
	if err != nil || banner <= 0 {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Quit()
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Retr("f", io.Discard); !errors.Is(err, ErrPasvOutOfRange) {
		t.Fatalf("PASV outside the range: got %v, want ErrPasvOutOfRange", err)
	}
	var got bytes.Buffer
	if n, err := c.Retr("f", &got); err != nil || n != int64(len(payload)) || !bytes.Equal(got.Bytes(), payload) {
		t.Fatalf("Retr: %d bytes, %v", n, err)
	}
}

// TestTableAndVerify renders a synthetic run and checks the verdicts.
func TestTableAndVerify(t *testing.T) {
	cfg := &Config{
		Servers: []Server{{Name: Ours, PID: 1}, {Name: "vsftpd", PID: 2}},
		Sizes:   Sizes{BigMiB: 1024, TunnelMiB: 512, Clients: []int{20}, ConcMiB: 4, SmallFiles: 2000, SmallKiB: 4, ListEntries: 10000, Idle: 1000},
	}
	add := func(phase, server, metric string, v float64, err string, extra map[string]any) Result {
		return Result{Phase: phase, Server: server, Metric: metric, Value: v, Err: err, OK: 1, Extra: extra}
	}
	results := []Result{
		add("loopback", Ours, "retr_mibps", 1000, "", nil),
		add("loopback", "vsftpd", "retr_mibps", 900, "", nil),
		add("loopback", LimitServer, "retr_mibps", 1200, "", nil), // 1000 < 0.9*1200: missed
		add("loopback", Ours, "stor_mibps", 800, "", nil),
		add("loopback", "vsftpd", "stor_mibps", 700, "", nil),
		add("loopback", LimitServer, "stor_mibps", 900, "", nil),
		add("concurrency", Ours, "conc20_ok", 20, "", map[string]any{"clients": 20}),
		add("concurrency", "vsftpd", "conc20_ok", 7, "", map[string]any{"clients": 20}),
		add("files", Ours, "list_ms", 30, "", nil),
		add("files", "vsftpd", "list_ms", 40, "", nil),
		{Phase: "files", Server: "vsftpd", Metric: "mlsd_ms", Err: "not supported (500 Unknown command.)"},
		add("sessions", Ours, "idle_rss_kib", 50, "", nil),
	}
	results[7].Failures = map[string]int{"425 (PASV)": 13}
	table, checks := Table(results, cfg)
	for _, want := range []string{"RETR 1 GiB loopback", "20/20", "7/20", "x1.33 (vsftpd)", "n/a", "425 (PASV) x13"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	verdict := map[string]bool{}
	for _, c := range checks {
		if c.Met != nil {
			verdict[c.Label] = *c.Met
		}
	}
	wantVerdicts := map[string]bool{
		"RETR 1 GiB loopback MiB/s": false, // beats the peer, but under 0.9 x sendfile
		"STOR 1 GiB loopback MiB/s": true,
		"20 clients x 4 MiB: ok":    true,
		"LIST 10000 entries ms":     true,
		"idle: RSS KiB/session":     true,
	}
	for label, want := range wantVerdicts {
		if got, ok := verdict[label]; !ok || got != want {
			t.Errorf("verdict %q = %v (present %v), want %v", label, got, ok, want)
		}
	}
	problems := Verify(results, cfg, []string{"loopback", "concurrency"})
	// The peer's concurrency failures are a result, not breakage; a missing
	// tunnel phase is not expected; nothing else is missing in these phases.
	if len(problems) != 0 {
		t.Errorf("Verify: unexpected problems %q", problems)
	}
	results[0].Err = "sha256 mismatch"
	if problems := Verify(results, cfg, []string{"loopback"}); len(problems) != 1 {
		t.Errorf("Verify after a checksum failure: %q, want one problem", problems)
	}
}

// TestPairedRatios: per-run ratios, not ratios of medians, decide throughput
// targets when the paired figure is present; the peer they compare with is
// the run's best by median, not whichever peer was best in each run.
func TestPairedRatios(t *testing.T) {
	servers := []Server{{Name: Ours}, {Name: "vsftpd"}, {Name: "proftpd"}}
	k := func(s string) [2]string { return [2]string{s, "retr_mibps"} }
	runs := []map[[2]string]float64{
		{k(Ours): 100, k("vsftpd"): 90, k("proftpd"): 95, k(LimitServer): 105},
		{k(Ours): 50, k("vsftpd"): 40, k("proftpd"): 45, k(LimitServer): 52}, // a busy moment: all slower
		{k(Ours): 200, k("vsftpd"): 190, k(LimitServer): 210},
	}
	r, ok := pairedRatios("loopback", "retr_mibps", runs, servers, nil)
	if !ok {
		t.Fatal("no paired result")
	}
	// vsftpd's median (90) beats proftpd's (70: 95 and 45): vsftpd is the best peer of the run.
	if got := r.Extra["vs_peer"].(float64); got < 1.11 || got > 1.12 || r.Extra["best_peer"] != "vsftpd" {
		t.Errorf("vs_peer = %v against %v, want vsftpd's: the median of 100/90, 50/40, 200/190 = 1.111", got, r.Extra["best_peer"])
	}
	if got := r.Extra["vs_peer_max"].(float64); got < 1.05 || got > 1.06 {
		t.Errorf("vs_peer_max = %v, want the median of 100/95, 50/45, 200/190 = 1.053", got)
	}
	if got := r.Extra["vs_limit"].(float64); got < 0.95 || got > 0.96 {
		t.Errorf("vs_limit = %v, want the median of 100/105, 50/52, 200/210 = 0.952", got)
	}
	// Each peer best in one run by far: the fixed best peer (B, median 91) is not each run's best.
	three := []Server{{Name: Ours}, {Name: "A"}, {Name: "B"}, {Name: "C"}}
	byPeer := func(a, b, c float64) map[[2]string]float64 {
		return map[[2]string]float64{k(Ours): 100, k("A"): a, k("B"): b, k("C"): c}
	}
	r3, _ := pairedRatios("tunnel", "retr_mibps", []map[[2]string]float64{byPeer(130, 90, 90), byPeer(90, 130, 91), byPeer(90, 91, 130)}, three, nil)
	if got := r3.Extra["vs_peer"].(float64); r3.Extra["best_peer"] != "B" || got < 1.09 || got > 1.10 {
		t.Errorf("vs_peer = %v against %v, want B's: the median of 100/90, 100/130, 100/91 = 1.099", got, r3.Extra["best_peer"])
	}
	if got := r3.Extra["vs_peer_max"].(float64); got < 0.76 || got > 0.77 {
		t.Errorf("vs_peer_max = %v, want 100/130 = 0.769 (the luckiest peer of each run)", got)
	}
	// A peer with a figure in one run of three (it failed in the others) is not the best peer,
	// however fast that one run was.
	r4, _ := pairedRatios("tunnel", "retr_mibps", []map[[2]string]float64{
		{k(Ours): 100, k("A"): 90, k("B"): 500}, {k(Ours): 100, k("A"): 90}, {k(Ours): 100, k("A"): 90}}, three, nil)
	if r4.Extra["best_peer"] != "A" || r4.Extra["vs_peer_n"] != 3 {
		t.Errorf("best peer %v over %v runs, want A over 3 (B has a figure in one run of three)", r4.Extra["best_peer"], r4.Extra["vs_peer_n"])
	}
	// A peer the table leaves out (a failed transfer in its runs: see canBeBestPeer) is not the best
	// peer either, though it has a figure in every run.
	same := []map[[2]string]float64{byPeer(90, 120, 80), byPeer(90, 120, 80), byPeer(90, 120, 80)}
	withErr := []Result{{Phase: "tunnel", Server: "B", Metric: "retr_mibps", Value: 120, OK: 3, Err: "run 2: 426"},
		{Phase: "tunnel", Server: "A", Metric: "retr_mibps", Value: 90, OK: 3},
		{Phase: "tunnel", Server: "C", Metric: "stor_mibps", Value: 80, OK: 3, Err: "another metric's failure"}}
	r5, _ := pairedRatios("tunnel", "retr_mibps", same, three, leftOutPeers(withErr, "retr_mibps"))
	if r5.Extra["best_peer"] != "A" {
		t.Errorf("best peer %v, want A: B's retr figure carries an error, so the table leaves B out", r5.Extra["best_peer"])
	}
	if got := leftOutPeers(withErr, "retr_mibps"); len(got) != 1 || !got["B"] {
		t.Errorf("left out %v, want only B (C's error is on stor_mibps)", got)
	}
	cfg := &Config{Servers: servers, Sizes: Sizes{BigMiB: 1024}}
	results := []Result{
		{Phase: "loopback", Server: Ours, Metric: "retr_mibps", Value: 100, OK: 3},
		{Phase: "loopback", Server: "vsftpd", Metric: "retr_mibps", Value: 150, OK: 3}, // median of values says we lose
		{Phase: "loopback", Server: LimitServer, Metric: "retr_mibps", Value: 105, OK: 3},
		r,
	}
	_, checks := Table(results, cfg)
	if len(checks) != 1 || checks[0].Met == nil || !*checks[0].Met || !strings.Contains(checks[0].Detail, "paired") {
		t.Fatalf("checks = %+v, want the paired verdict: met", checks)
	}
}

// ProcessTreeUse counts the CPU a process tree has used: a child that spins
// for a while adds at least most of that to ours.
func TestProcessTreeUseCountsChildrensCPU(t *testing.T) {
	before, err := ProcessTreeUse(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The shell is our direct child (no timeout(1) in between, whose
	// kill would leave it running) and spins a bounded number of times,
	// with no child processes of its own; it is killed once seen.
	cmd := exec.Command("sh", "-c", `i=0; while [ "$i" -lt 3000000 ]; do i=$((i+1)); done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		now, err := ProcessTreeUse(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now.CPU-before.CPU >= 200*time.Millisecond {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling the counter, bounded by the deadline
	}
	t.Errorf("the tree's CPU time did not grow by 200 ms while a child spun")
}

// ProcessTreeUse counts this process's read calls and the bytes they returned.
func TestProcessTreeUseCountsReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := ProcessTreeUse(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	after, err := ProcessTreeUse(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	d := after.Sub(before)
	if d.ReadCall < 20 || d.ReadByte < 20*64<<10 {
		t.Errorf("after 20 reads of 64 KiB: %d read calls, %d bytes", d.ReadCall, d.ReadByte)
	}
	if d.VolCS < 0 || d.InvolCS < 0 || d.CPU < 0 {
		t.Errorf("counters went back: %+v", d)
	}
}
