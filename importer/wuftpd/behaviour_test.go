package wuftpd

import (
	"fmt"
	"math/rand"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// doc is an imported config, decoded.
type doc struct {
	Umask   string `toml:"umask"`
	Passive struct {
		Ports         string `toml:"ports"`
		Address       string `toml:"address"`
		AcceptTimeout string `toml:"accept_timeout"`
	} `toml:"passive"`
	Auth struct {
		AnonymousRoot string `toml:"anonymous_root"`
		SystemUsers   bool   `toml:"system_users"`
		MinUID        int    `toml:"min_uid"`
	} `toml:"auth"`
	Classes []struct {
		Name        string   `toml:"name"`
		Who         []string `toml:"who"`
		Clients     []string `toml:"clients"`
		MaxSessions int      `toml:"max_sessions"`
		FullMessage string   `toml:"full_message"`
		DenyClients []string `toml:"deny_clients"`
	} `toml:"classes"`
	Rules []struct {
		Path  string   `toml:"path"`
		Who   []string `toml:"who"`
		Allow []string `toml:"allow"`
		Deny  []string `toml:"deny"`
		Mode  string   `toml:"mode"`
		Group string   `toml:"group"`
	} `toml:"rules"`
	raw map[string]any
}

func decode(t *testing.T, text string) *doc {
	t.Helper()
	var d doc
	if _, err := toml.Decode(text, &d); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	toml.Decode(text, &d.raw)
	return &d
}

// user is who a session is for the rule selectors.
type user struct {
	names []string // selectors it matches: its name, @system or @anonymous, @group:...
	anon  bool
}

func (u user) matches(who []string) bool {
	if len(who) == 0 {
		return true
	}
	for _, w := range who {
		if w == "*" {
			return true
		}
		for _, n := range u.names {
			if w == n {
				return true
			}
		}
	}
	return false
}

// effective is what tunnelftpd allows at path p under issue 14's rules: the first rule whose
// path and who match decides (allow: exactly those verbs; deny: the defaults without them),
// else the defaults. It returns the matching rule's index too (-1: none).
func (d *doc) effective(u user, p string) (verbs, int) {
	def := defaultSystem
	if u.anon {
		def = defaultAnon
	}
	for i, r := range d.Rules {
		if !u.matches(r.Who) || !globMatch(r.Path, p) {
			continue
		}
		if r.Allow != nil {
			return toVerbs(r.Allow), i
		}
		return def &^ toVerbs(r.Deny), i
	}
	return def, -1
}

func toVerbs(names []string) verbs {
	var v verbs
	for _, n := range names {
		for i, vn := range verbNames {
			if vn == n {
				v |= 1 << i
			}
		}
	}
	return v
}

// refused is whether issue 14's classes refuse user u from client: at connect, a class that
// selects everyone (a refusal list of only deny_clients, or no who) whose clients admit the
// address and whose deny_clients hold it; at login, the same for a class whose who selects u.
func (d *doc) refused(u user, client string) bool {
	in := func(list []string) bool {
		for _, c := range list {
			if p, err := netip.ParsePrefix(c); err == nil && p.Contains(netip.MustParseAddr(client)) {
				return true
			}
		}
		return false
	}
	for _, c := range d.Classes {
		if (len(c.Who) == 0 || u.matches(c.Who)) && (len(c.Clients) == 0 || in(c.Clients)) && in(c.DenyClients) {
			return true
		}
	}
	return false
}

func (d *doc) expectRefused(t *testing.T, u user, client string, want bool) {
	t.Helper()
	if got := d.refused(u, client); got != want {
		t.Errorf("%v from %s: refused %v, want %v", u.names, client, got, want)
	}
}

func (d *doc) expect(t *testing.T, u user, p string, want verbs) {
	t.Helper()
	got, i := d.effective(u, p)
	if got != want {
		t.Errorf("%v at %s: tunnelftpd allows %s (rule %d), want %s", u.names, p, got, i, want)
	}
}

func importSetup(t *testing.T, name string) (*doc, *Result) {
	t.Helper()
	res, err := Import(loadSetup(t, filepath.Join("testdata", name)))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, res.TOML), res
}

var anonymous = user{names: []string{"@anonymous"}, anon: true}

// The anonymous mirror: /incoming is write-only (upload, no list, no retrieve, no overwrite,
// no mkdir), files 0600; everything else is read-only, with noretrieve holes and the
// allow-retrieve exception; the path-filter refuses dot and dash names.
func TestMirrorAnonymousRights(t *testing.T) {
	d, _ := importSetup(t, "mirror")
	d.expect(t, anonymous, "/incoming/new.tar", vUpload)
	d.expect(t, anonymous, "/incoming", 0)
	d.expect(t, anonymous, "/incoming/.hidden", 0)
	d.expect(t, anonymous, "/incoming/-rf", 0)
	d.expect(t, anonymous, "/incoming/sub/file", vList) // outside the upload dir: "*" says no, and noretrieve /incoming covers it
	d.expect(t, anonymous, "/pub/linux/kernel.tar.gz", vList|vRetrieve)
	d.expect(t, anonymous, "/pub/core", vList)
	d.expect(t, anonymous, "/pub/.htaccess", vList)
	d.expect(t, anonymous, "/private/notes", vList)
	d.expect(t, anonymous, "/private/README", vList|vRetrieve)
	d.expect(t, anonymous, "/README", vList|vRetrieve)
	for _, r := range d.Rules {
		if r.Path == "/incoming/*" && (r.Mode != "0600" || r.Group != "ftp") {
			t.Errorf("upload rule mode %q group %q, want 0600 and ftp", r.Mode, r.Group)
		}
	}
	if d.Auth.AnonymousRoot != "/srv/ftp" {
		t.Errorf("anonymous_root %q", d.Auth.AnonymousRoot)
	}
	if len(d.Classes) != 3 || d.Classes[1].Name != "anon" || d.Classes[1].MaxSessions != 50 || !strings.Contains(d.Classes[1].FullMessage, "too many anonymous users") {
		t.Errorf("class anon: %+v (the timed limit 50 is the smallest)", d.Classes)
	}
	if first := d.Classes[0]; first.Name != "refused" || len(first.Who)+len(first.Clients) != 0 || strings.Join(first.DenyClients, " ") != "203.0.113.0/24" {
		t.Errorf("deny 203.0.113.0/24 is not a refusal list: %+v", first)
	}
	d.expectRefused(t, anonymous, "203.0.113.9", true)
	d.expectRefused(t, anonymous, "198.51.100.9", false)
	// The archive team's own account keeps everything but files wu-ftpd never served.
	staff := user{names: []string{"ftpadmin", "@system"}}
	d.expect(t, staff, "/work/report.txt", defaultSystem&^vMfmt)
	d.expect(t, staff, "/work/core", defaultSystem&^vMfmt&^vRetrieve)
}

// The company: partners (guests) upload into /incoming only, never delete, rename or overwrite,
// cannot read back what they dropped, get 0640 files in group partners; staff keep every right.
func TestCompanyRights(t *testing.T) {
	d, res := importSetup(t, "company")
	carol := user{names: []string{"carol", "@system", "@group:partners"}}
	d.expect(t, carol, "/incoming/offer.pdf", vList|vUpload)
	d.expect(t, carol, "/incoming/.profile", vList)
	d.expect(t, carol, "/incoming/-x", vList)
	d.expect(t, carol, "/outgoing/price-list.pdf", vList|vRetrieve)
	d.expect(t, carol, "/offer.pdf", vList|vRetrieve)
	alice := user{names: []string{"alice", "@system"}}
	d.expect(t, alice, "/projects/plan.odt", defaultSystem&^vMfmt)
	// bob may log in only from the office (ftphosts); everyone is refused from 198.51.100.0/24.
	bob := user{names: []string{"bob", "@system", "@group:ftpadmin"}}
	d.expect(t, bob, "/x", defaultSystem&^vMfmt)
	d.expectRefused(t, bob, "10.20.3.4", false)
	d.expectRefused(t, bob, "192.0.2.1", true)
	d.expectRefused(t, alice, "192.0.2.1", false)
	d.expectRefused(t, alice, "198.51.100.1", true)
	d.expectRefused(t, alice, "2001:db8::1", false)
	// ftpusers lists "Oracle": wu-ftpd refused oracle too.
	d.expectRefused(t, user{names: []string{"oracle", "@system"}}, "10.20.3.4", true)
	if d.Umask != "077" {
		t.Errorf("umask %q, want 077 (027 and 077 for partners: the union)", d.Umask)
	}
	for _, r := range d.Rules {
		if r.Path == "/incoming/*" && (r.Mode != "0640" || r.Group != "partners") {
			t.Errorf("partner upload rule: mode %q group %q", r.Mode, r.Group)
		}
	}
	var names []string
	for _, c := range d.Classes {
		names = append(names, c.Name)
	}
	if strings.Join(names, " ") != "refused refused-bob refused-oracle partners staff outside" || d.Classes[3].MaxSessions != 8 {
		t.Errorf("classes %v: refusals first, then the guest-only class before @system's", names)
	}
	if !d.Auth.SystemUsers || d.Auth.AnonymousRoot != "" || d.Auth.MinUID != 1000 {
		t.Errorf("auth: %+v", d.Auth)
	}
	wantLines := []string{
		"testdata/company/ftpaccess:20: defumask: narrowed:",
		"testdata/company/ftphosts:4: allow: mapped: bob: only clients from 10.20.0.0/16 are admitted",
		"testdata/company/ftpusers:8: ftpusers: mapped:",
		"testdata/company/ftpaccess:41: deny-gid: lost:",
		"testdata/company/ftpaccess:51: email: mapped:",
	}
	text := reportText(res)
	for _, w := range wantLines {
		if !strings.Contains(text, w) {
			t.Errorf("report lacks %q", w)
		}
	}
}

// The tunnel setup: the forwarded passive range and address, the class limits, the timeouts.
func TestTunnelSetup(t *testing.T) {
	d, res := importSetup(t, "tunnel")
	if d.Passive.Ports != "22000-22004" || d.Passive.Address != "127.0.0.1" || d.Passive.AcceptTimeout != "1m" {
		t.Errorf("passive: %+v", d.Passive)
	}
	if len(d.Classes) != 2 || d.Classes[0].Name != "lan" || d.Classes[0].MaxSessions != 5 ||
		len(d.Classes[0].Clients) != 1 || d.Classes[0].Clients[0] != "10.1.0.0/16" ||
		d.Classes[1].Name != "tunnel" || d.Classes[1].MaxSessions != 20 || len(d.Classes[1].Clients) != 0 {
		t.Errorf("classes: %+v", d.Classes)
	}
	if v := d.raw["idle_timeout"]; v != "30m" {
		t.Errorf("idle_timeout %v: timeout idle 1800 overrides -t 600", v)
	}
	if lg := d.raw["log"].(map[string]any); lg["wtmp"] != false || lg["commands"] != true {
		t.Errorf("log: %v (-W, log commands)", lg)
	}
	guest := user{names: []string{"extsupplier", "@system", "@group:ftpguest"}}
	d.expect(t, guest, "/drop/parts.csv", vList|vRetrieve|vUpload|vRename)
	d.expect(t, guest, "/notes.txt", vList|vRetrieve|vUpload|vRename|vMkdir)
	if !strings.Contains(reportText(res), "x-local-quota: lost: not a wu-ftpd directive") {
		t.Error("the unknown directive is not reported lost")
	}
}

// Without -a in the launch line, wu-ftpd never read ftpaccess: nothing of it is imported.
func TestWithoutDashA(t *testing.T) {
	in := loadSetup(t, "testdata/mirror")
	in.InetdLine = "ftp stream tcp nowait root /usr/sbin/tcpd in.ftpd -l"
	res, err := Import(in)
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, res.TOML)
	for _, f := range res.Report {
		if f.File == in.FtpAccess.Name && f.Line > 0 && !strings.Contains(f.Text, "not in effect") {
			t.Errorf("directive imported although wu-ftpd ignored the file: %s", f)
		}
	}
	// wu-ftpd's defaults: anonymous read-only (tunnelftpd's default too) from ~ftp.
	d.expect(t, anonymous, "/incoming/x", vList|vRetrieve)
	if d.Auth.AnonymousRoot != "/srv/ftp" || len(d.Classes) != 0 {
		t.Errorf("auth %+v classes %+v", d.Auth, d.Classes)
	}
}

// Never widen: for random ftpaccess files, at random paths and in every context a rule cannot
// tell apart, the imported rules allow no verb that the wu-ftpd model refused.
func TestRulesNeverWiden(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	dirs := []string{"*", "/incoming", "/pub", "/pub/incoming", "/incoming/sub", "/in*", "/pub/*", "/home/alice/drop", "/home/alice", "/srv/ftp/incoming"}
	names := []string{"core", "*.gz", ".*", "a*", "README", "/private", "/pub/private", "/srv/ftp/pub/secret", "/home/alice/secret", "/incoming"}
	kinds := []string{"anonymous", "real", "anonymous,real", "class=remote", "guest"}
	segs := []string{"incoming", "pub", "private", "sub", "core", "x.gz", ".hidden", "a", "README", "ax.gz", "f", "drop", "secret", "-x"}
	pick := func(l []string) string { return l[rng.Intn(len(l))] }
	passwd := []byte("ftp:x:14:50::/srv/ftp:/sbin/nologin\nalice:x:1001:1001::/home/alice:/bin/bash\ncarol:x:2001:2000::/home/g/carol/./:/bin/sh\n")
	group := []byte("ftp:x:50:\nalice:x:1001:\nguests:x:2000:\n")
	for iter := 0; iter < 400; iter++ {
		var b strings.Builder
		b.WriteString("class local real,guest,anonymous 10.0.0.0/8\nclass remote real,guest,anonymous *\nguestgroup guests\n")
		for n := rng.Intn(9) + 1; n > 0; n-- {
			switch rng.Intn(7) {
			case 0, 1:
				root := pick([]string{"/srv/ftp", "*", "/home/*", "/home/g/*"})
				opt := pick([]string{"", "", "class=remote "})
				fmt.Fprintf(&b, "upload %s%s %s %s", opt, root, pick(dirs), pick([]string{"yes", "no"}))
				if rng.Intn(2) == 0 {
					fmt.Fprintf(&b, " %s %s %s", pick([]string{"ftp", "root", "*"}), pick([]string{"ftp", "staff"}), pick([]string{"0600", "0644", "0640"}))
					if rng.Intn(2) == 0 {
						b.WriteString(" nodirs")
					}
				}
				b.WriteString("\n")
			case 2:
				fmt.Fprintf(&b, "noretrieve %s%s\n", pick([]string{"", "relative ", "class=local "}), pick(names))
			case 3:
				fmt.Fprintf(&b, "allow-retrieve %s%s\n", pick([]string{"", "relative "}), pick(names))
			case 4:
				fmt.Fprintf(&b, "%s %s %s\n", pick([]string{"delete", "rename", "overwrite"}), pick([]string{"yes", "no"}), pick(kinds))
			case 5:
				fmt.Fprintf(&b, "path-filter %s /m %s\n", pick(kinds), pick([]string{`^[-A-Za-z0-9._]*$ ^\. ^-`, `^[a-z]*$`, `.* \.gz$`, `(a|b)`}))
			case 6:
				fmt.Fprintf(&b, "defumask %s\n", pick([]string{"022", "077", "002"}))
			}
		}
		text := b.String()
		im, err := runImport(Input{FtpAccess: Source{Name: "ftpaccess", Data: []byte(text)}, Options: Options{Accounts: ParseAccounts(passwd, group)}})
		if err != nil {
			t.Fatal(err)
		}
		d := decode(t, im.cfg.render())
		users := map[kind]user{
			kAnon:  anonymous,
			kReal:  {names: []string{"alice", "@system", "@group:alice"}},
			kGuest: {names: []string{"carol", "@system", "@group:guests"}},
		}
		for _, blk := range im.blocks {
			for _, cx := range im.contexts(blk, im.pol) {
				u := users[cx.k]
				for n := 0; n < 60; n++ {
					p := ""
					for depth := rng.Intn(3) + 1; depth > 0; depth-- {
						p += "/" + pick(segs)
					}
					wu := im.pol.eval(cx, p).rights
					got, ri := d.effective(u, p)
					if extra := got &^ wu; extra != 0 {
						t.Fatalf("config:\n%s\n%s %s class %s at %s: rule %d allows %s, wu-ftpd refused it\n%s", text, cx.k, u.names[0], cx.class, p, ri, extra, im.cfg.render())
					}
				}
			}
		}
	}
}

// Each in.ftpd option with a fixed report gets that report, with its status,
// not the fallback for options the importer does not know.
func TestFixedFlagReports(t *testing.T) {
	for opt, want := range fixedFlagReports {
		res := importFlags(t, "-a -"+opt)
		if strings.Contains(reportText(res), "-"+opt+": lost: its argument is missing") {
			res = importFlags(t, "-a -"+opt+" 60")
		}
		found := false
		for _, f := range res.Report {
			if strings.Contains(f.String(), "-"+opt+": ") && strings.Contains(f.Text, want.why) && f.Status == want.status {
				found = true
			}
		}
		if !found {
			t.Errorf("-%s: no %v report %q in\n%s", opt, want.status, want.why, reportText(res))
		}
	}
}

func importFlags(t *testing.T, flags string) *Result {
	t.Helper()
	in := loadSetup(t, "testdata/mirror")
	in.InetdLine = "ftp stream tcp nowait root /usr/sbin/tcpd in.ftpd " + flags
	res, err := Import(in)
	if err != nil {
		t.Fatalf("%s: %v", flags, err)
	}
	return res
}
