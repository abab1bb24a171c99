package access

import (
	"strings"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	env := &Env{
		Now:        time.Date(1990, 11, 15, 17, 12, 42, 0, time.Local),
		Cwd:        "/pub",
		Email:      "ftp@example.org",
		Remote:     "198.51.100.7",
		Local:      "files.example.org",
		User:       "alice",
		ClassLimit: 8,
		ClassCount: 3,
	}
	tests := map[string]string{
		"%T":                       "Thu Nov 15 17:12:42 1990",
		"in %C":                    "in /pub",
		"mail %E":                  "mail ftp@example.org",
		"from %R to %L":            "from 198.51.100.7 to files.example.org",
		"hello %U":                 "hello alice",
		"%N of %M users":           "3 of 8 users",
		"100%% sure":               "100% sure",
		"%x %Z stay":               "%x %Z stay",
		"trailing %":               "trailing %",
		"no cookies":               "no cookies",
		"tab\tkept, cr\rbecomes ?": "tab\tkept, cr?becomes ?",
		"bad utf8 \xff":            "bad utf8 \uFFFD",
	}
	for in, want := range tests {
		if got := Expand(in, env); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
	pre := &Env{Now: env.Now}
	if got := Expand("%U %M %N", pre); got != "[unknown] unlimited 0" {
		t.Errorf("before login: %q", got)
	}
	// Values are sanitised too: a directory name holding CR LF cannot inject a reply line.
	if got := Expand("%C", &Env{Cwd: "/a\r\n230 fake"}); strings.ContainsAny(got, "\r\n") {
		t.Errorf("cwd with CRLF expanded to %q", got)
	}
}

func TestParseMessage(t *testing.T) {
	lines, err := ParseMessage([]byte("WARNING\r\n\r\nAuthorized use only.\nlast line"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"WARNING", "", "Authorized use only.", "last line"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", lines, want)
	}
	if lines, err := ParseMessage([]byte("one\n")); err != nil || len(lines) != 1 {
		t.Errorf("one line with LF: %q %v", lines, err)
	}
	if lines, err := ParseMessage(nil); err != nil || len(lines) != 0 {
		t.Errorf("empty: %q %v", lines, err)
	}
	for name, data := range map[string]string{
		"NUL":      "a\x00b",
		"too big":  strings.Repeat("x", MaxMessageBytes+1),
		"too many": strings.Repeat("\n", MaxMessageLines+1),
	} {
		if _, err := ParseMessage([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got := Reply([]string{"WARNING", ""}, "tunnelftpd ready"); got != "WARNING\n\ntunnelftpd ready" {
		t.Errorf("Reply = %q", got)
	}
	if got := Reply(nil, "ready"); got != "ready" {
		t.Errorf("Reply without lines = %q", got)
	}
}

func TestVisited(t *testing.T) {
	var v Visited
	if !v.First("/pub") || v.First("/pub") || !v.First("/") || v.First("/pub") {
		t.Error("a directory must be first exactly once")
	}
	for i := len(v.dirs); i < maxVisited; i++ {
		v.First("/d/" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if len(v.dirs) != maxVisited {
		t.Fatalf("remembered %d dirs", len(v.dirs))
	}
	if v.First("/new/after/the/cap") {
		t.Error("a new directory past the cap was shown (the set would grow without bound)")
	}
	if len(v.dirs) != maxVisited {
		t.Errorf("the set grew past its cap to %d", len(v.dirs))
	}
}
