package access

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func compile(t testing.TB, in Input) *Policy {
	t.Helper()
	p, probs := Compile(in, CompileOptions{LookupGroup: func(name string) (int, error) {
		if name == "ftp" {
			return 50, nil
		}
		return 0, errors.New("no such group")
	}})
	if probs != nil {
		t.Fatalf("Compile: %v", probs)
	}
	return p
}

var (
	anon   = User{Name: "anonymous", Kind: Anonymous}
	alice  = User{Name: "alice", Kind: Virtual}
	bob    = User{Name: "bob", Kind: System, Groups: []string{"staff", "partners"}}
	reader = User{Name: "reader", Kind: Virtual, ReadOnly: true}
)

// archive is the classic layout: an anonymous archive with a write-only /incoming.
var archive = Input{Rules: []RuleConfig{
	{Path: "/incoming", Who: []string{"@anonymous"}, Deny: []string{"list"}},
	{Path: "/incoming/**", Who: []string{"@anonymous"}, Allow: []string{"upload", "mkdir"}, Mode: "0600", Group: "ftp"},
	{Path: "/pub/**", Deny: []string{"delete", "rename", "overwrite"}},
	{Path: "/drop/**", Who: []string{"@group:partners", "alice"}, Allow: []string{"upload"}},
}}

func TestRights(t *testing.T) {
	p := compile(t, archive)
	tests := []struct {
		user User
		path string
		want Rights
	}{
		// Defaults where no rule matches.
		{anon, "/", ReadRights},
		{anon, "/readme.txt", ReadRights},
		{alice, "/", AllRights},
		{bob, "/home/x", AllRights},
		{reader, "/x", ReadRights},
		// deny removes from the user's rights at the path.
		{anon, "/incoming", Rights(Retrieve)},
		{alice, "/incoming", AllRights}, // the rule is for anonymous only
		// allow replaces exactly, even adding write verbs for anonymous.
		{anon, "/incoming/new.bin", Rights(Upload | Mkdir)},
		{anon, "/incoming/sub/deeper", Rights(Upload | Mkdir)},
		{alice, "/incoming/new.bin", AllRights},
		// A rule without who applies to everyone.
		{alice, "/pub/file", AllRights &^ Rights(Delete|Rename|Overwrite)},
		{anon, "/pub/file", ReadRights},
		{reader, "/pub/file", ReadRights},
		// Groups and names.
		{bob, "/drop/x", Rights(Upload)},
		{alice, "/drop/x", Rights(Upload)},
		{User{Name: "carol", Kind: System, Groups: []string{"staff"}}, "/drop/x", AllRights},
		// @group never selects virtual users, even with a group list.
		{User{Name: "dave", Kind: Virtual, Groups: []string{"partners"}}, "/drop/x", AllRights},
	}
	for _, tt := range tests {
		if got := p.Session(tt.user).Rights(tt.path); got != tt.want {
			t.Errorf("%s at %s: rights %q, want %q", tt.user.Name, tt.path, got, tt.want)
		}
	}
}

func TestReadOnlyNeverWrites(t *testing.T) {
	p := compile(t, Input{Rules: []RuleConfig{
		{Path: "/**", Allow: []string{"upload", "overwrite", "append", "delete", "rename", "mkdir", "rmdir", "mfmt", "retrieve"}},
		{Path: "/", Allow: []string{"upload", "mkdir"}},
	}})
	s := p.Session(reader)
	for _, path := range []string{"/", "/a", "/a/b"} {
		if r := s.Rights(path); r&WriteRights != 0 {
			t.Errorf("read_only user at %s has %q", path, r)
		}
	}
	if r := s.Rights("/a"); r != Rights(Retrieve) {
		t.Errorf("read_only user at /a: %q, want retrieve (allow replaces, then the cap)", r)
	}
}

func TestFirstMatchWins(t *testing.T) {
	p := compile(t, Input{Rules: []RuleConfig{
		{Path: "/pub/private/**", Deny: []string{"retrieve"}},
		{Path: "/pub/**", Allow: []string{"list", "retrieve", "upload"}},
	}})
	s := p.Session(alice)
	if got := s.Rights("/pub/private/x"); got != AllRights&^Rights(Retrieve) {
		t.Errorf("/pub/private/x: %q", got)
	}
	if got := s.Rights("/pub/x"); got != Rights(List|Retrieve|Upload) {
		t.Errorf("/pub/x: %q", got)
	}
}

func TestCheck(t *testing.T) {
	p := compile(t, archive)
	p.CwdMessage = ".message"
	s := p.Session(anon)
	if err := s.Check(Upload, "/incoming/a.bin"); err != nil {
		t.Errorf("anonymous upload into /incoming: %v", err)
	}
	err := s.Check(Retrieve, "/incoming/a.bin")
	var d *Denied
	if !errors.As(err, &d) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("retrieve in /incoming: %v, want a *Denied wrapping fs.ErrPermission", err)
	}
	if d.Rule != 1 || d.Verb != Retrieve || d.Path != "/incoming/a.bin" {
		t.Errorf("Denied = %+v, want rule 1, retrieve, /incoming/a.bin", d)
	}
	if err.Error() != "retrieve is not allowed here" {
		t.Errorf("message %q", err)
	}
	if err := s.Check(List, "/incoming"); err == nil {
		t.Error("anonymous LIST of /incoming allowed")
	}
	if err := s.Check(Delete, "/readme"); !errors.As(err, &d) || d.Rule != -1 {
		t.Errorf("delete with the default rights: %v (rule %d), want rule -1", err, d.Rule)
	}
	// The cwd message name is reserved for everyone, even with all rights.
	for _, v := range []Verb{Upload, Overwrite, Append, Rename, Mkdir} {
		if err := p.Session(alice).Check(v, "/pub/x/.message"); !errors.As(err, &d) || !d.Reserved {
			t.Errorf("%s of .message: %v, want a reserved-name refusal", v, err)
		}
	}
	if err := p.Session(alice).Check(Retrieve, "/pub/.message"); err != nil {
		t.Errorf("retrieve of .message: %v", err)
	}
	if err := p.Session(alice).Check(Delete, "/.message"); err != nil {
		t.Errorf("delete of .message: %v", err)
	}
}

func TestCreate(t *testing.T) {
	p := compile(t, Input{Umask: "077", Rules: archive.Rules})
	s := p.Session(anon)
	if d := s.At("/incoming/a.bin"); d.FilePerm != 0o600 || d.DirPerm != 0o700 || d.GID != 50 {
		t.Errorf("in /incoming: file %04o dir %04o gid %d, want 0600, 0700 (mode is for files), gid 50", d.FilePerm, d.DirPerm, d.GID)
	}
	if d := p.Session(alice).At("/f"); d.FilePerm != 0o600 || d.DirPerm != 0o700 || d.GID != -1 {
		t.Errorf("alice: file %04o dir %04o gid %d", d.FilePerm, d.DirPerm, d.GID)
	}
	// A per-user umask replaces the default one.
	u := alice
	u.Umask, u.HasUmask = 0o002, true
	if d := p.Session(u).At("/f"); d.FilePerm != 0o664 || d.DirPerm != 0o775 {
		t.Errorf("umask 002: file %04o dir %04o", d.FilePerm, d.DirPerm)
	}
	// The default umask is 022.
	if d := compile(t, Input{}).Session(alice).At("/f"); d.FilePerm != 0o644 || d.DirPerm != 0o755 {
		t.Errorf("default umask: file %04o dir %04o", d.FilePerm, d.DirPerm)
	}
}

func TestCompileProblems(t *testing.T) {
	tests := []struct {
		name  string
		in    Input
		key   string
		entry int
		msg   string
	}{
		{"bad glob", Input{Rules: []RuleConfig{{Path: "/ok"}, {Path: "/a/[x"}}}, "rules.path", 1, "bad glob"},
		{"relative", Input{Rules: []RuleConfig{{Path: "pub"}}}, "rules.path", 0, "must start with /"},
		{"unknown verb", Input{Rules: []RuleConfig{{Path: "/a", Allow: []string{"list", "download"}}}}, "rules.allow", 0, `unknown verb "download"`},
		{"unknown deny verb", Input{Rules: []RuleConfig{{Path: "/a", Deny: []string{"chmod"}}}}, "rules.deny", 0, `unknown verb "chmod" (verbs: list retrieve`},
		{"both", Input{Rules: []RuleConfig{{Path: "/a", Allow: []string{"list"}, Deny: []string{"list"}}}}, "rules.deny", 0, "both allowed and denied"},
		{"unknown selector", Input{Rules: []RuleConfig{{Path: "/a", Who: []string{"@guests"}}}}, "rules.who", 0, `unknown selector "@guests"`},
		{"empty group", Input{Rules: []RuleConfig{{Path: "/a", Who: []string{"@group:"}}}}, "rules.who", 0, "names no group"},
		{"mode not octal", Input{Rules: []RuleConfig{{Path: "/a", Mode: "0689"}}}, "rules.mode", 0, "not octal"},
		{"mode setuid", Input{Rules: []RuleConfig{{Path: "/a", Mode: "4755"}}}, "rules.mode", 0, "setuid"},
		{"unknown group", Input{Rules: []RuleConfig{{Path: "/a", Group: "wheel"}}}, "rules.group", 0, `group "wheel": no such group`},
		{"umask", Input{Umask: "0x22"}, "umask", 0, "not octal"},
		{"umask too big", Input{Umask: "1022"}, "umask", 0, "more than the permission bits"},
		{"shadowed", Input{Rules: []RuleConfig{{Path: "/pub/**"}, {Path: "/x"}, {Path: "/pub/*.iso", Who: []string{"bob"}, Deny: []string{"retrieve"}}}},
			"rules.path", 2, "rule 3 (path \"/pub/*.iso\", who bob) can never match: rule 1"},
		{"shadowed by everyone", Input{Rules: []RuleConfig{{Path: "/a", Who: []string{"*"}}, {Path: "/a", Who: []string{"@anonymous"}}}}, "rules.path", 1, "can never match"},
		{"cidr", Input{Classes: []ClassConfig{{Name: "c", Clients: []string{"10.0.0.0/33"}}}}, "classes.clients", 0, "not a CIDR"},
		{"cidr host bits", Input{Classes: []ClassConfig{{Name: "c", DenyClients: []string{"10.1.2.3/8"}}}}, "classes.deny_clients", 0, `write "10.0.0.0/8"`},
		{"class name", Input{Classes: []ClassConfig{{Who: []string{"*"}}}}, "classes.name", 0, "is missing"},
		{"class dup", Input{Classes: []ClassConfig{{Name: "a", Who: []string{"@anonymous"}}, {Name: "a", Who: []string{"@system"}}}}, "classes.name", 1, "already defined"},
		{"class selector", Input{Classes: []ClassConfig{{Name: "a", Who: []string{"@real"}}}}, "classes.who", 0, "unknown selector"},
		{"class negative", Input{Classes: []ClassConfig{{Name: "a", MaxSessions: -1}}}, "classes.max_sessions", 0, "0 (no limit) or more"},
		{"class message", Input{Classes: []ClassConfig{{Name: "a", FullMessage: "x\r\n421 fake"}}}, "classes.full_message", 0, "single line"},
		{"class shadowed", Input{Classes: []ClassConfig{{Name: "all", Clients: []string{"10.0.0.0/8"}}, {Name: "lan", Clients: []string{"10.1.0.0/16"}, Who: []string{"@system"}}}},
			"classes.name", 1, `class "lan" can never be chosen: class "all"`},
		{"cwd message with slash", Input{Messages: MessagesConfig{Cwd: "/etc/motd"}}, "messages.cwd", 0, "without /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, probs := Compile(tt.in, CompileOptions{LookupGroup: func(string) (int, error) { return 0, errors.New("no such group") }})
			if p != nil {
				t.Errorf("got a policy despite the problems")
			}
			for _, pr := range probs {
				if pr.Key == tt.key && pr.Entry == tt.entry && strings.Contains(pr.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("problems %q, want %s (entry %d) containing %q", probs, tt.key, tt.entry, tt.msg)
		})
	}
}

func TestCompileAcceptsClassicLayouts(t *testing.T) {
	in := archive
	in.Classes = []ClassConfig{
		{Name: "anon", Who: []string{"@anonymous"}, MaxSessions: 20, FullMessage: "Too many anonymous users, try later"},
		{Name: "partners", Who: []string{"@system"}, Clients: []string{"10.0.0.0/8", "2001:db8::/32"}, MaxSessions: 8, DenyClients: []string{"10.6.6.0/24"}},
		{Name: "lan", Clients: []string{"192.168.0.0/16"}, SSHUsers: []string{"tunnel"}},
		{Name: "rest"},
	}
	in.Messages.Cwd = ".message"
	p := compile(t, in)
	if len(p.Rules) != 4 || len(p.Classes) != 4 || p.CwdMessage != ".message" || p.Umask != DefaultUmask {
		t.Errorf("compiled %d rules, %d classes, cwd %q, umask %s", len(p.Rules), len(p.Classes), p.CwdMessage, p.Umask)
	}
}

func TestVerbNames(t *testing.T) {
	for v := List; v < verbEnd; v <<= 1 {
		w, ok := ParseVerb(v.String())
		if !ok || w != v {
			t.Errorf("verb %d: name %q parses to %v %v", v, v.String(), w, ok)
		}
	}
	if got := AllRights.String(); got != "all" {
		t.Errorf("AllRights = %q", got)
	}
	if got := (Rights(Upload) | Rights(Mkdir)).String(); got != "upload mkdir" {
		t.Errorf("upload|mkdir = %q", got)
	}
	if VerbNames != "list retrieve upload overwrite append delete rename mkdir rmdir mfmt" {
		t.Errorf("VerbNames = %q: the contract's verbs changed", VerbNames)
	}
}

func TestWriteEffective(t *testing.T) {
	in := archive
	in.Umask = "027"
	in.Classes = []ClassConfig{{Name: "partners", Who: []string{"@system"}, Clients: []string{"10.0.0.0/8"}, MaxSessions: 8}}
	in.Messages.Cwd = ".message"
	var b strings.Builder
	if err := compile(t, in).WriteEffective(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	for _, want := range []string{
		"umask 027: files 0640, directories 0750",
		"rules (first match wins",
		"1  /incoming ",
		"who @anonymous",
		"deny list",
		"→ anonymous: retrieve",
		"allow upload mkdir, mode 0600, group ftp",
		"→ anonymous: upload mkdir",
		"deny overwrite delete rename",
		"→ others: list retrieve upload append mkdir rmdir mfmt; anonymous, read_only: list retrieve",
		"who @group:partners,alice",
		"partners  who @system  clients 10.0.0.0/8  ssh_users any  max_sessions 8  deny_clients none",
		`cwd message: ".message"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Rules come out in order.
	if i, j := strings.Index(out, "/incoming/**"), strings.Index(out, "/pub/**"); i < 0 || j < i {
		t.Errorf("rules out of order")
	}
}
