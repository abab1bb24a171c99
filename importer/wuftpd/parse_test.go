package wuftpd

import (
	"strings"
	"testing"
)

func TestParseFtpaccessLikeParseacl(t *testing.T) {
	src := Source{Name: "fa", Data: []byte("CLASS all real *  # comment\n\n   # only a comment\npath-filter anonymous /m ^[a-z\\#]*$ # tail\nlog\tcommands\treal\r\n")}
	dirs, crlf := parseFtpaccess(src)
	if len(dirs) != 3 || !crlf {
		t.Fatalf("got %d directives (crlf %v): %+v", len(dirs), crlf, dirs)
	}
	if d := dirs[0]; d.Keyword != "class" || d.Line != 1 || strings.Join(d.Args, "|") != "all|real|*" {
		t.Errorf("keyword case or comment: %+v", d)
	}
	// An escaped '#' is kept with its backslash, and then the line is not cut at all.
	if d := dirs[1]; d.Line != 4 || strings.Join(d.Args, "|") != `anonymous|/m|^[a-z\#]*$|#|tail` {
		t.Errorf("escaped #: %q", d.Args)
	}
	if d := dirs[2]; d.name() != "log commands" || d.arg(1) != "real" {
		t.Errorf("tabs and CR: %+v", d)
	}
}

func TestAddrGlobsAsHostmatch(t *testing.T) {
	for _, tc := range []struct {
		glob  string
		cidrs string // "" = not expressible
		neg   bool
	}{
		{"10.0.0.0/8", "10.0.0.0/8", false},
		{"192.168.1.0:255.255.255.0", "192.168.1.0/24", false},
		{"192.168.1.7", "192.168.1.7/32", false},
		{"192.168.1.*", "192.168.1.0/24", false},
		{"10.1.*.*", "10.1.0.0/16", false},
		{"10.*", "10.0.0.0/8", false},           // sscanf reads one number
		{"10.1", "10.1.0.0/16", false},          // and two
		{"3com.example", "3.0.0.0/8", false},    // a host name that starts with a digit
		{"10.1.1[0-9].*", "10.1.1.0/24", false}, // sscanf stops at the bracket
		{"!10.*", "10.0.0.0/8", true},
		{"*", "0.0.0.0/0 ::/0", false},
		{"localhost", "127.0.0.1/32", false},
		{"10.0.0.0:255.0.255.0", "", false},
		{"*.example.com", "", false},
		{"/etc/ftpd/hosts", "", false},
	} {
		g := parseAddrGlob(tc.glob)
		got := ""
		if g.OK {
			got = strings.Join(g.Set.cidrs(), " ")
		}
		if got != tc.cidrs || g.Neg != tc.neg {
			t.Errorf("%q: got %q neg %v, want %q neg %v (%s)", tc.glob, got, g.Neg, tc.cidrs, tc.neg, g.Why)
		}
	}
	if !parseAddrGlob("127.0.0.1").namesLoopback() || parseAddrGlob("!127.*").namesLoopback() || parseAddrGlob("10.*").namesLoopback() {
		t.Error("namesLoopback")
	}
}

func TestAddrSetAlgebra(t *testing.T) {
	s := parseAddrGlob("198.51.100.0/24").Set
	c := s.complement()
	if c.contains(198<<24|51<<16|100<<8|7) || !c.contains(198<<24|51<<16|101<<8) || !c.v6 {
		t.Error("complement")
	}
	if got := c.complement().cidrs(); strings.Join(got, " ") != "198.51.100.0/24" {
		t.Errorf("double complement %v", got)
	}
	if !s.intersect(c).isEmpty() || !s.union(c).isAll() {
		t.Error("intersect/union")
	}
	if got := cidrSet(10<<24|1<<16, 16).union(cidrSet(10<<24, 16)).cidrs(); strings.Join(got, " ") != "10.0.0.0/15" {
		t.Errorf("adjacent blocks merge: %v", got)
	}
}

func TestFlagsAsGetopt(t *testing.T) {
	flags, rest := parseFlags("f", 1, []string{"-la", "-t300", "-T", "7200", "-u", "027", "-y", "-Q", "extra"})
	var got []string
	for _, f := range flags {
		s := string(f.Opt) + "=" + f.Arg
		if f.Bad != "" {
			s += "!"
		}
		got = append(got, s)
	}
	if want := "l= a= t=300 T=7200 u=027 y=! Q="; strings.Join(got, " ") != want {
		t.Errorf("flags %q, want %q", strings.Join(got, " "), want)
	}
	if len(rest) != 1 || rest[0] != "extra" {
		t.Errorf("rest %q", rest)
	}
}

func TestInetdAndXinetd(t *testing.T) {
	l, err := parseInetdLine("x", "ftp stream tcp nowait.400 root /usr/sbin/tcpd in.ftpd -l -a")
	if err != nil || !l.Tcpd || l.Server != "in.ftpd" || len(l.Flags) != 2 || l.Wait != "nowait.400" {
		t.Errorf("inetd: %+v %v", l, err)
	}
	for _, bad := range []string{"# ftp stream tcp nowait root /usr/sbin/in.ftpd in.ftpd -a", "ftp stream tcp"} {
		if _, err := parseInetdLine("x", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	x, err := parseXinetd(Source{Name: "xi", Data: []byte("service telnet\n{\n server = /usr/sbin/in.telnetd\n}\nservice ftp\n{\n\tserver = /usr/sbin/tcpd\n\tserver_args = in.ftpd -a -t 60\n\tonly_from += 10.0.0.0/8\n}\n")})
	if err != nil || x.Service != "ftp" || !x.Tcpd || x.Server != "in.ftpd" || len(x.Flags) != 2 || x.Flags[1].Arg != "60" || len(x.Attrs) != 1 || x.Attrs[0].Op != "+=" {
		t.Errorf("xinetd: %+v %v", x, err)
	}
	if _, err := parseXinetd(Source{Name: "xi", Data: []byte("service telnet\n{\n server = /usr/sbin/in.telnetd\n}\n")}); err == nil {
		t.Error("an xinetd file without ftp accepted")
	}
}

func importText(t *testing.T, access string, opts func(*Input)) (*Result, *doc) {
	t.Helper()
	in := Input{FtpAccess: Source{Name: "fa", Data: []byte(access)}}
	if opts != nil {
		opts(&in)
	}
	res, err := Import(in)
	if err != nil {
		t.Fatal(err)
	}
	return res, decode(t, res.TOML)
}

func findLine(res *Result, file string, line int) []Finding {
	var out []Finding
	for _, f := range res.Report {
		if f.File == file && f.Line == line {
			out = append(out, f)
		}
	}
	return out
}

// ftpusers as wu-ftpd reads it: case-insensitive, whole lines, ftp/anonymous turn anonymous off.
func TestFtpusers(t *testing.T) {
	res, d := importText(t, "class all real,anonymous *\nanonymous-root /srv/ftp\n", func(in *Input) {
		in.FtpUsers = &Source{Name: "fu", Data: []byte("#c\nroot\nAnonymous\nDBA\nweb \n  #x\nlast")}
	})
	if d.Auth.AnonymousRoot != "" {
		t.Error("ftpusers lists anonymous, but anonymous is on")
	}
	want := map[int]Status{1: Note, 2: Mapped, 3: Mapped, 4: Mapped, 5: Narrowed, 6: Note, 7: Narrowed}
	for line, st := range want {
		fs := findLine(res, "fu", line)
		if len(fs) != 1 || fs[0].Status != st {
			t.Errorf("fu:%d: %v, want one %s line", line, fs, st)
		}
	}
	d.expectRefused(t, user{names: []string{"dba", "@system"}}, "192.0.2.1", true)
	d.expectRefused(t, user{names: []string{"web", "@system"}}, "192.0.2.1", false) // tunnelftpd's ftpusers refuses web
}

// ftphosts: the first line for the user (or *) with a matching address decides; a user with
// lines but no match is refused.
func TestFtphosts(t *testing.T) {
	base := "class all real *\n"
	for _, tc := range []struct {
		hosts   string
		refused string // the refusal list
		alice   string // clients alice is refused from
	}{
		{"deny * 192.0.2.0/24\n", "0.0.0.0/0 ::/0", "10.1.1.1 192.0.2.1 2001:db8::1"}, // no line admits anyone: all refused
		{"deny * 192.0.2.0/24\nallow * *\n", "192.0.2.0/24", "192.0.2.1"},
		{"allow alice 10.0.0.0/8\nallow * *\n", "", ""}, // alice is allowed everywhere: her own line, then *
		{"allow alice 10.0.0.0/8\ndeny alice *\nallow * *\n", "", "192.0.2.1 2001:db8::1"},
		{"deny alice *\n", "", "10.1.1.1 192.0.2.1 2001:db8::1"},
	} {
		res, d := importText(t, base, func(in *Input) { in.FtpHosts = &Source{Name: "fh", Data: []byte(tc.hosts)} })
		var refused string
		for _, c := range d.Classes {
			if c.Name == "refused" {
				refused = strings.Join(c.DenyClients, " ")
			}
		}
		if refused != tc.refused {
			t.Errorf("%q: deny_clients %q, want %q", tc.hosts, refused, tc.refused)
		}
		alice := user{names: []string{"alice", "@system"}}
		for _, client := range []string{"10.1.1.1", "192.0.2.1", "2001:db8::1"} {
			if want := strings.Contains(" "+tc.alice+" ", " "+client+" "); d.refused(alice, client) != want {
				t.Errorf("%q: alice from %s refused %v, want %v\n%s", tc.hosts, client, !want, want, reportText(res))
			}
		}
	}
	res, _ := importText(t, base, func(in *Input) { in.FtpHosts = &Source{Name: "fh", Data: []byte("permit * *\n")} })
	if fs := findLine(res, "fh", 1); len(fs) != 1 || fs[0].Status != Lost {
		t.Errorf("a broken line (wu-ftpd then refused every login): %v", fs)
	}
}

func TestDefumaskAndFlagU(t *testing.T) {
	for _, tc := range []struct {
		access, inetd, want string
	}{
		{"class a real *\n", "", ""},
		{"class a real *\n", "ftp stream tcp nowait root /usr/sbin/in.ftpd in.ftpd -a -u 027", "027"},
		{"class a real *\ndefumask 077\n", "ftp stream tcp nowait root /usr/sbin/in.ftpd in.ftpd -a -u 002", "077"},
		{"class a real *\ndefumask 77\n", "", "115"}, // strtoul base 0: decimal 77
		{"class a real 10.*\nclass b real *\ndefumask 022\ndefumask 002 a\ndefumask 077 b\n", "", "077"},
		{"class a real 10.*\nclass b real *\ndefumask 027\ndefumask 002 a\n", "", "027"},
	} {
		_, d := importText(t, tc.access, func(in *Input) { in.InetdLine = tc.inetd })
		if d.Umask != tc.want {
			t.Errorf("%q %q: umask %q, want %q", tc.access, tc.inetd, d.Umask, tc.want)
		}
	}
}

func TestPathFilterToGlobs(t *testing.T) {
	for _, tc := range []struct {
		regexps string
		fail    string
		exact   bool
	}{
		{`^[-A-Za-z0-9._]*$ ^\. ^-`, `*[^\-A-Za-z0-9._]* .* -*`, true},
		{`^[a-z]+$ \.exe$ ^core$ tmp`, "*[^a-z]* *.exe core *tmp*", true},
		{`.* ^a.b`, "a?b*", true},
		{`(a|b)`, "*", false},
		{`^[[:alnum:]]*$`, "*", false},
	} {
		f := parsePathFilter(&directive{Keyword: "path-filter", Args: append([]string{"anonymous", "/m"}, strings.Fields(tc.regexps)...)})
		if got := strings.Join(f.Fail, " "); got != tc.fail || f.Exact != tc.exact {
			t.Errorf("%s: %q exact %v, want %q %v", tc.regexps, got, f.Exact, tc.fail, tc.exact)
		}
	}
}

func TestGlobs(t *testing.T) {
	for _, tc := range []struct {
		pat, p string
		want   bool
	}{
		{"/incoming/*", "/incoming/a", true},
		{"/incoming/*", "/incoming/a/b", false},
		{"/incoming/**", "/incoming", false},
		{"/incoming/**", "/incoming/a/b", true},
		{"/**/core", "/core", true},
		{"/**/core", "/a/b/core", true},
		{"/**", "/", false},
		{"/", "/", true},
		{"/in*", "/incoming", true},
	} {
		if got := globMatch(tc.pat, tc.p); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pat, tc.p, got)
		}
	}
	if g, ok := fromFnmatch("/pub/[!a-c]*"); !ok || g != "/pub/[^a-c]*" {
		t.Errorf("fromFnmatch: %q %v", g, ok)
	}
	if n := combineNames("*.gz", "a*"); !contains(n, "a.gz") {
		t.Errorf("combineNames: %v", n)
	}
}

// Upload lines whose root-dir is a home: the accounts tell which users they reach.
func TestUploadReachByAccounts(t *testing.T) {
	access := "class all real *\nupload /home/drop * no\nupload /home/drop /home/drop/in yes\n"
	passwd := []byte("alice:x:1001:1001::/home/alice:/bin/sh\ndrop:x:1002:1002::/home/drop:/bin/sh\n")
	res, d := importText(t, access, func(in *Input) { in.Accounts = ParseAccounts(passwd, nil) })
	alice := user{names: []string{"alice", "@system"}}
	// The lines reach drop only: everyone is cut to what drop may do (narrowed, reported).
	d.expect(t, alice, "/in/x", defaultSystem&^vMfmt)
	d.expect(t, alice, "/x", defaultSystem&^vMfmt&^(vUpload|vOverwrite|vAppend|vMkdir|vRmdir))
	if fs := findLine(res, "fa", 2); len(fs) == 0 || fs[0].Status != Narrowed {
		t.Errorf("reach narrowed: %v", fs)
	}
	// With only alice, the lines reach nobody.
	_, d = importText(t, access, func(in *Input) { in.Accounts = ParseAccounts(passwd[:strings.Index(string(passwd), "drop")], nil) })
	d.expect(t, alice, "/x", defaultSystem&^vMfmt)
}
