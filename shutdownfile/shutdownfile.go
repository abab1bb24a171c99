// Package shutdownfile reads and writes wu-ftpd's shutdown file, the file that ftpshut(8) writes
// and that a running daemon watches to announce a planned shutdown (ftpaccess `shutdown <path>`,
// tunnelftpd's `shutdown_file`).
//
// The format, as wu-ftpd 2.6.2 writes (ftpshut.c) and reads it (extensions.c is_shutdown):
//
//	2026 11 24 18 30 0010 0005
//	System shutdown at %s
//
// The first line holds year, month (0-11, as C's struct tm), day, hour and minute of the shutdown
// in local time, then the two offsets before it at which new connections are refused and
// connected sessions are closed. The daemon reads both offsets as HHMM (0130 = 90 minutes). The
// rest of the file is the message, with wu-ftpd's magic cookies (%s, %r, %d and those of any
// message file; see [Expand]).
//
// ftpshut writes the offsets as plain minutes, so `ftpshut -l 120` wrote 0120, which its own
// daemon read as 80 minutes. [Parse] reads like the daemon (a file written by ftpshut means what
// it meant to wu-ftpd); [File.Marshal] writes true HHMM, so that wu-ftpd and tunnelftpd both read
// back the minutes that were asked for.
//
// This package only converts between the file and a [File]; it owns no policy about when a
// daemon checks the file or what it tells its sessions, and it never touches anything but the
// one path it is given.
package shutdownfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults of ftpshut(8).
const (
	// DefaultDeny is ftpshut's -l: new connections are refused this long before the shutdown.
	DefaultDeny = 10 * time.Minute
	// DefaultDisconnect is ftpshut's -d: sessions are closed this long before the shutdown.
	DefaultDisconnect = 5 * time.Minute
	// DefaultMessage is ftpshut's message when none is given.
	DefaultMessage = "System shutdown at %s"
	// Width is the column at which ftpshut wraps the message ([Wrap]).
	Width = 70
)

// File is one planned shutdown.
type File struct {
	// At is the shutdown time.
	At time.Time
	// Deny is how long before At new connections are refused.
	Deny time.Duration
	// Disconnect is how long before At connected sessions are closed.
	Disconnect time.Duration
	// Message is the text shown to users, cookies unexpanded, lines separated by "\n", without
	// a final newline.
	Message string
}

// DenyAt is the time from which new connections are refused.
func (f *File) DenyAt() time.Time { return f.At.Add(-f.Deny) }

// DisconnectAt is the time from which connected sessions are closed.
func (f *File) DisconnectAt() time.Time { return f.At.Add(-f.Disconnect) }

// Read parses the shutdown file at path; times are in loc (wu-ftpd used the local time zone:
// pass time.Local).
func Read(path string, loc *time.Location) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading shutdown file: %w", err)
	}
	f, err := Parse(data, loc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse reads a shutdown file's contents as wu-ftpd's daemon does: the first line must start
// with seven integers separated by blanks (anything after the seventh is ignored), and the
// offsets are HHMM. Out-of-range fields are normalised like C's mktime (day 32 is the first of
// the next month). A file wu-ftpd would ignore is an error here.
func Parse(data []byte, loc *time.Location) (*File, error) {
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	fields := strings.Fields(string(first))
	if len(fields) < 7 {
		return nil, fmt.Errorf("line 1: want 7 numbers (year month(0-11) day hour minute deny-HHMM disconnect-HHMM), found %d fields", len(fields))
	}
	var n [7]int
	names := [7]string{"year", "month", "day", "hour", "minute", "deny offset", "disconnect offset"}
	for i := range n {
		s := fields[i]
		if i == 6 {
			s = leadingInt(s) // sscanf stops after the last conversion
		}
		v, err := strconv.Atoi(strings.TrimPrefix(s, "+"))
		if err != nil {
			return nil, fmt.Errorf("line 1: %s %q is not a number", names[i], fields[i])
		}
		n[i] = v
	}
	if loc == nil {
		loc = time.Local
	}
	f := &File{
		At:         time.Date(n[0], time.Month(n[1]+1), n[2], n[3], n[4], 0, 0, loc),
		Deny:       hhmm(n[5]),
		Disconnect: hhmm(n[6]),
		Message:    strings.TrimSuffix(strings.ReplaceAll(string(rest), "\r\n", "\n"), "\n"),
	}
	return f, nil
}

// leadingInt is the longest prefix of s that is an optionally signed decimal number.
func leadingInt(s string) string {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// hhmm converts an offset as the daemon reads it: hundreds are hours, the rest minutes.
func hhmm(v int) time.Duration {
	return time.Duration(v/100)*time.Hour + time.Duration(v%100)*time.Minute
}

// toHHMM is the inverse of hhmm for whole minutes.
func toHHMM(d time.Duration) int {
	m := int(d / time.Minute)
	return m/60*100 + m%60
}

// Marshal formats f as ftpshut does ("%.4d %.2d %.2d %.2d %.2d %.4d %.4d\n" and the message),
// with the offsets in HHMM and rounded down to whole minutes.
func (f *File) Marshal() []byte {
	var b bytes.Buffer
	at := f.At
	fmt.Fprintf(&b, "%s %s %s %s %s %s %s\n", cint(at.Year(), 4), cint(int(at.Month())-1, 2),
		cint(at.Day(), 2), cint(at.Hour(), 2), cint(at.Minute(), 2),
		cint(toHHMM(f.Deny), 4), cint(toHHMM(f.Disconnect), 4))
	b.WriteString(f.Message)
	b.WriteString("\n")
	return b.Bytes()
}

// cint formats v as C's "%.Nd": at least n digits, zero-padded, sign in front.
func cint(v, n int) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := strconv.Itoa(v)
	if len(s) < n {
		s = strings.Repeat("0", n-len(s)) + s
	}
	return sign + s
}

// Write writes f to path, replacing it atomically (a temporary file in the same directory,
// then rename), with mode 0644 as ftpshut's fopen under the usual umask: sessions running as
// any user must be able to read it.
func Write(path string, f *File) error {
	if f.Deny < 0 || f.Disconnect < 0 {
		return errors.New("shutdown file: the deny and disconnect offsets must not be negative")
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing shutdown file: %w", err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(f.Marshal())
	if werr == nil {
		werr = tmp.Chmod(0o644)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(name, path)
	}
	if werr != nil {
		os.Remove(name)
		return fmt.Errorf("writing shutdown file %s: %w", path, werr)
	}
	return nil
}

// ParseWhen reads ftpshut's time argument: "now", "+N" (N minutes from now) or "HHMM" (today at
// that time, even if it has passed, as ftpshut does).
func ParseWhen(s string, now time.Time) (time.Time, error) {
	switch {
	case strings.EqualFold(s, "now"):
		return now, nil
	case strings.HasPrefix(s, "+"):
		m, err := strconv.Atoi(s[1:])
		if err != nil || m < 0 {
			return time.Time{}, fmt.Errorf("%q: write +N with N the minutes from now, e.g. +10", s)
		}
		return now.Add(time.Duration(m) * time.Minute), nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || len(s) > 4 {
		return time.Time{}, fmt.Errorf("%q is not a time: write now, +MINUTES or HHMM (24-hour clock)", s)
	}
	h, m := v/100, v%100
	if h > 23 || m > 59 {
		return time.Time{}, fmt.Errorf("%q: illegal time (hour 00-23, minute 00-59)", s)
	}
	return time.Date(now.Year(), now.Month(), now.Day(), h, m, 0, 0, now.Location()), nil
}

// Wrap breaks msg into lines as ftpshut does before writing it: a blank becomes a newline once
// a line reaches Width columns, counting each cookie at the width of its expansion (24 for
// times, 10 for names, 3 for numbers). It reproduces ftpshut's counting exactly, including that
// only "%" followed by a newline, not a newline alone, restarts the count.
func Wrap(msg string) string {
	buf := []byte(msg)
	at := func(k int) byte { // C's view of the string: NUL past the end
		if k < len(buf) {
			return buf[k]
		}
		return 0
	}
	sp := -1
	i, j := 0, 0
	// The loop is ftpshut's massage(): "while (*ptr++ != '\0')" tests one character and then
	// looks at the next one, so the first character is never examined and the terminating NUL is.
	for p := 0; at(p) != 0; {
		p++
		i++
		if at(p) == ' ' {
			sp, j = p, i
		}
		if at(p) == '%' {
			p++
			switch at(p) {
			case 'r', 's', 'd', 'T':
				i += 24
			case '\n':
				i = 0
			case 'C', 'R', 'L', 'U':
				i += 10
			case 'M', 'N':
				i += 3
			case 0:
				return string(buf)
			default:
				i++
			}
		}
		if i >= Width && sp >= 0 {
			buf[sp] = '\n'
			sp = -1
			i -= j
		}
	}
	return string(buf)
}

// CTime formats t as C's ctime(3) without the newline ("Mon Nov 24 18:30:00 2026"), the form
// of every time cookie.
func CTime(t time.Time) string { return t.Format("Mon Jan _2 15:04:05 2006") }

// Expand replaces wu-ftpd's magic cookies in text as its msg_massage does: "%%" is "%", and for
// any other "%c" lookup(c) gives the text; when lookup does not know c the cookie stays as
// written. The shutdown cookies come from [File.Cookie].
func Expand(text string, lookup func(c byte) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] != '%' || i+1 == len(text) {
			b.WriteByte(text[i])
			continue
		}
		i++
		c := text[i]
		if c == '%' {
			b.WriteByte('%')
			continue
		}
		if v, ok := lookup(c); ok {
			b.WriteString(v)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(c)
	}
	return b.String()
}

// Cookie expands the cookies only a shutdown message has: %s (shutdown time), %r (time new
// connections are refused) and %d (time sessions are closed), in ctime form.
func (f *File) Cookie(c byte) (string, bool) {
	switch c {
	case 's':
		return CTime(f.At), true
	case 'r':
		return CTime(f.DenyAt()), true
	case 'd':
		return CTime(f.DisconnectAt()), true
	}
	return "", false
}
