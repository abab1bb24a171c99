package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// cheapHash is a bcrypt hash of a test password at the minimum cost.
func cheapHash(t testing.TB) string { return testutil.CheapHash("correct horse") }

// validConfig returns a minimal valid config file text with one user.
func validConfig(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	return `listen = "127.0.0.1:2121"
[passive]
ports = "22000-22004"
address = "127.0.0.1"

[[users]]
name = "alice"
password = "` + cheapHash(t) + `"
root = "` + root + `"
`
}

func TestParseConfigValidFillsDefaults(t *testing.T) {
	c, err := Parse("t.toml", []byte(validConfig(t)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Passive.First != 22000 || c.Passive.Last != 22004 {
		t.Errorf("range %d-%d", c.Passive.First, c.Passive.Last)
	}
	if c.Passive.Wait.String() != "5s" || c.IdleTimeout.String() != "15m0s" || c.MaxSessions != 100 || c.Auth.FailDelay.String() != "1s" {
		t.Errorf("defaults not filled: %+v", c)
	}
	out, err := c.WriteTOML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, cheapHash(t)) {
		t.Error("effective config prints the password hash")
	}
	for _, key := range []string{"listen", "banner", "idle_timeout", "max_sessions", "shutdown_timeout", "data_timeout",
		"ports", "address", "wait", "accept_timeout", "level", "format", "xferlog", "fail_delay", "name", "password", "root", "read_only"} {
		if !regexp.MustCompile(`(?m)^\s*` + key + ` = `).MatchString(out) {
			t.Errorf("effective config lacks %s:\n%s", key, out)
		}
	}
	// The printed config loads back to the same values (but the hidden hash).
	if _, err := Parse("again.toml", []byte(out)); err == nil || !strings.Contains(err.Error(), "users.password") {
		t.Errorf("reparsing the effective config: %v", err)
	}
}

func TestExplicitZeroIsNotReplacedByDefault(t *testing.T) {
	c, err := Parse("t.toml", []byte(strings.Replace(validConfig(t), "[passive]\n", "[passive]\nwait = \"0s\"\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Passive.Wait.Duration != 0 {
		t.Errorf("wait = %v, want 0", c.Passive.Wait)
	}
}

// TestConfigErrors: each bad value gives its own error naming file, line and key.
func TestConfigErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tc := range []struct {
		name, old, new string
		want           string // regexp on the error
	}{
		{"unknown key", `listen = "127.0.0.1:2121"`, "listen = \"127.0.0.1:2121\"\nlisten_adress = \"x\"", `^t\.toml:2: listen_adress: unknown key`},
		{"unknown key in table", `address = "127.0.0.1"`, "address = \"127.0.0.1\"\nportz = 1", `^t\.toml:5: passive\.portz: unknown key`},
		{"unknown key in users", `name = "alice"`, "name = \"alice\"\nrot = \"/x\"", `t\.toml:8: users\.rot: unknown key`},
		{"reversed range", `ports = "22000-22004"`, `ports = "22005-22000"`, `^t\.toml:3: passive\.ports: .*first port is above the last`},
		{"port zero", `ports = "22000-22004"`, `ports = "0-5"`, `^t\.toml:3: passive\.ports: .*from 1 to 65535`},
		{"not a range", `ports = "22000-22004"`, `ports = "x"`, `^t\.toml:3: passive\.ports: "x" is not a port range`},
		{"bad address", `address = "127.0.0.1"`, `address = "localhost"`, `^t\.toml:4: passive\.address: .*neither an IPv4 address nor "control"`},
		{"ipv6 address", `address = "127.0.0.1"`, `address = "::1"`, `^t\.toml:4: passive\.address: .*IPv6`},
		{"plaintext password", `password = "$`, `password = "hunter2" #`, `^t\.toml:8: users\.password: user "alice": not a bcrypt or argon2id hash`},
		{"missing root", `root = "/`, `root = "` + missing + `" #`, `^t\.toml:9: users\.root: user "alice": directory .* does not exist`},
		{"relative root", `root = "/`, `root = "data" #`, `^t\.toml:9: users\.root: .*must be an absolute path`},
		{"bad listen", `listen = "127.0.0.1:2121"`, `listen = "localhost"`, `^t\.toml:1: listen: `},
		{"bad duration", `[passive]`, "idle_timeout = \"forever\"\n[passive]", `^t\.toml:2: idle_timeout: .*not a duration`},
		{"wrong type", `[passive]`, "max_sessions = \"many\"\n[passive]", `^t\.toml:2: max_sessions: max_sessions must be a whole number`},
		{"wait too long", `[passive]`, "idle_timeout = \"5s\"\n[passive]\nwait = \"10s\"", `passive\.wait: must be shorter than idle_timeout`},
		{"syntax", `[passive]`, "[passive", `^t\.toml:3: expected`},
		{"no users", `[[users]]`, `[not_users]`, `users: no \[\[users\]\]|unknown key`},
		{"relative registry_dir", `[passive]`, "registry_dir = \"run/x\"\n[passive]", `^t\.toml:2: registry_dir: "run/x" must be an absolute path`},
		{"relative shutdown_file", `[passive]`, "shutdown_file = \"shutmsg\"\n[passive]", `^t\.toml:2: shutdown_file: "shutmsg" must be an absolute path`},
		{"metrics on the network", `[passive]`, "[metrics]\nlisten = \"0.0.0.0:9121\"\n[passive]", `^t\.toml:3: metrics\.listen: "0\.0\.0\.0:9121" is not a loopback address`},
		{"system users without run_as", `[passive]`, "[auth]\nsystem_users = true\n[passive]", `run_as: is required with auth.system_users`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := validConfig(t)
			if !strings.Contains(text, tc.old) {
				t.Fatalf("fixture lacks %q", tc.old)
			}
			text = strings.Replace(text, tc.old, tc.new, 1)
			_, err := Parse("t.toml", []byte(text))
			if err == nil {
				t.Fatalf("no error for:\n%s", text)
			}
			if !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Errorf("error %q does not match %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("the error repeats the plaintext password")
			}
		})
	}
}

func TestConfigReportsEveryError(t *testing.T) {
	text := strings.Replace(validConfig(t), `ports = "22000-22004"`, "ports = \"x\"\nbogus = 1", 1)
	text = strings.Replace(text, `address = "127.0.0.1"`, `address = "nowhere"`, 1)
	_, err := Parse("t.toml", []byte(text))
	if err == nil {
		t.Fatal("no error")
	}
	if n := len(err.(Errors)); n != 3 {
		t.Errorf("got %d errors, want 3:\n%v", n, err)
	}
}

// TestSampleConfigDocumentsEveryKey: etc/tunnelftpd.toml is valid once a user
// is added, and mentions every key the effective config has.
func TestSampleConfigDocumentsEveryKey(t *testing.T) {
	sample, err := os.ReadFile("../../etc/tunnelftpd.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("sample", sample); err == nil || !strings.Contains(err.Error(), "no [[users]] entry") {
		t.Errorf("sample without users: %v", err)
	}
	withUser := string(sample) + "\n[[users]]\nname = \"a\"\npassword = \"" + cheapHash(t) + "\"\nroot = \"" + t.TempDir() + "\"\n"
	c, err := Parse("sample", []byte(withUser))
	if err != nil {
		t.Fatalf("sample + a user: %v", err)
	}
	def := Default()
	def.Users = c.Users
	def.Passive.First, def.Passive.Last = c.Passive.First, c.Passive.Last
	def.File = c.File
	if !sameConfig(c, def) {
		t.Errorf("sample values differ from the defaults:\n%+v\n%+v", c, def)
	}
	out, _ := c.WriteTOML()
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+) = `).FindAllStringSubmatch(out, -1) {
		if !regexp.MustCompile(`(?m)^#? ?` + m[1] + ` = `).Match(sample) {
			t.Errorf("etc/tunnelftpd.toml does not document %s", m[1])
		}
	}
}

func sameConfig(a, b *Config) bool {
	x, _ := a.WriteTOML()
	y, _ := b.WriteTOML()
	return x == y
}

// TestLogOutput: log.output takes "auto" (the default), "stderr", "syslog"
// or an absolute file path in an existing directory; anything else is an
// error naming file, line and key.
func TestLogOutput(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse("t.toml", []byte(validConfig(t)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Output != "auto" {
		t.Errorf("default log.output = %q, want auto", c.Log.Output)
	}
	for _, tc := range []struct {
		value, want string // want: regexp on the error, "" = valid
	}{
		{"auto", ""},
		{"stderr", ""},
		{"syslog", ""},
		{filepath.Join(dir, "tunnelftpd.log"), ""},
		{"journal", `^t\.toml:\d+: log\.output: "journal" must be "auto", "stderr", "syslog" or an absolute file path`},
		{"tunnelftpd.log", `^t\.toml:\d+: log\.output: .*absolute file path`},
		{filepath.Join(dir, "missing", "x.log"), `^t\.toml:\d+: log\.output: directory .* does not exist`},
		{dir, `^t\.toml:\d+: log\.output: .* is not a regular file`},
	} {
		// The [log] table goes before [[users]], or it would belong to it.
		text := `listen = "127.0.0.1:2121"` + "\n[log]\noutput = \"" + tc.value + "\"\n" +
			strings.Replace(validConfig(t), `listen = "127.0.0.1:2121"`, "", 1)
		c, err := Parse("t.toml", []byte(text))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.value, err)
		case tc.want == "" && c.Log.Output != tc.value:
			t.Errorf("%q: got %q", tc.value, c.Log.Output)
		case tc.want != "" && (err == nil || !regexp.MustCompile(tc.want).MatchString(err.Error())):
			t.Errorf("%q: error %v, want %s", tc.value, err, tc.want)
		}
	}
	// The transfer log and the daemon log cannot share a file.
	same := filepath.Join(dir, "same.log")
	text := `listen = "127.0.0.1:2121"` + "\n[log]\noutput = \"" + same + "\"\nxferlog = \"" + same + "\"\n" +
		strings.Replace(validConfig(t), `listen = "127.0.0.1:2121"`, "", 1)
	if _, err := Parse("t.toml", []byte(text)); err == nil || !strings.Contains(err.Error(), "log.output: ") {
		t.Errorf("same file for log.output and log.xferlog: %v", err)
	}
}

// retr_sendfile is "auto" unless the file says true or false; any other value is an error that
// names the line, and the effective config writes the value back as it is written in a file.
func TestRetrSendfileKey(t *testing.T) {
	for _, tc := range []struct {
		line string
		want SendfileMode
		out  string // line of the effective config
	}{
		{"", SendfileAuto, `retr_sendfile = "auto"`},
		{`retr_sendfile = "auto"`, SendfileAuto, `retr_sendfile = "auto"`},
		{"retr_sendfile = true", SendfileOn, "retr_sendfile = true"},
		{"retr_sendfile = false", SendfileOff, "retr_sendfile = false"},
	} {
		c, err := Parse("t.toml", []byte(tc.line+"\n"+validConfig(t)))
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if c.RetrSendfile != tc.want {
			t.Errorf("%q: mode %q, want %q", tc.line, c.RetrSendfile, tc.want)
		}
		out, err := c.WriteTOML()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "\n"+tc.out+"\n") {
			t.Errorf("%q: effective config lacks %q:\n%s", tc.line, tc.out, out)
		}
		// What it writes reads back as the same mode.
		back, err := Parse("eff.toml", []byte(tc.out+"\n"+validConfig(t)))
		if err != nil || back.RetrSendfile != tc.want {
			t.Errorf("%q: %q reads back as %v, %v", tc.line, tc.out, back, err)
		}
	}
	for _, bad := range []string{`retr_sendfile = "yes"`, `retr_sendfile = "true"`, "retr_sendfile = 1"} {
		_, err := Parse("t.toml", []byte("\n"+bad+"\n"+validConfig(t)))
		if err == nil || !strings.Contains(err.Error(), "t.toml:2") || !strings.Contains(err.Error(), `true, false or "auto"`) {
			t.Errorf("%s: got %v, want an error on t.toml:2 naming the values", bad, err)
		}
	}
}

// Use: true and false are what they say; auto copies through sshd and sends the file otherwise.
func TestSendfileModeUse(t *testing.T) {
	for _, tc := range []struct {
		m             SendfileMode
		viaSSHD, want bool
	}{
		{SendfileOn, true, true}, {SendfileOn, false, true},
		{SendfileOff, true, false}, {SendfileOff, false, false},
		{SendfileAuto, true, false}, {SendfileAuto, false, true},
		{"", true, false}, {"", false, true},
	} {
		if got := tc.m.Use(tc.viaSSHD); got != tc.want {
			t.Errorf("%q.Use(%v) = %v, want %v", tc.m, tc.viaSSHD, got, tc.want)
		}
	}
}
