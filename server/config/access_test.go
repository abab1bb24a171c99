package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/tunnelftpd/tunnelftpd/access"
)

// TestAccessRulesDocExamples: every TOML example of docs/access-rules.md uses only known keys
// and compiles (rules, classes, umask, messages), so the guide's layouts work as written. Group
// names are checked for syntax only (the host running the test lacks the guide's groups).
func TestAccessRulesDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/access-rules.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 5 {
		t.Fatalf("found %d TOML examples in docs/access-rules.md, want the classic layouts", len(blocks))
	}
	for i, b := range blocks {
		c := defaults()
		md, err := toml.Decode(string(b[1]), &c)
		if err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, b[1])
			continue
		}
		if und := md.Undecoded(); len(und) > 0 {
			t.Errorf("example %d: unknown keys %v", i+1, und)
		}
		in := access.Input{Umask: c.Umask, Rules: c.Rules, Classes: c.Classes, Messages: c.Messages}
		if _, probs := access.Compile(in, access.CompileOptions{}); probs != nil {
			t.Errorf("example %d: %v\n%s", i+1, probs, b[1])
		}
	}
}

// TestAccessKeys: the access keys are validated with the file, line and key of each problem,
// and a valid set is compiled into the policy the server uses.
func TestAccessKeys(t *testing.T) {
	dir := t.TempDir()
	banner := filepath.Join(dir, "banner.txt")
	if err := os.WriteFile(banner, []byte("line one\n\nline three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(validConfig(t), `listen = "127.0.0.1:2121"`,
		`listen = "127.0.0.1:2121"`+"\numask = \"077\"\nbanner_file = \""+banner+"\"\nascii = \"convert\"", 1) +
		"umask = \"002\"\n[[rules]]\npath = \"/in/**\"\nallow = [\"upload\"]\nmode = \"0640\"\n" +
		"[[classes]]\nname = \"all\"\nmax_sessions = 3\n"
	c, err := Parse("t.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	pol := c.Policy()
	if pol.Umask.String() != "077" || len(pol.Rules) != 1 || len(pol.Classes) != 1 || c.ASCII != ASCIIConvert {
		t.Errorf("policy: umask %s, %d rules, %d classes, ascii %s", pol.Umask, len(pol.Rules), len(pol.Classes), c.ASCII)
	}
	if got := strings.Join(c.BannerLines(), "|"); got != "line one||line three" {
		t.Errorf("banner lines %q", got)
	}
	if m, ok := c.UserUmask(c.Users[0].Name); !ok || m.String() != "002" {
		t.Errorf("user umask %v %v", m, ok)
	}

	for _, tc := range []struct{ edit, want string }{
		{"umask = \"999\"\n", `^t\.toml:1: umask: "999" is not octal`},
		{"ascii = \"dos\"\n", `^t\.toml:1: ascii: "dos" must be "as-is"`},
		{"banner_file = \"" + filepath.Join(dir, "missing") + "\"\n", `^t\.toml:1: banner_file: .* does not exist`},
		{"banner_file = \"banner.txt\"\n", `^t\.toml:1: banner_file: "banner.txt" must be an absolute path`},
		{"[messages]\ncwd = \"a/.message\"\n", `^t\.toml:2: messages\.cwd: .* without /`},
		{"[messages]\nlogin = \"" + dir + "\"\n", `^t\.toml:2: messages\.login: .* is not a regular file`},
		{"[[rules]]\npath = \"incoming\"\n", `^t\.toml:2: rules\.path: "incoming" must start with /`},
		{"[[rules]]\npath = \"/x\"\nwho = [\"@nobody\"]\n", `^t\.toml:3: rules\.who: unknown selector "@nobody"`},
		{"[[rules]]\npath = \"/x\"\ngroup = \"no-such-group-tftp\"\n", `^t\.toml:3: rules\.group: group "no-such-group-tftp": no such group`},
		{"[[classes]]\nname = \"a\"\nclients = [\"10.0.0.300/8\"]\n", `^t\.toml:3: classes\.clients: `},
	} {
		text := tc.edit + strings.Replace(validConfig(t), `listen = "127.0.0.1:2121"`, "", 1)
		if strings.HasPrefix(tc.edit, "[") {
			// A table goes after the top-level keys; the line numbers count from its header.
			text = tc.edit + "[[users]]" + strings.SplitN(validConfig(t), "[[users]]", 2)[1]
		}
		_, err := Parse("t.toml", []byte(text))
		if err == nil || !regexp.MustCompile(tc.want).MatchString(err.Error()) {
			t.Errorf("%q: error %v, want %s", tc.edit, err, tc.want)
		}
	}
}
