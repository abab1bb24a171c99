package wuftpd

import (
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

var reportLine = regexp.MustCompile(`^[^:]+:\d+: [^:]+: (mapped|note|narrowed|lost): .+$`)

// fallback is the text of a line the importer does not know.
const fallback = "not a wu-ftpd directive"

// Every keyword of the research notes' list gets a report line of its own, none of them the
// fallback for unknown keywords: no directive is dropped silently.
func TestEveryDirectiveIsReported(t *testing.T) {
	list, err := os.ReadFile("testdata/wu-ftpd-directives.txt")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(loadSetup(t, "testdata/all-directives"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range res.Report {
		if f.Line > 0 && f.File == "testdata/all-directives/ftpaccess" {
			kw := strings.Fields(f.Directive)[0]
			if strings.Contains(f.Text, fallback) {
				t.Errorf("%s: %s reported as unknown: %s", f.Directive, kw, f)
			}
			seen[kw] = true
		}
	}
	n := 0
	for _, kw := range strings.Split(string(list), "\n") {
		if kw = strings.TrimSpace(kw); kw == "" || strings.HasPrefix(kw, "#") {
			continue
		}
		n++
		if !seen[kw] {
			t.Errorf("directive %s has no report line", kw)
		}
	}
	if n != 95 {
		t.Errorf("the list has %d keywords, the notes 95", n)
	}
}

// Each directive line, flag and file entry of every setup has a report line, in the format
// FILE:LINE: directive: status: explanation.
func TestEveryLineIsReported(t *testing.T) {
	for _, name := range []string{"company", "mirror", "tunnel", "all-directives"} {
		dir := filepath.Join("testdata", name)
		in := loadSetup(t, dir)
		res, err := Import(in)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, f := range res.Report {
			if !reportLine.MatchString(f.String()) {
				t.Errorf("bad report line %q", f)
			}
			got[f.File+":"+strconv.Itoa(f.Line)] = true
		}
		want := func(src *Source, comment func(string) bool) {
			if src == nil {
				return
			}
			for i, l := range strings.Split(string(src.Data), "\n") {
				if strings.TrimSpace(l) == "" || comment(l) {
					continue
				}
				if k := src.Name + ":" + strconv.Itoa(i+1); !got[k] {
					t.Errorf("%s: %q has no report line", k, l)
				}
			}
		}
		hash := func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "#") }
		want(&in.FtpAccess, hash)
		want(in.FtpHosts, hash)
		want(in.FtpUsers, func(string) bool { return false })
		if in.Xinetd != nil {
			want(in.Xinetd, func(l string) bool {
				l = strings.TrimSpace(l)
				return hash(l) || l == "{" || l == "}" || strings.HasPrefix(l, "service")
			})
		}
	}
}

// allowedKeys are the keys the importer may write: today's config (etc/tunnelftpd.toml),
// issue 14's access-policy keys and issue 15's (shutdown_file, log.commands, log.wtmp).
var allowedKeys = map[string]bool{
	"listen": true, "banner": true, "idle_timeout": true, "data_timeout": true, "run_as": true,
	"banner_file": true, "umask": true, "shutdown_file": true,
	"passive.ports": true, "passive.address": true, "passive.wait": true, "passive.accept_timeout": true,
	"log.level": true, "log.xferlog": true, "log.commands": true, "log.wtmp": true,
	"auth.max_login_attempts": true, "auth.system_users": true, "auth.pam_service": true, "auth.ftpusers": true,
	"auth.min_uid": true, "auth.require_shell": true, "auth.system_root": true, "auth.anonymous_root": true,
	"messages.login": true, "messages.cwd": true, "messages.email": true, // email: the access branch's %E source
	"classes.name": true, "classes.who": true, "classes.clients": true, "classes.ssh_users": true,
	"classes.max_sessions": true, "classes.full_message": true, "classes.deny_clients": true,
	"rules.path": true, "rules.who": true, "rules.allow": true, "rules.deny": true, "rules.mode": true, "rules.group": true,
}

// The output is valid TOML that uses only contract keys, with values of the forms issue 14
// describes: known verbs and selectors, octal modes, CIDRs, globs that parse.
func TestOutputUsesContractKeysAndValues(t *testing.T) {
	verbs := map[string]bool{}
	for _, v := range verbNames {
		verbs[v] = true
	}
	for _, name := range []string{"company", "mirror", "tunnel", "all-directives"} {
		res, err := Import(loadSetup(t, filepath.Join("testdata", name)))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		md, err := toml.Decode(res.TOML, &doc)
		if err != nil {
			t.Fatalf("%s: output is not TOML: %v\n%s", name, err, res.TOML)
		}
		for _, k := range md.Keys() {
			key := k.String()
			if _, isTable := doc[key]; isTable && len(k) == 1 {
				if _, ok := doc[key].(map[string]any); ok {
					continue
				}
				if _, ok := doc[key].([]map[string]any); ok {
					continue
				}
			}
			if !allowedKeys[key] {
				t.Errorf("%s: key %s is not in the contract", name, key)
			}
		}
		rules, _ := doc["rules"].([]map[string]any)
		for _, r := range rules {
			p, _ := r["path"].(string)
			if !strings.HasPrefix(p, "/") {
				t.Errorf("%s: rule path %q is not absolute", name, p)
			}
			for _, seg := range splitPath(p) {
				if _, err := path.Match(seg, ""); seg != "**" && err != nil {
					t.Errorf("%s: rule path %q: bad glob segment %q", name, p, seg)
				}
			}
			for _, key := range []string{"allow", "deny"} {
				list, _ := r[key].([]any)
				for _, v := range list {
					if !verbs[v.(string)] {
						t.Errorf("%s: unknown verb %v", name, v)
					}
				}
			}
			if (r["allow"] == nil) == (r["deny"] == nil) {
				t.Errorf("%s: rule %q must have exactly one of allow and deny", name, p)
			}
			if m, ok := r["mode"].(string); ok {
				if _, err := strconv.ParseUint(m, 8, 32); err != nil || len(m) != 4 {
					t.Errorf("%s: mode %q", name, m)
				}
			}
			checkWho(t, name, r["who"])
		}
		classes, _ := doc["classes"].([]map[string]any)
		for _, c := range classes {
			checkWho(t, name, c["who"])
			for _, key := range []string{"clients", "deny_clients"} {
				list, _ := c[key].([]any)
				for _, v := range list {
					if _, err := netip.ParsePrefix(v.(string)); err != nil {
						t.Errorf("%s: %s %v is not a CIDR", name, key, v)
					}
				}
			}
		}
	}
}

var selectorRe = regexp.MustCompile(`^(\*|@system|@virtual|@anonymous|@group:[A-Za-z0-9._-]+|[a-z_][a-z0-9._-]*)$`)

func checkWho(t *testing.T, name string, who any) {
	t.Helper()
	list, _ := who.([]any)
	for _, v := range list {
		if !selectorRe.MatchString(v.(string)) {
			t.Errorf("%s: selector %q", name, v)
		}
	}
}
