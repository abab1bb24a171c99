package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tunnelftpd.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	in, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	in.WriteString(stdin)
	in.Seek(0, 0)
	defer in.Close()
	var out, errb bytes.Buffer
	code := run(args, in, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckValidPrintsEffectiveConfig(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	p := writeConfig(t, "[passive]\nports = \"22000\"\n[[users]]\nname = \"a\"\npassword = \""+string(hash)+"\"\nroot = \""+t.TempDir()+"\"\n")
	code, out, errs := runCmd(t, "", "check", "-c", p)
	if code != 0 {
		t.Fatalf("check: exit %d\n%s", code, errs)
	}
	for _, want := range []string{`listen = "127.0.0.1:2121"`, `ports = "22000"`, `wait = "5s"`, `idle_timeout = "15m0s"`, `xferlog = ""`} {
		if !strings.Contains(out, want) {
			t.Errorf("effective config lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, string(hash)) {
		t.Error("check printed the password hash")
	}
}

func TestCheckInvalidNamesFileLineKey(t *testing.T) {
	p := writeConfig(t, "listen = \"127.0.0.1:2121\"\n[passive]\nports = \"22005-22000\"\naddres = \"127.0.0.1\"\n[[users]]\nname = \"a\"\npassword = \"hunter2xyz\"\nroot = \"/nonexistent/dir\"\n")
	code, out, errs := runCmd(t, "", "check", "-c", p)
	if code != 1 || out != "" {
		t.Fatalf("check of a bad config: exit %d, stdout %q", code, out)
	}
	for _, re := range []string{
		`(?m)^` + regexp.QuoteMeta(p) + `:3: passive\.ports: `,
		`(?m)^` + regexp.QuoteMeta(p) + `:4: passive\.addres: unknown key`,
		`(?m)^` + regexp.QuoteMeta(p) + `:7: users\.password: `,
		`(?m)^` + regexp.QuoteMeta(p) + `:8: users\.root: `,
	} {
		if !regexp.MustCompile(re).MatchString(errs) {
			t.Errorf("stderr lacks %s:\n%s", re, errs)
		}
	}
	if strings.Contains(errs, "hunter2xyz") {
		t.Error("the error repeats the plaintext password")
	}
}

func TestCheckMissingFile(t *testing.T) {
	code, _, errs := runCmd(t, "", "check", "-c", "/nonexistent/tunnelftpd.toml")
	if code != 1 || !strings.Contains(errs, "/nonexistent/tunnelftpd.toml") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestPasswdFromStdin(t *testing.T) {
	code, out, errs := runCmd(t, "s3cret pass\n", "passwd")
	if code != 0 {
		t.Fatalf("passwd: exit %d: %s", code, errs)
	}
	hash := strings.TrimSpace(out)
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret pass")); err != nil {
		t.Errorf("hash %q does not verify: %v", hash, err)
	}
	if code, _, _ := runCmd(t, "", "passwd"); code == 0 {
		t.Error("empty stdin gave a hash")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"check", "extra"}, {"serve", "-x"}} {
		if code, _, _ := runCmd(t, "", args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "tunnelftpd ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// TestCheckAccessPolicy: check prints the rules in the order they are tried, with the rights
// they leave, and the classes; a bad rule is an error naming file, line and key.
func TestCheckAccessPolicy(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	root := t.TempDir()
	base := "umask = \"027\"\n[passive]\nports = \"22000\"\n[auth]\nanonymous_root = \"" + root + "\"\n" +
		"[[users]]\nname = \"a\"\npassword = \"" + string(hash) + "\"\nroot = \"" + root + "\"\numask = \"077\"\n"
	good := base + `
[[rules]]
path = "/incoming"
who = ["@anonymous"]
deny = ["list"]
[[rules]]
path = "/incoming/**"
who = ["@anonymous"]
allow = ["upload", "mkdir"]
mode = "0600"
[[classes]]
name = "anon"
who = ["@anonymous"]
max_sessions = 10
`
	code, out, errs := runCmd(t, "", "check", "-c", writeConfig(t, good))
	if code != 0 {
		t.Fatalf("check: exit %d\n%s", code, errs)
	}
	for _, re := range []string{
		`(?m)^# umask 027: files 0640, directories 0750$`,
		`(?m)^#   1\s+/incoming\s+who @anonymous\s+deny list\s+→ anonymous: retrieve$`,
		`(?m)^#   2\s+/incoming/\*\*\s+who @anonymous\s+allow upload mkdir, mode 0600\s+→ anonymous: upload mkdir$`,
		`(?m)^#   1\s+anon\s+who @anonymous .*max_sessions 10`,
		`(?m)^# user a: umask 077: files 0600, directories 0700$`,
		`(?m)^\[\[rules\]\]$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("check output lacks %s:\n%s", re, out)
		}
	}
	if strings.Index(out, "/incoming\"") > strings.Index(out, "/incoming/**\"") {
		t.Errorf("rules printed out of order:\n%s", out)
	}

	bad := base + "[[rules]]\npath = \"/pub/**\"\nallow = [\"download\"]\n[[rules]]\npath = \"/x/**\"\nmode = \"9\"\n[[classes]]\nname = \"c\"\ndeny_clients = [\"10.1.2.3/8\"]\n"
	p := writeConfig(t, bad)
	code, out, errs = runCmd(t, "", "check", "-c", p)
	if code != 1 || out != "" {
		t.Fatalf("check of bad rules: exit %d, stdout %q", code, out)
	}
	lines := strings.Count(base, "\n")
	for _, re := range []string{
		fmt.Sprintf(`(?m)^%s:%d: rules\.allow: unknown verb "download"`, regexp.QuoteMeta(p), lines+3),
		fmt.Sprintf(`(?m)^%s:%d: rules\.mode: "9" `, regexp.QuoteMeta(p), lines+6),
		fmt.Sprintf(`(?m)^%s:%d: classes\.deny_clients: "10\.1\.2\.3/8" has bits set`, regexp.QuoteMeta(p), lines+9),
	} {
		if !regexp.MustCompile(re).MatchString(errs) {
			t.Errorf("stderr lacks %s:\n%s", re, errs)
		}
	}
}
