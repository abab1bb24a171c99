package launchtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestCommandRunsOnlyOnCompleteLine: a command runs only once its line
// has ended (LF). "DELE name" followed, after the idle timeout, by ".bak"
// used to delete name: the library executed the fragment it held when the
// read deadline hit, then armed the deadline again. Now the timeout
// mid-line ends the session with 421 and nothing is deleted; a slow sender
// (one byte at a time) is cut at the idle timeout too, not kept alive by
// each byte; and pipelined lines split anywhere still run one by one.
func TestCommandRunsOnlyOnCompleteLine(t *testing.T) {
	f := newFixture(t, testutil.DaemonOptions{IdleTimeout: "1s", Wait: "0s"})
	f.Serve()
	for _, name := range []string{"name", "name.bak"} {
		if err := os.WriteFile(filepath.Join(f.Root, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("fragment at the idle timeout", func(t *testing.T) {
		rc := f.Client()
		rc.Timeout = 10 * time.Second
		if _, err := rc.C.Write([]byte("DELE name")); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		code, msg, err := rc.TryReply()
		waited := time.Since(began)
		if err != nil || code != 421 {
			t.Errorf("a line cut by the idle timeout: %d %q %v, want 421", code, msg, err)
		}
		rc.C.Write([]byte(".bak\r\n")) // the rest, too late: the session is over
		if code, msg, err := rc.TryReply(); err == nil {
			t.Errorf("the session answered after its 421: %d %q", code, msg)
		}
		for _, name := range []string{"name", "name.bak"} {
			if _, err := os.Stat(filepath.Join(f.Root, name)); err != nil {
				t.Errorf("%s: %v (a fragment of a line ran as a command)", name, err)
			}
		}
		if !t.Failed() {
			t.Logf("DELE fragment: %d after %v, nothing deleted", code, waited.Round(10*time.Millisecond))
		}
	})

	t.Run("one byte at a time", func(t *testing.T) {
		rc := f.Client()
		rc.Timeout = 10 * time.Second
		line := "DELE name.bak\r\n"
		began := time.Now()
		closed := false
		for i := 0; i < len(line) && !closed; i++ {
			if _, err := rc.C.Write([]byte{line[i]}); err != nil {
				closed = true
				break
			}
			// One byte every 300ms: each well inside idle_timeout, the
			// line as a whole far beyond it. Reading for the 300ms is the
			// pause between bytes.
			rc.C.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if code, _, err := testutil.ReadReply(rc.R); err == nil {
				if code != 421 {
					t.Fatalf("reply %d to a line still being sent", code)
				}
				closed = true
			}
		}
		took := time.Since(began)
		if !closed {
			t.Errorf("a line sent one byte per 300ms was still read after %v (idle_timeout 1s)", took)
		}
		if took > 3*time.Second {
			t.Errorf("the slow line was cut after %v, want about idle_timeout (1s)", took)
		}
		if _, err := os.Stat(filepath.Join(f.Root, "name.bak")); err != nil {
			t.Errorf("name.bak: %v", err)
		}
		if !t.Failed() {
			t.Logf("slow sender: 421 after %v", took.Round(10*time.Millisecond))
		}
	})

	t.Run("pipelined lines split anywhere", func(t *testing.T) {
		rc := f.Client()
		text := strings.Repeat("NOOP\r\n", 50) + "PWD\nNOOP\r\n"
		for i := 0; i < len(text); i += 7 {
			if _, err := rc.C.Write([]byte(text[i:min(i+7, len(text))])); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 52 {
			code, msg := rc.Reply()
			want := 200
			if i == 50 {
				want = 257
			}
			if code != want {
				t.Fatalf("reply %d: %d %q, want %d", i, code, msg, want)
			}
		}
	})
}
