package wuftpd

import (
	"fmt"
	"path"
	"strings"
)

// option is one in.ftpd command-line option.
type option struct {
	File string
	Line int
	Opt  byte
	Arg  string
	Bad  string // why wu-ftpd's getopt rejected it
}

// flagArgs are wu-ftpd's options with an argument: 2.6.2's getopt string
// ":aAvdlLiIoP:qQr:t:T:u:wVWX", the standalone build's "p:sS", and 2.8's additions.
var flagArgs = map[byte]bool{'P': true, 'r': true, 't': true, 'T': true, 'u': true, 'p': true}

// knownFlags are the options of 2.6.2 (with the standalone ones) and of 2.8.0.
const knownFlags = "aAvdlLiIoPqQrtTuwVWXpsS" + "4chHRUxzCGK"

// parseFlags reads in.ftpd's options the way getopt does: clustered letters, an option's
// argument either glued to it or in the next word. The first word that is not an option ends
// the options; wu-ftpd takes no operands, so the rest is reported.
func parseFlags(file string, line int, args []string) (flags []option, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, args[i+1:]
		}
		if len(a) < 2 || a[0] != '-' {
			return flags, args[i:]
		}
	cluster:
		for j := 1; j < len(a); j++ {
			f := option{File: file, Line: line, Opt: a[j]}
			if !strings.ContainsRune(knownFlags, rune(a[j])) {
				f.Bad = "not an option of in.ftpd"
				flags = append(flags, f)
				continue
			}
			if flagArgs[a[j]] {
				switch {
				case j+1 < len(a):
					f.Arg = a[j+1:]
				case i+1 < len(args):
					i++
					f.Arg = args[i]
				default:
					f.Bad = "its argument is missing"
				}
				flags = append(flags, f)
				break cluster
			}
			flags = append(flags, f)
		}
	}
	return flags, nil
}

// launch is how in.ftpd was started: an inetd.conf line or an xinetd service.
type launch struct {
	File    string
	Line    int
	Xinetd  bool
	Service string // inetd/xinetd service name ("ftp")
	Port    string // xinetd port attribute
	Wait    string // "nowait", "wait" (inetd, with .max) / "no", "yes" (xinetd)
	User    string
	Server  string // the program that ran: in.ftpd's path, after tcpd
	Tcpd    bool
	Flags   []option
	Rest    []string
	Attrs   []xinetdAttr // xinetd attributes other than the ones above, for the report
	// lines of the fields above, for the report (xinetd: each attribute's line)
	lines map[string]int
}

// xinetdAttr is one "name = value" line of an xinetd service.
type xinetdAttr struct {
	Line  int
	Name  string
	Op    string // "=", "+=" or "-="
	Value []string
}

// ftpdNames are the program names wu-ftpd is installed as.
var ftpdNames = map[string]bool{"in.ftpd": true, "ftpd": true, "wu-ftpd": true, "in.wuftpd": true, "wu.ftpd": true, "in.wu-ftpd": true}

// parseInetdLine reads one inetd.conf line:
// "service socket-type protocol wait[.max] user[.group] server-path [argv0 args...]".
func parseInetdLine(name, text string) (*launch, error) {
	text = strings.TrimSpace(text)
	if i := strings.IndexByte(text, '#'); i == 0 {
		return nil, fmt.Errorf("%s: the line is a comment; give the active inetd.conf line of in.ftpd", name)
	}
	f := strings.Fields(text)
	if len(f) < 6 {
		return nil, fmt.Errorf("%s: an inetd.conf line has at least 6 fields (service socket-type protocol wait user server [args]), this one %d", name, len(f))
	}
	l := &launch{File: name, Line: 1, Service: f[0], Wait: f[3], User: f[4], Server: f[5], lines: map[string]int{}}
	args := f[6:]
	if len(args) > 0 {
		args = args[1:] // argv[0]
	}
	if path.Base(l.Server) == "tcpd" {
		l.Tcpd = true
		if len(f) < 7 {
			return nil, fmt.Errorf("%s: tcpd is given no program to run", name)
		}
		l.Server = f[6]
	}
	l.Flags, l.Rest = parseFlags(name, 1, args)
	return l, nil
}

// parseXinetd reads an xinetd service file and returns the service that runs wu-ftpd (the one
// whose server is an ftpd, or else the one named ftp).
func parseXinetd(src Source) (*launch, error) {
	type block struct {
		name  string
		line  int
		attrs []xinetdAttr
	}
	var blocks []*block
	var cur *block
	open := false
	for n, raw := range strings.Split(string(src.Data), "\n") {
		line := strings.TrimSpace(raw)
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "service ") || strings.HasPrefix(line, "service\t") || line == "defaults":
			cur = &block{name: strings.TrimSpace(strings.TrimPrefix(line, "service")), line: n + 1}
			if line == "defaults" {
				cur.name = "defaults"
			}
			blocks = append(blocks, cur)
		case line == "{":
			if cur == nil {
				return nil, fmt.Errorf("%s:%d: '{' without a service line", src.Name, n+1)
			}
			open = true
		case line == "}":
			open = false
		case strings.HasPrefix(line, "includedir") || strings.HasPrefix(line, "include"):
		default:
			if !open || cur == nil {
				return nil, fmt.Errorf("%s:%d: %q outside a service block", src.Name, n+1, line)
			}
			a, ok := parseXinetdAttr(n+1, line)
			if !ok {
				return nil, fmt.Errorf("%s:%d: %q is not \"attribute = value\"", src.Name, n+1, line)
			}
			cur.attrs = append(cur.attrs, a)
		}
	}
	var pick *block
	for _, b := range blocks {
		for _, a := range b.attrs {
			if a.Name == "server" && len(a.Value) > 0 && ftpdNames[path.Base(a.Value[0])] {
				pick = b
			}
		}
		if pick == nil && b.name == "ftp" {
			pick = b
		}
		if pick != nil {
			break
		}
	}
	if pick == nil {
		return nil, fmt.Errorf("%s: no service runs in.ftpd (server = .../in.ftpd) and none is named ftp", src.Name)
	}
	l := &launch{File: src.Name, Line: pick.line, Xinetd: true, Service: pick.name, lines: map[string]int{}}
	var args []string
	argsLine := 0
	for _, a := range pick.attrs {
		v := strings.Join(a.Value, " ")
		switch a.Name {
		case "server":
			l.Server, l.lines["server"] = v, a.Line
		case "server_args":
			args, argsLine = a.Value, a.Line
			l.lines["server_args"] = a.Line
		case "port":
			l.Port, l.lines["port"] = v, a.Line
		case "wait":
			l.Wait, l.lines["wait"] = v, a.Line
		case "user":
			l.User, l.lines["user"] = v, a.Line
		default:
			l.Attrs = append(l.Attrs, a)
		}
	}
	if path.Base(l.Server) == "tcpd" {
		l.Tcpd = true
		if len(args) == 0 {
			return nil, fmt.Errorf("%s:%d: server is tcpd, but server_args names no program", src.Name, l.lines["server"])
		}
		l.Server, args = args[0], args[1:]
	}
	l.Flags, l.Rest = parseFlags(src.Name, argsLine, args)
	return l, nil
}

// parseXinetdAttr splits "name op value..." with op one of =, +=, -=.
func parseXinetdAttr(line int, s string) (xinetdAttr, bool) {
	for _, op := range []string{"+=", "-=", "="} {
		if i := strings.Index(s, op); i > 0 {
			name := strings.TrimSpace(s[:i])
			if strings.ContainsAny(name, " \t") {
				continue
			}
			return xinetdAttr{Line: line, Name: name, Op: op, Value: strings.Fields(s[i+len(op):])}, true
		}
	}
	return xinetdAttr{}, false
}
