package shutdownfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 24, 17, 5, 0, 0, time.UTC) // the clock the testdata files were made with

// The files in testdata were written by wu-ftpd's ftpshut code (testdata/README.md): Parse must
// read them as wu-ftpd's daemon did, and Wrap must break the messages exactly as ftpshut did.
func TestParseFilesWrittenByFtpshut(t *testing.T) {
	long := "The FTP server goes down at %s for the quarterly maintenance of the storage array; new logins are refused from %r and you will be disconnected at %d. Questions: %E"
	cookies := "Short %% note with 100%% of %M users:%N online, a very long word Supercalifragilisticexpialidocious-and-more-and-more-text-to-pass-seventy"
	times := "At %T on %L (%R, in %C) user %U was told: the archive closes at %s; please finish your transfers before %d, thank you"
	for _, tc := range []struct {
		file             string
		input            string // the message ftpshut was given
		at               time.Time
		deny, disconnect time.Duration
	}{
		{"ftpshut-default", DefaultMessage, now.Add(10 * time.Minute), 10 * time.Minute, 5 * time.Minute},
		// -l 120 was written as 0120, which the daemon reads as HHMM: 80 minutes.
		{"ftpshut-long", long, time.Date(2026, 11, 24, 18, 30, 0, 0, time.UTC), 80 * time.Minute, 90 * time.Minute},
		{"ftpshut-now", "Emergency shutdown NOW", now, 0, 0},
		{"ftpshut-cookies", cookies, now.Add(45 * time.Minute), 30 * time.Minute, 15 * time.Minute},
		{"ftpshut-times", times, time.Date(2026, 11, 24, 23, 59, 0, 0, time.UTC), 20 * time.Minute, 10 * time.Minute},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(data, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if !f.At.Equal(tc.at) || f.Deny != tc.deny || f.Disconnect != tc.disconnect {
				t.Errorf("got at %v deny %v disconnect %v, want %v %v %v", f.At, f.Deny, f.Disconnect, tc.at, tc.deny, tc.disconnect)
			}
			if got := Wrap(tc.input); got != f.Message {
				t.Errorf("Wrap differs from ftpshut's wrapping:\n got %q\nwant %q", got, f.Message)
			}
		})
	}
}

func TestMarshalMatchesFtpshut(t *testing.T) {
	// Offsets under an hour are the same in minutes and in HHMM: the bytes must be ftpshut's.
	want, err := os.ReadFile("testdata/ftpshut-default")
	if err != nil {
		t.Fatal(err)
	}
	f := &File{At: now.Add(10 * time.Minute), Deny: DefaultDeny, Disconnect: DefaultDisconnect, Message: DefaultMessage}
	if got := string(f.Marshal()); got != string(want) {
		t.Errorf("Marshal:\n got %q\nwant %q", got, want)
	}
}

func TestMarshalWritesHHMMAndRoundTrips(t *testing.T) {
	f := &File{At: time.Date(2027, 1, 2, 3, 4, 0, 0, time.UTC), Deny: 120 * time.Minute, Disconnect: 90 * time.Minute, Message: "line one\nline two %s"}
	out := string(f.Marshal())
	if want := "2027 00 02 03 04 0200 0130\nline one\nline two %s\n"; out != want {
		t.Fatalf("Marshal: got %q, want %q", out, want)
	}
	g, err := Parse([]byte(out), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if !g.At.Equal(f.At) || g.Deny != f.Deny || g.Disconnect != f.Disconnect || g.Message != f.Message {
		t.Errorf("round trip: got %+v, want %+v", g, f)
	}
}

func TestParseLikeTheDaemon(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		at       time.Time
		deny     time.Duration
		msg      string
	}{
		{"trailing garbage after the 7th number", "2026 10 24 18 30 0010 0005xyz extra\nmsg\n", time.Date(2026, 11, 24, 18, 30, 0, 0, time.UTC), 10 * time.Minute, "msg"},
		{"day 32 normalised like mktime", "2026 10 32 00 00 0 0\n", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), 0, ""},
		{"tabs and no message", "2026\t0\t1\t0\t0\t0100\t0", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour, ""},
		{"CRLF lines", "2026 0 1 0 0 0 0\r\na\r\nb\r\n", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, "a\nb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in), time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if !f.At.Equal(tc.at) || f.Deny != tc.deny || f.Message != tc.msg {
				t.Errorf("got %v %v %q, want %v %v %q", f.At, f.Deny, f.Message, tc.at, tc.deny, tc.msg)
			}
		})
	}
	for _, bad := range []string{"", "\nmsg", "2026 10 24 18 30 0010\nmsg", "2026 10 24x 18 30 0010 0005", "now 10 24 18 30 0010 0005"} {
		if f, err := Parse([]byte(bad), time.UTC); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error (wu-ftpd ignores such a file)", bad, f)
		}
	}
}

func TestParseWhen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"now", now},
		{"NOW", now},
		{"+0", now},
		{"+15", now.Add(15 * time.Minute)},
		{"1830", time.Date(2026, 11, 24, 18, 30, 0, 0, time.UTC)},
		{"0900", time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}, // already passed: today, as ftpshut
		{"5", time.Date(2026, 11, 24, 0, 5, 0, 0, time.UTC)},
	} {
		got, err := ParseWhen(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseWhen(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "+", "+x", "+-5", "2400", "1260", "12:30", "tomorrow", "01830"} {
		if got, err := ParseWhen(bad, now); err == nil {
			t.Errorf("ParseWhen(%q) = %v, want an error", bad, got)
		}
	}
}

func TestExpandCookies(t *testing.T) {
	f := &File{At: time.Date(2026, 11, 4, 18, 30, 0, 0, time.UTC), Deny: 10 * time.Minute, Disconnect: 5 * time.Minute}
	lookup := func(c byte) (string, bool) {
		if v, ok := f.Cookie(c); ok {
			return v, true
		}
		if c == 'L' {
			return "ftp.example.com", true
		}
		return "", false
	}
	got := Expand("%L down at %s, logins refused from %r, cut at %d; 100%% sure %E%", lookup)
	want := "ftp.example.com down at Wed Nov  4 18:30:00 2026, logins refused from Wed Nov  4 18:20:00 2026, cut at Wed Nov  4 18:25:00 2026; 100% sure %E%"
	if got != want {
		t.Errorf("Expand:\n got %q\nwant %q", got, want)
	}
}

func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shutmsg")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &File{At: now, Deny: 10 * time.Minute, Disconnect: 5 * time.Minute, Message: "bye"}
	if err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (every session must read it)", st.Mode().Perm())
	}
	g, err := Read(path, time.UTC)
	if err != nil || !g.At.Equal(now) || g.Message != "bye" {
		t.Errorf("Read back %+v, %v", g, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := Write(path, &File{At: now, Deny: -time.Minute}); err == nil {
		t.Error("a negative offset was written")
	}
	if err := Write(filepath.Join(dir, "missing", "shutmsg"), f); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("write into a missing directory: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "nope"), time.UTC); err == nil {
		t.Error("Read of a missing file succeeded")
	}
}
