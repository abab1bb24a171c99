package wuftpd

import (
	"strings"
)

// Source is one input file: its name (as the report shows it) and contents.
type Source struct {
	Name string
	Data []byte
}

// directive is one ftpaccess line, tokenised as wu-ftpd 2.6.2's parseacl does.
type directive struct {
	File    string
	Line    int
	Keyword string   // lower case (wu-ftpd compares keywords case-insensitively)
	Args    []string // at most maxArgs
	Raw     string   // the line as written, comment included
	dropped int      // arguments past maxArgs, which wu-ftpd dropped
}

// maxArgs is wu-ftpd's MAXARGS: later arguments on a line are dropped.
const maxArgs = 50

// arg returns the i-th argument or "".
func (d *directive) arg(i int) string {
	if i < len(d.Args) {
		return d.Args[i]
	}
	return ""
}

// name is the directive as the report names it: the keyword, and for the keywords that are
// families of directives the sub-keyword too ("log transfers", "timeout idle").
func (d *directive) name() string {
	switch d.Keyword {
	case "log", "timeout", "passive", "greeting", "dns", "virtual", "defaultserver", "xferlog":
		if sub := d.arg(0); sub != "" {
			return d.Keyword + " " + strings.ToLower(sub)
		}
	}
	return d.Keyword
}

// parseFtpaccess splits an ftpaccess file into directives. Like parseacl: the first '#' on a
// line starts a comment unless a backslash precedes it (path-filter's escape; the backslash
// stays), tokens are separated by blanks and tabs, lines without a token are skipped.
func parseFtpaccess(src Source) (dirs []*directive, crlf bool) {
	for n, raw := range strings.Split(string(src.Data), "\n") {
		line := raw
		if strings.HasSuffix(line, "\r") {
			line = strings.TrimSuffix(line, "\r")
			crlf = true
		}
		if i := strings.IndexByte(line, '#'); i >= 0 && (i == 0 || line[i-1] != '\\') {
			line = line[:i]
		}
		toks := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(toks) == 0 {
			continue
		}
		d := &directive{File: src.Name, Line: n + 1, Keyword: strings.ToLower(toks[0]), Args: toks[1:], Raw: strings.TrimRight(raw, "\r")}
		if len(d.Args) > maxArgs {
			d.dropped = len(d.Args) - maxArgs
			d.Args = d.Args[:maxArgs]
		}
		dirs = append(dirs, d)
	}
	return dirs, crlf
}

// ftpusersEntry is one line of an ftpusers file.
type ftpusersEntry struct {
	Line     int
	Name     string // as wu-ftpd compares it: the whole line
	Comment  bool   // '#' in column 1
	Blank    bool
	Unended  bool // the last line, without a newline: wu-ftpd's fgets loop skipped it
	Trailing bool // blanks around the name: wu-ftpd never matched it, tunnelftpd trims them
}

// parseFtpusers reads an ftpusers file as wu-ftpd's checkuser does.
func parseFtpusers(src Source) []ftpusersEntry {
	var out []ftpusersEntry
	text := string(src.Data)
	lines := strings.Split(text, "\n")
	for n, l := range lines {
		if n == len(lines)-1 && l == "" {
			break // the file ended with a newline
		}
		e := ftpusersEntry{Line: n + 1, Name: strings.TrimSuffix(l, "\r")}
		switch {
		case strings.HasPrefix(e.Name, "#"):
			e.Comment = true
		case strings.TrimSpace(e.Name) == "":
			e.Blank = true
		}
		e.Trailing = !e.Comment && !e.Blank && strings.TrimSpace(e.Name) != e.Name
		e.Unended = n == len(lines)-1
		out = append(out, e)
	}
	return out
}

// ftphostsRule is one allow/deny line of ftphosts.
type ftphostsRule struct {
	Line  int
	Allow bool
	User  string
	Addrs []string
	// Broken is set for a line wu-ftpd's sethacc rejects ("Format error in host access file",
	// "Line too long"): with such a line, wu-ftpd refused every login.
	Broken string
}

// maxHosts is wu-ftpd's MAXHST: a line with more addresses is an error.
const maxHosts = 12

// parseFtphosts reads an ftphosts file as hostacc.c does: '#' starts a comment anywhere, the
// line starts with "allow" or "deny" (case-sensitive prefixes), then a user and addresses.
func parseFtphosts(src Source) []ftphostsRule {
	var out []ftphostsRule
	for n, raw := range strings.Split(string(src.Data), "\n") {
		line := raw
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		toks := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
		if len(toks) == 0 {
			continue
		}
		r := ftphostsRule{Line: n + 1}
		switch {
		case strings.HasPrefix(toks[0], "deny"):
		case strings.HasPrefix(toks[0], "allow"):
			r.Allow = true
		default:
			r.Broken = "the line starts with neither allow nor deny"
		}
		switch {
		case r.Broken != "":
		case len(toks) < 3:
			r.Broken = "a user and at least one address are needed"
		case len(toks)-2 > maxHosts:
			r.Broken = "more than 12 addresses on one line"
		default:
			r.User, r.Addrs = toks[1], toks[2:]
		}
		out = append(out, r)
	}
	return out
}
