package registry

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The helper process: with TUNNELFTPD_REGISTRY_HELPER=dir it joins the registry in dir as
// session 77, adds 1000 to a counter, says "ready" and waits to be killed (or for
// standard input to close).
func TestMain(m *testing.M) {
	if dir := os.Getenv("TUNNELFTPD_REGISTRY_HELPER"); dir != "" {
		os.Exit(helper(dir))
	}
	os.Exit(m.Run())
}

func helper(dir string) int {
	reg, err := Open(dir)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	s, err := reg.Join(Entry{Session: 77, User: "killed", Kind: "virtual", Class: "c", Connected: time.Now(), Command: "PASS hunter2"})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	c, err := OpenCounters(dir)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	for range 1000 {
		if err := c.Add("events_total", 1, Label{"who", "helper"}); err != nil {
			fmt.Println("error:", err)
			return 1
		}
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n') //nolint:errcheck // any end will do
	s.Leave()
	return 0
}

// startHelper runs the helper process on dir and waits for its "ready".
func startHelper(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TUNNELFTPD_REGISTRY_HELPER="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill() //nolint:errcheck // it may be gone already
		cmd.Wait()         //nolint:errcheck // killed on purpose
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	return cmd
}

func TestJoinUpdateLeave(t *testing.T) {
	dir := t.TempDir()
	reg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	now := time.Now()
	a, err := reg.Join(Entry{Session: 1, Connected: now, Client: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := reg.Join(Entry{Session: 2, Connected: now.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Update(func(e *Entry) {
		e.User, e.Kind, e.Login, e.Path = "alice", "virtual", now, "/pub"
		e.Command = "RETR big.iso"
		e.Transfer = &Transfer{Path: "/pub/big.iso", Started: now, Bytes: 4096, Updated: now.Add(2 * time.Second)}
	}); err != nil {
		t.Fatal(err)
	}
	es, err := ReadDir(dir) // another description, as tunnelftpd who reads it
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Session != 1 || es[1].Session != 2 {
		t.Fatalf("listed %+v, want sessions 1 and 2", es)
	}
	got := es[0]
	if got.PID != os.Getpid() || got.User != "alice" || got.Path != "/pub" || got.Command != "RETR big.iso" ||
		got.Client != "192.0.2.1" || got.Transfer == nil || got.Transfer.Rate() != 2048 {
		t.Errorf("entry %+v (transfer %+v)", got, got.Transfer)
	}
	own, err := reg.List() // the process's own sessions, through its second description
	if err != nil || len(own) != 2 {
		t.Fatalf("List: %d entries, %v", len(own), err)
	}
	b.Leave()
	b.Leave() // a second Leave does nothing
	if err := b.Update(func(e *Entry) { e.User = "ghost" }); err != nil {
		t.Fatal(err)
	}
	es, err = ReadDir(dir)
	if err != nil || len(es) != 1 || es[0].Session != 1 {
		t.Fatalf("after Leave: %+v, %v", es, err)
	}
	// The freed slot is taken again.
	c, err := reg.Join(Entry{Session: 3})
	if err != nil {
		t.Fatal(err)
	}
	if c.idx != b.idx {
		t.Errorf("new session in slot %d, want the freed slot %d", c.idx, b.idx)
	}
}

func TestPassArgumentNeverStored(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"PASS hunter2", "PASS ****"},
		{"pass hunter2\r\n", "PASS ****"},
		{"ACCT secret", "ACCT ****"},
		{"PASS", "PASS"},
		{"RETR a\x00b\x1b[2J", "RETR a?b?[2J"},
		{"USER " + strings.Repeat("x", 400), "USER " + strings.Repeat("x", 251)},
	} {
		if got := SafeCommand(tc.in); got != tc.want {
			t.Errorf("SafeCommand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	dir := t.TempDir()
	reg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	s, err := reg.Join(Entry{Session: 1, Command: "PASS hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(e *Entry) { e.Command = "Pass hunter3 with blanks" }); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, SessionsFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("hunter")) {
		t.Errorf("a password reached the sessions file")
	}
}

func TestKilledProcessLeavesNoSession(t *testing.T) {
	dir := t.TempDir()
	cmd := startHelper(t, dir)
	es, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].PID != cmd.Process.Pid || es[0].User != "killed" || es[0].Command != "PASS ****" {
		t.Fatalf("while the helper runs: %+v", es)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() //nolint:errcheck // killed
	raw, err := os.ReadFile(filepath.Join(dir, SessionsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"user":"killed"`)) {
		t.Fatal("the killed session's record should still be in the file (only its lock went away)")
	}
	es, err = ReadDir(dir)
	if err != nil || len(es) != 0 {
		t.Fatalf("after SIGKILL: %+v, %v; want no session", es, err)
	}
	// Its counts stay: they are totals, not sessions.
	samples, err := ReadCounters(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 1 || samples[0].Value != 1000 {
		t.Fatalf("counters after SIGKILL: %+v", samples)
	}
	// And its slot is free for the next process.
	reg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	s, err := reg.Join(Entry{Session: 1})
	if err != nil || s.idx != 0 {
		t.Fatalf("Join after the kill: slot %v, %v; want slot 0", s, err)
	}
}

// A reader never sees a half-written entry, however often the writer rewrites it.
func TestListWhileWriting(t *testing.T) {
	dir := t.TempDir()
	reg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	s, err := reg.Join(Entry{Session: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 3000 {
			s.Update(func(e *Entry) { e.Command = "RETR " + strings.Repeat(strconv.Itoa(i%10), 200+i%300) }) //nolint:errcheck // checked by Err
		}
	}()
	reads := 0
	for running := true; running; reads++ {
		select {
		case <-done:
			running = false
		default:
		}
		es, err := ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 {
			t.Fatalf("read %d: %d entries, want 1", reads, len(es))
		}
		cmd := strings.TrimPrefix(es[0].Command, "RETR ")
		if cmd != "" && strings.Trim(cmd, cmd[:1]) != "" {
			t.Fatalf("read %d: torn command %q", reads, es[0].Command)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestEntriesAreBounded(t *testing.T) {
	dir := t.TempDir()
	reg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctl := strings.Repeat("\x01", 2000) // each becomes '?', no escaping blow-up
	quote := strings.Repeat(`"\`, 2000) // each byte escaped to two
	s, err := reg.Join(Entry{Session: 1, User: quote, Path: quote, Command: "CWD " + quote, SSHUser: ctl,
		Transfer: &Transfer{Path: quote}})
	if err != nil {
		t.Fatal(err)
	}
	es, err := ReadDir(dir)
	if err != nil || len(es) != 1 {
		t.Fatalf("%d entries, %v", len(es), err)
	}
	if len(es[0].SSHUser) != 64 || strings.Trim(es[0].SSHUser, "?") != "" || len(es[0].Path) == 0 {
		t.Errorf("bounded entry: ssh_user %q, path length %d", es[0].SSHUser, len(es[0].Path))
	}
	s.Leave()
}

func TestRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(dir, SessionsFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("Open followed a symlinked sessions file")
	}
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, CountersFile), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir2, CountersFile), 0o666) //nolint:errcheck // checked by the open
	if _, err := OpenCounters(dir2); err == nil || !strings.Contains(err.Error(), "lets others write") {
		t.Errorf("OpenCounters of a world-writable file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir2, SessionsFile), []byte("something else\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir2); err == nil || !strings.Contains(err.Error(), "not a tunnelftpd sessions file") {
		t.Errorf("Open of a foreign file: %v", err)
	}
	if es, err := ReadDir(t.TempDir()); err != nil || es != nil {
		t.Errorf("ReadDir of an empty directory: %v, %v", es, err)
	}
}

func TestCounters(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCounters(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				c.Add("transfers_total", 1, Label{"direction", "upload"})        //nolint:errcheck // checked below
				c.Add("bytes_total", 10, Label{"direction", "upload"})           //nolint:errcheck // checked below
				c.Add("odd\x1ename", 1, Label{"class", strings.Repeat("é", 80)}) //nolint:errcheck // checked below
			}
		}()
	}
	wg.Wait()
	startHelper(t, dir) // adds 1000 to events_total{who="helper"} from another process
	c2, err := OpenCounters(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Add("events_total", 5, Label{"who", "helper"}); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	samples, err := ReadCounters(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		key := s.Name
		for _, l := range s.Labels {
			key += "," + l.Name + "=" + l.Value
		}
		got[key] = s.Value
	}
	long := "odd_name,class=" + strings.Repeat("é", (counterKeyMax-len("odd_name\x1eclass\x1f"))/2)
	want := map[string]uint64{
		"transfers_total,direction=upload": 2000,
		"bytes_total,direction=upload":     20000,
		"events_total,who=helper":          1005,
		long:                               2000,
	}
	if len(got) != len(want) {
		t.Errorf("counters %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// A record whose slot lock nobody holds is no session, even when its pid is a live process (a
// pid reused after the writer died, say).
func TestUnlockedRecordIsNoSession(t *testing.T) {
	dir := t.TempDir()
	reg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	rec, err := encode(&Entry{PID: os.Getpid(), Session: 9, User: "stale"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.f.WriteAt(rec, slotOffset(3)); err != nil {
		t.Fatal(err)
	}
	live, err := reg.Join(Entry{Session: 1, User: "live"})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Leave()
	es, err := ReadDir(dir)
	if err != nil || len(es) != 1 || es[0].User != "live" {
		t.Fatalf("listed %+v, %v; want only the live session", es, err)
	}
}
