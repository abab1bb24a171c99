package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tunnelftpd/tunnelftpd/etc"
)

// TestHelpOnEverySubcommand: -h and --help print the subcommand's usage on
// standard output and exit 0, without reading standard input (passwd) or
// starting anything (serve).
func TestHelpOnEverySubcommand(t *testing.T) {
	for _, cmd := range []string{"serve", "check", "passwd", "tunnel"} {
		for _, flag := range []string{"-h", "--help"} {
			code, out, errs := runCmd(t, "a password that must not be read\n", cmd, flag)
			if code != 0 || errs != "" {
				t.Errorf("%s %s: exit %d, stderr %q; want 0 and nothing", cmd, flag, code, errs)
			}
			if !strings.HasPrefix(out, "Usage: tunnelftpd "+cmd) {
				t.Errorf("%s %s printed %q, want its usage", cmd, flag, out)
			}
			if strings.Contains(out, "$2") {
				t.Errorf("%s %s printed a hash: it read standard input", cmd, flag)
			}
		}
	}
	for _, a := range []string{"-h", "--help", "help"} {
		if code, out, _ := runCmd(t, "", a); code != 0 || !strings.Contains(out, "Exit codes:") {
			t.Errorf("tunnelftpd %s: exit %d, %q", a, code, out)
		}
	}
}

// TestBadCommandLineExits2: a bad flag or argument says what is wrong and
// where the usage is, and exits 2 (the documented code for usage errors).
func TestBadCommandLineExits2(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "-x"}, {"check", "--nope"}, {"passwd", "extra"}, {"tunnel", "-bogus"},
		{"check", "-c", "a", "b"}, {"nosuchcommand"}, {},
	} {
		code, out, errs := runCmd(t, "", args...)
		if code != 2 || out != "" || errs == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, nothing, an error", args, code, out, errs)
		}
		if len(args) > 0 && args[0] != "nosuchcommand" && !strings.Contains(errs, "tunnelftpd "+args[0]+" -h") {
			t.Errorf("%q: the error %q does not point to the usage", args, errs)
		}
	}
}

// TestVersion: version and --version print the version, the Go version and
// whether PAM is compiled in.
func TestVersion(t *testing.T) {
	for _, a := range []string{"version", "--version"} {
		code, out, _ := runCmd(t, "", a)
		if code != 0 || !strings.HasPrefix(out, "tunnelftpd ") || !strings.Contains(out, "go: "+runtime.Version()) {
			t.Errorf("%s: exit %d, %q", a, code, out)
		}
		if !strings.Contains(out, "pam: compiled in") && !strings.Contains(out, "pam: not compiled in") {
			t.Errorf("%s does not say whether PAM is built in: %q", a, out)
		}
	}
}

// TestCheckSample: check --sample prints the documented sample config, the
// place error messages send operators on a system without a checkout.
func TestCheckSample(t *testing.T) {
	code, out, _ := runCmd(t, "", "check", "--sample")
	if code != 0 || !bytes.Equal([]byte(out), etc.SampleConfig) || len(out) < 1000 {
		t.Errorf("check --sample: exit %d, %d bytes; want the %d-byte sample", code, len(out), len(etc.SampleConfig))
	}
}

// TestTOMLSlipsInPlainWords: the common TOML mistakes get a message that
// names the file, the line and the fix instead of the parser's words.
func TestTOMLSlipsInPlainWords(t *testing.T) {
	for _, tc := range []struct{ name, text, want, notWant string }{
		{"top-level key after [[users]]", "[[users]]\nname = \"a\"\nrun_as = \"nobody\"\n",
			`:3: users.run_as: "run_as" is a top-level key, but it stands after [[users]]`, ""},
		{"[users] for [[users]]", "[users]\nname = \"a\"\n",
			":1: users: users is a list of tables: write [[users]] (two brackets)", "map[string]any"},
		{"unquoted range", "[passive]\nports = 22000-22004\n",
			`:2: passive.ports: this value must be quoted: ports = "..."`, "datetime"},
		{"unquoted address", "listen = 127.0.0.1:2121\n",
			`:1: listen: this value must be quoted`, "float"},
		{"quoted number", "max_sessions = \"10\"\n",
			":1: max_sessions: max_sessions must be a whole number (no quotes)", "incompatible"},
		{"boolean in quotes", "tunnel_only = \"yes\"\n",
			":1: tunnel_only: tunnel_only must be true or false", "incompatible"},
		{"open string", "banner = \"hello\n",
			`:1: banner: a string is not closed`, ""},
		{"key in the wrong section", "[log]\naddress = \"127.0.0.1\"\n",
			`:2: log.address: unknown key: [log] has no "address"; "address" is a key of [passive]`, ""},
		{"typo", "[passive]\nadress = \"127.0.0.1\"\n",
			`:2: passive.adress: unknown key; did you mean "passive.address"? ('tunnelftpd check --sample'`, "etc/tunnelftpd.toml"},
		{"section typo", "[pasive]\nports = \"1-2\"\n",
			`:1: pasive: unknown key: there is no section [pasive]; did you mean "passive"?`, "pasive.ports"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.text)
			code, _, errs := runCmd(t, "", "check", "-c", p)
			if code != 1 || !strings.Contains(errs, p+tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", code, errs, p+tc.want)
			}
			if tc.notWant != "" && strings.Contains(errs, tc.notWant) {
				t.Errorf("stderr still says %q:\n%s", tc.notWant, errs)
			}
		})
	}
}

// TestCheckRunTime: a valid config that would fail at run time fails the
// check, naming the account it was checked as and the fix.
func TestCheckRunTime(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	root := t.TempDir() // private to the test's user (its parent is 0700)
	p := writeConfig(t, "listen = \"127.0.0.1:22001\"\n[[users]]\nname = \"a\"\npassword = \""+string(hash)+"\"\nroot = \""+root+"\"\n")
	code, _, errs := runCmd(t, "", "check", "-q", "-c", p)
	if code != 1 || !strings.Contains(errs, p+": passive.ports: the range 22000-22004 contains the control port 22001") {
		t.Errorf("control port in the range: exit %d, %q", code, errs)
	}
	p = writeConfig(t, "[[users]]\nname = \"a\"\npassword = \""+string(hash)+"\"\nroot = \""+root+"\"\n")
	if code, _, errs := runCmd(t, "", "check", "-q", "-c", p, "--as", "nobody"); code != 1 ||
		!strings.Contains(errs, "users.root: user \"a\"") || !strings.Contains(errs, "(checked as nobody)") {
		t.Errorf("root unusable by nobody: exit %d, %q", code, errs)
	}
	if code, _, errs := runCmd(t, "", "check", "-q", "-c", p, "--as", "no-such-account-here"); code != 1 || !strings.Contains(errs, "no-such-account-here") {
		t.Errorf("unknown --as account: exit %d, %q", code, errs)
	}
}
