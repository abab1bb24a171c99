package testutil

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDaemonConfig: the config file holds the options set, leaves out the
// ones not set, and keeps the layout tests edit (top-level keys, then
// [passive], [log], [auth]); the user's root holds hello.txt.
func TestDaemonConfig(t *testing.T) {
	d := NewDaemon(t, "/bin/false", DaemonOptions{Banner: "hi", MaxSessions: 7, ShutdownTimeout: "2s",
		Ports: [2]int{30000, 30004}, Wait: "1s", LogLevel: "debug", Xferlog: true})
	text := d.ConfigText()
	for _, want := range []string{
		`listen = "` + d.Addr + `"` + "\nbanner = \"hi\"\nmax_sessions = 7\nshutdown_timeout = \"2s\"\n[passive]\n" +
			"ports = \"30000-30004\"\nwait = \"1s\"\n[log]\nlevel = \"debug\"\noutput = \"" + d.LogFile + "\"\nxferlog = \"" + d.Xferlog + "\"\n[auth]\n",
		`name = "alice"`, `root = "` + d.Root + `"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("config lacks %q:\n%s", want, text)
		}
	}
	for _, absent := range []string{"data_timeout", "idle_timeout", "address", "accept_timeout"} {
		if strings.Contains(text, absent) {
			t.Errorf("config has %s, not set:\n%s", absent, text)
		}
	}
	if !strings.HasPrefix(d.Addr, "127.0.0.1:") || d.Port == 0 || d.First != 30000 || d.Last != 30004 {
		t.Errorf("Addr %s Port %d range %d-%d", d.Addr, d.Port, d.First, d.Last)
	}
	if b, err := os.ReadFile(filepath.Join(d.Root, HelloName)); err != nil || string(b) != HelloText {
		t.Errorf("hello.txt: %q %v", b, err)
	}
	d.EditConfig(`banner = "hi"`, `banner = "ho"`)
	if !strings.Contains(d.ConfigText(), `banner = "ho"`) {
		t.Error("EditConfig did not edit")
	}
	if f := run(t, func(tb testing.TB) {
		d.T = tb
		d.EditConfig("no such text", "x")
	}); !strings.Contains(f.failed, "is not in") {
		t.Errorf("EditConfig of absent text: %q", f.failed)
	}
	d.T = t

	o := NewDaemon(t, "/bin/false", DaemonOptions{LogOutput: "stderr", PortCount: 2})
	if o.LogFile != "" || o.Xferlog != "" || o.Logs() != "" || o.Xfer() != nil || o.Last != o.First+1 {
		t.Errorf("stderr logging: LogFile %q Xferlog %q, range %d-%d", o.LogFile, o.Xferlog, o.First, o.Last)
	}
}

// TestDaemonLogs: WaitLog, WaitXfer and Xfer read what the daemon wrote.
func TestDaemonLogs(t *testing.T) {
	d := NewDaemon(t, "/bin/false", DaemonOptions{Xferlog: true})
	os.WriteFile(d.LogFile, []byte("level=INFO msg=serving mode=standalone\n"), 0o644)
	os.WriteFile(d.Xferlog, []byte("Mon Jan  1 00:00:00 2024 0 127.0.0.1 5 /a b _ o r alice ftp 0 * c\n"+
		"Mon Jan  1 00:00:00 2024 0 127.0.0.1 5 /b b _ i r alice ftp 0 * i\n"), 0o644)
	m := d.WaitLog(regexp.MustCompile(`msg=serving mode=(\w+)`), 10*time.Second)
	if m[1] != "standalone" {
		t.Errorf("WaitLog: %q", m)
	}
	d.WaitXfer(2, 10*time.Second)
	if got := strings.Join(d.Xfer(), " "); got != "c i" {
		t.Errorf("Xfer: %q", got)
	}
	if f := run(t, func(tb testing.TB) {
		d.T = tb
		d.WaitLog(regexp.MustCompile(`never`), 100*time.Millisecond)
	}); !strings.Contains(f.failed, "nothing matched never") || !strings.Contains(f.failed, "msg=serving") {
		t.Errorf("WaitLog timeout: %q", f.failed)
	}
	if f := run(t, func(tb testing.TB) {
		d.T = tb
		d.WaitXfer(3, 100*time.Millisecond)
	}); !strings.Contains(f.failed, "xferlog has 2 lines") {
		t.Errorf("WaitXfer timeout: %q", f.failed)
	}
}

// TestWaitText: the wait polls until the text matches, however many looks
// that takes.
func TestWaitText(t *testing.T) {
	calls := 0
	text := func() string {
		calls++
		if calls < 4 {
			return "not yet"
		}
		return "ready port=2121"
	}
	if m := WaitText(t, "the text", text, regexp.MustCompile(`port=(\d+)`), 10*time.Second); m[1] != "2121" || calls != 4 {
		t.Errorf("WaitText: %q after %d looks, want 2121 after 4", m, calls)
	}
	if !Poll(time.Second, time.Millisecond, func() bool { calls++; return calls > 10 }) {
		t.Error("Poll gave up")
	}
	if Poll(30*time.Millisecond, time.Millisecond, func() bool { return false }) {
		t.Error("Poll of a false condition held")
	}
}
