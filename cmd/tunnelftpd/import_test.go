package main

import (
	"bytes"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// setupsDir holds the wu-ftpd setups the importer's own tests use.
const setupsDir = "../../importer/wuftpd/testdata"

var setups = []string{"company", "mirror", "tunnel"}

// importArgs are the import flags for one setup of setupsDir. The import that follows reads
// the setup's passwd and group as the host's accounts (importHost), as it would on the host
// where that wu-ftpd ran: the homes decide which upload lines reach the guests.
func importArgs(t *testing.T, name string) []string {
	t.Helper()
	dir := filepath.Join(setupsDir, name)
	saved := importHost
	t.Cleanup(func() { importHost = saved })
	importHost.passwd, importHost.group = filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	importHost.lookup = func(name string) (*user.User, error) { return nil, user.UnknownUserError(name) }
	args := []string{"import", "wu-ftpd", "--ftpaccess", filepath.Join(dir, "ftpaccess")}
	for _, f := range []struct{ flag, file string }{{"--ftpusers", "ftpusers"}, {"--ftphosts", "ftphosts"}, {"--xinetd", "xinetd.wu-ftpd"}} {
		if _, err := os.Stat(filepath.Join(dir, f.file)); err == nil {
			args = append(args, f.flag, filepath.Join(dir, f.file))
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "inetd.conf")); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				args = append(args, "--inetd-line", l)
				break
			}
		}
	}
	return args
}

var reportRe = regexp.MustCompile(`^[^:]+:\d+: [^:]+: (mapped|note|narrowed|lost): .+$`)

func TestImportHelp(t *testing.T) {
	for _, args := range [][]string{{"import", "--help"}, {"import", "-h"}, {"import", "wu-ftpd", "-h"}, {"import", "wu-ftpd", "--help"}} {
		code, out, errs := runCmd(t, "", args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: tunnelftpd import wu-ftpd --ftpaccess FILE") || !strings.Contains(out, "FILE:LINE: directive: mapped|note|narrowed|lost") || !strings.Contains(out, "-inetd-line") || errs != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

func TestImportUsageErrors(t *testing.T) {
	dir := t.TempDir()
	access := filepath.Join(setupsDir, "mirror", "ftpaccess")
	exists := filepath.Join(dir, "exists.toml")
	os.WriteFile(exists, []byte("keep me"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"import"}, 2, "tunnelftpd import wu-ftpd -h"},
		{[]string{"import", "proftpd"}, 2, "tunnelftpd import wu-ftpd -h"},
		{[]string{"import", "wu-ftpd"}, 2, "--ftpaccess FILE is required"},
		{[]string{"import", "wu-ftpd", "--ftpaccess", access, "--inetd-line", "x", "--xinetd", "y"}, 2, "not both"},
		{[]string{"import", "wu-ftpd", "--ftpaccess", access, "--bogus"}, 2, "bogus"},
		{[]string{"import", "wu-ftpd", "--ftpaccess", access, "stray"}, 2, "unexpected argument"},
		{[]string{"import", "wu-ftpd", "--ftpaccess", filepath.Join(dir, "missing")}, 1, "missing"},
		{[]string{"import", "wu-ftpd", "--ftpaccess", access, "--inetd-line", "ftp stream tcp"}, 1, "at least 6 fields"},
		{[]string{"import", "wu-ftpd", "--ftpaccess", access, "-o", exists}, 1, "never overwrites"},
	} {
		code, out, errs := runCmd(t, "", tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errs, tc.msg) {
			t.Errorf("%v: exit %d (want %d), stdout %q, stderr %q (want %q)", tc.args, code, tc.code, out, errs, tc.msg)
		}
	}
	if data, _ := os.ReadFile(exists); string(data) != "keep me" {
		t.Error("-o overwrote an existing file")
	}
}

func TestImportWritesConfigAndReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tunnelftpd.toml")
	code, stdout, stderr := runCmd(t, "", append(importArgs(t, "mirror"), "-o", out)...)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q\n%s", code, stdout, stderr)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("config file: %v %v", st, err)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !reportRe.MatchString(l) {
			t.Errorf("report line %q", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "config written to "+out) || !strings.Contains(last, "narrowed") {
		t.Errorf("summary %q", last)
	}
	for _, want := range []string{"ftpaccess:23: upload: narrowed:", "ftpaccess:45: deny: mapped: deny_clients 203.0.113.0/24"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	data, _ := os.ReadFile(out)
	for _, want := range []string{`path = "/incoming/*"`, `allow = ["upload"]`, `anonymous_root = "/srv/ftp"`, `deny_clients = ["203.0.113.0/24"]`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("config lacks %s:\n%s", want, data)
		}
	}
	// Without -o the config goes to standard output and the report still to standard error.
	code, stdout, stderr = runCmd(t, "", importArgs(t, "tunnel")...)
	if code != 0 || !strings.Contains(stdout, `ports = "22000-22004"`) || strings.Contains(stdout, ": mapped: ") || !strings.Contains(stderr, "passive ports: mapped") {
		t.Errorf("stdout mode: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// newKeys are the keys of issues 14 and 15 that the importer writes and today's config does
// not know yet.
var newKeys = []string{"umask", "banner_file", "shutdown_file", "messages", "classes", "rules", "log.commands", "log.wtmp"}

// localize makes an imported config checkable on this host: its paths become directories and
// files under dir, run_as this user, the groups of upload rules this user's group. With strip, the keys today's config does not know are
// removed. It returns the config file written.
func localize(t *testing.T, text, dir string, strip bool) string {
	t.Helper()
	var m map[string]any
	if _, err := toml.Decode(text, &m); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	table := func(name string) map[string]any {
		if tb, ok := m[name].(map[string]any); ok {
			return tb
		}
		return map[string]any{}
	}
	host := func(p string) string { return filepath.Join(dir, "host", p) }
	mkdir := func(p string) string {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := func(p string) string {
		mkdir(filepath.Dir(p))
		os.WriteFile(p, []byte("Authorized use only.\n"), 0o644)
		return p
	}
	for _, tb := range []map[string]any{m, table("auth"), table("log")} {
		for key, v := range tb {
			s, ok := v.(string)
			if !ok || !strings.HasPrefix(s, "/") {
				continue
			}
			switch key {
			case "anonymous_root", "system_root":
				tb[key] = mkdir(host(s))
			case "xferlog", "shutdown_file":
				mkdir(filepath.Dir(host(s)))
				tb[key] = host(s)
			case "banner_file", "ftpusers":
				tb[key] = file(host(s))
			}
		}
	}
	if msg := table("messages"); msg["login"] != nil {
		msg["login"] = file(host(msg["login"].(string)))
	}
	// Groups of upload rules are the old host's; check wants them to exist here.
	group := "root"
	if me, err := user.Current(); err == nil {
		if g, err := user.LookupGroupId(me.Gid); err == nil {
			group = g.Name
		}
	}
	if rules, ok := m["rules"].([]map[string]any); ok {
		for _, r := range rules {
			if _, ok := r["group"]; ok {
				r["group"] = group
			}
		}
	}
	if _, ok := m["run_as"]; ok {
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		m["run_as"] = me.Username
	}
	if strip {
		for _, k := range newKeys {
			if tb, key, ok := strings.Cut(k, "."); ok {
				delete(table(tb), key)
			} else {
				delete(m, k)
			}
		}
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(m); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "tunnelftpd.toml")
	if err := os.WriteFile(p, buf.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

// needPAM: the setups log in system users, which check accepts only in a build with PAM.
func needPAM(t *testing.T) {
	t.Helper()
	if auth.PAMAvailable {
		return
	}
	if os.Getenv("TUNNELFTPD_E2E") == "1" {
		t.Fatal("TUNNELFTPD_E2E=1 but this test binary has no PAM (build with cgo and libpam0g-dev)")
	}
	t.Skip("built without PAM (cgo): check refuses auth.system_users")
}

// The part of every imported config that predates issues 14 and 15 passes check's parser on
// its own: listen, timeouts, passive, log, auth. (import_check_test.go runs the whole file
// through tunnelftpd check.)
func TestImportedConfigPassesTodaysCheck(t *testing.T) {
	needPAM(t)
	for _, name := range setups {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "", importArgs(t, name)...)
			if code != 0 {
				t.Fatalf("import: exit %d\n%s", code, stderr)
			}
			p := localize(t, stdout, t.TempDir(), true)
			data, _ := os.ReadFile(p)
			if _, err := config.Parse(p, data); err != nil {
				t.Fatalf("check refuses the imported config:\n%v\n%s", err, data)
			}
		})
	}
}

// Files the ftpaccess names are copied into the config only when everyone may read them: a
// limit "message" that is a secret file stays out.
func TestImportReadsOnlyWorldReadableFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	shown := filepath.Join(dir, "shown")
	os.WriteFile(secret, []byte("root:$6$hash:19000:0:99999:7:::\n"), 0o600)
	os.WriteFile(shown, []byte("Too many users, try later.\n"), 0o644)
	access := filepath.Join(dir, "ftpaccess")
	os.WriteFile(access, []byte("class a real *\nclass b anonymous *\nlimit a 5 Any "+secret+"\nlimit b 9 Any "+shown+"\n"), 0o644)
	code, out, errs := runCmd(t, "", "import", "wu-ftpd", "--ftpaccess", access)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if strings.Contains(out, "$6$") || strings.Contains(errs, "$6$") {
		t.Error("a file that is not world-readable was copied")
	}
	if !strings.Contains(out, "Too many users, try later.") || !strings.Contains(errs, "not world-readable") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errs)
	}
}
