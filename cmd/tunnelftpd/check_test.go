package main

import (
	"bytes"
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
