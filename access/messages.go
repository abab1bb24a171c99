package access

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message files (banner_file, [messages] login and cwd) are plain text, one reply line per line.
// Their cookies are wu-ftpd's, expanded by [Expand]:
//
//	%T  local time, as ctime(3) without the newline: "Thu Nov 15 17:12:42 1990"
//	%C  current directory, as an FTP path inside the user's root ("/pub")
//	%E  the maintainer's e-mail address (Env.Email); empty when none is configured
//	%R  the remote host: the real SSH client address when the tunnel was identified, else the peer
//	%L  the local host name
//	%U  the user name given at login; "[unknown]" before login (in the banner)
//	%M  the session limit of the user's class; "unlimited" when it has none
//	%N  the number of sessions in the user's class now
//	%%  a single %
//
// Any other %x is left as it is, as wu-ftpd does.

// Limits of a message file. A file beyond them is refused by the config check and not shown.
const (
	MaxMessageBytes = 64 << 10
	MaxMessageLines = 500
)

// Env holds the values of the cookies for one expansion.
type Env struct {
	Now        time.Time // %T (the zero time: time.Now())
	Cwd        string    // %C
	Email      string    // %E
	Remote     string    // %R
	Local      string    // %L
	User       string    // %U ("" before login)
	ClassLimit int       // %M (0: unlimited)
	ClassCount int       // %N
}

// ctimeLayout is ctime(3)'s format, which %T uses.
const ctimeLayout = "Mon Jan _2 15:04:05 2006"

// Expand replaces the cookies of one line with their values from env. The result is safe to
// send as one reply line: control characters other than tab (in the file or in a value, such as
// a directory name made outside FTP) become '?', and invalid UTF-8 becomes U+FFFD.
func Expand(line string, env *Env) string {
	var b strings.Builder
	b.Grow(len(line))
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c != '%' || i+1 == len(line) {
			b.WriteByte(c)
			continue
		}
		i++
		switch line[i] {
		case 'T':
			now := env.Now
			if now.IsZero() {
				now = time.Now()
			}
			b.WriteString(now.Format(ctimeLayout))
		case 'C':
			b.WriteString(env.Cwd)
		case 'E':
			b.WriteString(env.Email)
		case 'R':
			b.WriteString(env.Remote)
		case 'L':
			b.WriteString(env.Local)
		case 'U':
			if env.User == "" {
				b.WriteString("[unknown]")
			} else {
				b.WriteString(env.User)
			}
		case 'M':
			if env.ClassLimit <= 0 {
				b.WriteString("unlimited")
			} else {
				b.WriteString(strconv.Itoa(env.ClassLimit))
			}
		case 'N':
			b.WriteString(strconv.Itoa(env.ClassCount))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(line[i])
		}
	}
	return sanitize(b.String())
}

// sanitize makes s one harmless reply line.
func sanitize(s string) string {
	if !strings.ContainsFunc(s, isReplyControl) && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if isReplyControl(r) {
			return '?'
		}
		return r
	}, s)
}

func isReplyControl(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// ParseMessage splits a message file into its lines (LF or CRLF ends a line; a final line
// without one counts). It refuses files over MaxMessageBytes or MaxMessageLines and files holding
// a NUL byte (not text).
func ParseMessage(data []byte) ([]string, error) {
	if len(data) > MaxMessageBytes {
		return nil, fmt.Errorf("is %d bytes, more than the %d a message may have", len(data), MaxMessageBytes)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, errors.New("holds a NUL byte: it is not a text file")
	}
	if len(data) == 0 {
		return nil, nil
	}
	text := strings.TrimSuffix(string(data), "\n")
	lines := strings.Split(text, "\n")
	if len(lines) > MaxMessageLines {
		return nil, fmt.Errorf("has %d lines, more than the %d a message may have", len(lines), MaxMessageLines)
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines, nil
}

// ExpandLines expands every line of a message (see [Expand]).
func ExpandLines(lines []string, env *Env) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = Expand(l, env)
	}
	return out
}

// Reply joins message lines and the final text of a reply into what ftpserverlib's writeMessage
// sends as "code-line" continuation lines followed by "code text". Empty message lines are kept
// (they become "220-"), so a banner's layout survives.
func Reply(lines []string, text string) string {
	if len(lines) == 0 {
		return text
	}
	return strings.Join(lines, "\n") + "\n" + text
}

// maxVisited bounds the directories a session remembers for the cwd message.
const maxVisited = 4096

// Visited remembers the directories whose cwd message a session has been shown, so each is
// shown once per directory per session. The zero value is ready to use; not safe for concurrent
// use (one session's commands run one at a time).
type Visited struct {
	dirs map[string]struct{}
}

// First reports whether dir (a clean FTP path) is entered for the first time in this session
// and records it. After maxVisited distinct directories it answers false: a session cannot grow
// the set without bound, and a message it misses is better than one shown twice.
func (v *Visited) First(dir string) bool {
	if _, ok := v.dirs[dir]; ok {
		return false
	}
	if len(v.dirs) >= maxVisited {
		return false
	}
	if v.dirs == nil {
		v.dirs = make(map[string]struct{})
	}
	v.dirs[dir] = struct{}{}
	return true
}
