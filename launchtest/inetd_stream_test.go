package launchtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestInetdControlStreamIsOnlyReplies: with --inetd, fds 0, 1 and 2 are the
// client's socket (as inetd sets them up: systemd-socket-activate --inetd
// sets 0 and 1, a shell adds 2). At log.level = debug, with every log
// destination, the client must read FTP replies and nothing else.
func TestInetdControlStreamIsOnlyReplies(t *testing.T) {
	testutil.RequireTool(t, "systemd-socket-activate")
	t.Parallel()
	for _, output := range []string{"stderr", "auto", "file"} {
		t.Run(output, func(t *testing.T) {
			t.Parallel()
			o := testutil.DaemonOptions{LogLevel: "debug", LogOutput: output}
			if output == "file" {
				o.LogOutput = ""
			}
			f := newFixture(t, o)
			// fd 2 becomes the socket too, as under inetd and xinetd.
			p := socketActivate(t, f, nil, []string{"--accept", "--inetd"},
				"/bin/sh", "-c", `exec "$0" serve --inetd -c "$1" 2>&1`, binary, f.Config)

			// A failed login, then QUIT (unanswered if the server already
			// ended the connection after the failure).
			bad := dialStream(t, f.Addr)
			bad.send("USER %s", testUser)
			bad.send("PASS wrong")
			fmt.Fprintf(bad.C, "QUIT\r\n")
			bad.end()

			// A whole session, with a mistake or two.
			s := dialStream(t, f.Addr)
			s.send("USER %s", testUser)
			s.send("PASS %s", testPassword)
			for _, cmd := range []string{"SYST", "PWD", "TYPE I", "NOOP", "XYZZY", "RETR missing.txt", "PORT 127,0,0,1,1,1", "SIZE hello.txt"} {
				s.send("%s", cmd)
			}
			if got := s.transfer("LIST", nil); !strings.Contains(got, "hello.txt") {
				t.Errorf("LIST: %q", got)
			}
			if got := s.transfer("RETR hello.txt", nil); got != helloText {
				t.Errorf("RETR: %q", got)
			}
			s.transfer("STOR up.txt", []byte("up\n"))
			s.send("QUIT")
			s.end()

			for _, st := range []*stream{bad, s} {
				checkOnlyReplies(t, st.all())
			}
			if strings.Contains(p.Out.String(), "level=") {
				t.Errorf("daemon log lines reached standard error:\n%s", p.Out.String())
			}
			if output == "file" {
				// The lines that must not reach the client were written.
				logs := f.Logs()
				for _, want := range []string{"level=DEBUG", `msg="login failed"`, `msg="transfer complete"`} {
					if !strings.Contains(logs, want) {
						t.Errorf("log file lacks %s:\n%s", want, logs)
					}
				}
			}
		})
	}
}

// checkOnlyReplies fails unless text is a sequence of FTP replies: each line
// ends in CRLF and starts with a code and a space or dash, except the inner
// lines of a multi-line reply (code-dash ... code-space).
func checkOnlyReplies(t *testing.T, text string) {
	t.Helper()
	if text == "" {
		t.Fatal("no reply at all")
	}
	if !strings.HasSuffix(text, "\r\n") {
		t.Errorf("the stream does not end with CRLF: %q", text)
	}
	replyLine := regexp.MustCompile(`^\d{3}[ -]`)
	multi := ""
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\r\n") {
			t.Errorf("line without CRLF: %q", line)
		}
		switch {
		case multi != "":
			if strings.HasPrefix(line, multi+" ") {
				multi = ""
			}
		case !replyLine.MatchString(line):
			t.Errorf("not an FTP reply line: %q", line)
		case line[3] == '-':
			multi = line[:3]
		}
	}
	if multi != "" {
		t.Errorf("multi-line reply %s never ended", multi)
	}
}

// stream is a raw control connection that records every byte it reads.
type stream struct {
	*testutil.RawConn
	rec testutil.SyncBuffer
}

func dialStream(t *testing.T, addr string) *stream {
	t.Helper()
	c, err := testutil.Loopback(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &stream{}
	s.RawConn = &testutil.RawConn{T: t, C: c, R: bufio.NewReader(io.TeeReader(c, &s.rec))}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stream from %s so far: %q", addr, s.all())
		}
	})
	s.Reply()
	return s
}

// send sends a command and reads its reply.
func (s *stream) send(format string, args ...any) int {
	s.T.Helper()
	code, _ := s.Cmd(format, args...)
	return code
}

// transfer runs cmd over an EPSV data connection, sending upload if not nil,
// and returns what was received.
func (s *stream) transfer(cmd string, upload []byte) string {
	s.T.Helper()
	if upload != nil {
		s.Upload(upload, "%s", cmd)
		return ""
	}
	return string(s.Download("%s", cmd))
}

// end reads until the server closes the connection.
func (s *stream) end() {
	s.T.Helper()
	s.C.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, s.R); err != nil {
		s.T.Errorf("reading to the end: %v", err)
	}
}

func (s *stream) all() string { return s.rec.String() }

// TestInetdCrashDoesNotReachClient: when the process dies with a Go crash
// report (here SIGQUIT, which dumps every goroutine to standard error), the
// report goes to the log file (runtime/debug.SetCrashOutput) and the client,
// whose socket fds 0, 1 and 2 were, reads only FTP replies before EOF.
func TestInetdCrashDoesNotReachClient(t *testing.T) {
	testutil.RequireTool(t, "systemd-socket-activate")
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{})
	p := socketActivate(t, f, nil, []string{"--accept", "--inetd"},
		"/bin/sh", "-c", `exec "$0" serve --inetd -c "$1" 2>&1`, binary, f.Config)
	s := dialStream(t, f.Addr)
	s.send("USER %s", testUser)
	s.send("PASS %s", testPassword)
	pid := sessionPID(t, f.Logs, 1)
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	s.end()
	checkOnlyReplies(t, s.all())
	p.WaitOutput(regexp.MustCompile(fmt.Sprintf(`Child %d died with code 2\b`, pid)), 10*time.Second)
	f.WaitLog(regexp.MustCompile(`SIGQUIT: quit`), 5*time.Second)
}

// TestSingleSessionBrokenConfig: when a per-connection process cannot start
// (here a broken config), its client gets one 421 reply and nothing else;
// with --inetd the error does not reach the client, with Accept=yes it is
// on standard error (the journal) as FILE:LINE: key: problem.
func TestSingleSessionBrokenConfig(t *testing.T) {
	testutil.RequireTool(t, "systemd-socket-activate")
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ssaArgs []string
		command func(f *testutil.Daemon) []string
	}{
		{"inetd", []string{"--accept", "--inetd"}, func(f *testutil.Daemon) []string {
			return []string{"/bin/sh", "-c", `exec "$0" serve --inetd -c "$1" 2>&1`, binary, f.Config}
		}},
		{"systemd-accept-yes", []string{"--accept"}, func(f *testutil.Daemon) []string {
			return []string{binary, "serve", "-c", f.Config}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testutil.DaemonOptions{})
			f.EditConfig(fmt.Sprintf(`ports = "%d-%d"`, f.First, f.Last), `ports = "x"`)
			p := socketActivate(t, f, nil, tc.ssaArgs, tc.command(f)...)
			c, err := net.DialTimeout("tcp", f.Addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			all, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^421 [^\r\n]*\r\n$`).Match(all) {
				t.Errorf("the client got %q, want a single 421 line", all)
			}
			p.WaitOutput(regexp.MustCompile(`Child \d+ died with code 1\b`), 10*time.Second)
			errLine := regexp.QuoteMeta(f.Config) + `:\d+: passive\.ports: `
			if got := regexp.MustCompile(errLine).MatchString(p.Out.String()); got != (tc.name != "inetd") {
				t.Errorf("config error on standard error: %v, want %v:\n%s", got, tc.name != "inetd", p.Out.String())
			}
		})
	}
}
