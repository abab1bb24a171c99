package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/registry"
	"github.com/tunnelftpd/tunnelftpd/shutdownfile"
)

// adminConfigFile writes a config whose registry is a temp directory, returned too.
func adminConfigFile(t *testing.T) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	return writeConfig(t, "registry_dir = \""+dir+"\"\n[passive]\nports = \"22000-22004\"\n[[users]]\nname = \"a\"\npassword = \""+
		testutil.CheapHash("pw")+"\"\nroot = \""+t.TempDir()+"\"\n"), dir
}

func TestAdminHelp(t *testing.T) {
	for _, cmd := range []string{"who", "count", "shutdown", "metrics"} {
		for _, flag := range []string{"-h", "--help"} {
			code, out, errs := runCmd(t, "", cmd, flag)
			if code != 0 || !strings.HasPrefix(out, "Usage: tunnelftpd "+cmd) || errs != "" {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", cmd, flag, code, out, errs)
			}
		}
		if code, _, errs := runCmd(t, "", cmd, "--no-such-flag"); code != 2 || !strings.Contains(errs, "tunnelftpd "+cmd+" -h") {
			t.Errorf("%s with a bad flag: exit %d, %q", cmd, code, errs)
		}
	}
	_, out, _ := runCmd(t, "", "help")
	for _, cmd := range []string{"tunnelftpd who", "tunnelftpd count", "tunnelftpd shutdown", "tunnelftpd metrics"} {
		if !strings.Contains(out, cmd) {
			t.Errorf("the usage does not name %s", cmd)
		}
	}
}

func TestWhoAndCountOfARegistry(t *testing.T) {
	cfg, dir := adminConfigFile(t)
	now := time.Date(2026, 12, 1, 14, 5, 0, 0, time.Local)
	clock = func() time.Time { return now }
	defer func() { clock = time.Now }()

	code, out, errs := runCmd(t, "", "who", "--json", "-c", cfg)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("who --json of an empty registry: %d %q %q", code, out, errs)
	}
	reg, err := registry.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	login := now.Add(-3 * time.Minute)
	if _, err := reg.Join(registry.Entry{Session: 4, User: "alice", Kind: "virtual", SSHUser: "alice", Client: "203.0.113.9",
		Connected: login, Login: login, Active: now.Add(-75 * time.Second), Command: "RETR big.iso", Path: "/pub", Bytes: 1000,
		Transfer: &registry.Transfer{Path: "/pub/big.iso", Started: now.Add(-10 * time.Second), Bytes: 20 << 20, Updated: now}, PasvPort: 22001}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Join(registry.Entry{Session: 5, Connected: now, Active: now, Command: "USER bob"}); err != nil {
		t.Fatal(err)
	}

	code, out, _ = runCmd(t, "", "who", "-c", cfg)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "PID") || lines[3] != "2 sessions" {
		t.Fatalf("who: %d\n%s", code, out)
	}
	for _, want := range []string{"alice", "virtual", "203.0.113.9", "14:02:00", "1:15", "RETR big.iso", "/pub", "20.0M", "2.0M/s"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("who line %q lacks %q", lines[1], want)
		}
	}
	if f := strings.Fields(lines[2]); len(f) < 5 || f[2] != "-" || !strings.Contains(lines[2], "USER bob") {
		t.Errorf("the session before login: %q", lines[2])
	}

	_, out, _ = runCmd(t, "", "who", "--json", "-c", cfg)
	var ss []map[string]any
	if err := json.Unmarshal([]byte(out), &ss); err != nil || len(ss) != 2 {
		t.Fatalf("who --json: %v\n%s", err, out)
	}
	if ss[0]["idle_seconds"] != 75.0 || ss[0]["bytes"] != float64(1000+20<<20) || ss[0]["rate"] != float64(2<<20) ||
		ss[0]["pasv_port"] != 22001.0 || ss[1]["login"] != nil || ss[1]["user"] != "" {
		t.Errorf("who --json: %v", ss)
	}

	code, out, _ = runCmd(t, "", "count", "-c", cfg)
	for _, want := range []string{
		"Service class (no class)           -   1 users (no maximum)",
		"Service class (not logged in)      -   1 users (no maximum)",
		"Total                              -   2 users",
		"Passive ports 22000-22004: 1 of 5 busy",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("count lacks %q:\n%s", want, out)
		}
	}
}

// `shutdown +2 -l 1 -d 1` writes ftpshut's file with the flags after WHEN, as ftpshut takes
// them; --cancel removes it.
func TestShutdownWritesTheFile(t *testing.T) {
	cfg, dir := adminConfigFile(t)
	now := time.Date(2026, 12, 1, 10, 0, 30, 0, time.Local)
	clock = func() time.Time { return now }
	defer func() { clock = time.Now }()
	path := filepath.Join(dir, "shutmsg")

	code, out, errs := runCmd(t, "", "shutdown", "-c", cfg, "+2", "-l", "1", "-d", "1", "Back", "at", "%s")
	if code != 0 {
		t.Fatalf("shutdown: %d %q %q", code, out, errs)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "2026 11 01 10 02 0001 0001\nBack at %s\n"; string(data) != want {
		t.Errorf("shutdown file %q, want %q", data, want)
	}
	for _, want := range []string{"shutdown at             Tue Dec  1 10:02:00 2026", "new connections refused Tue Dec  1 10:01:00 2026"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Defaults -l 10 -d 5 and ftpshut's message; a time that has passed today says so.
	if code, out, _ = runCmd(t, "", "shutdown", "-c", cfg, "0930"); code != 0 || !strings.Contains(out, "(already passed)") {
		t.Errorf("shutdown 0930 at 10:00: %d\n%s", code, out)
	}
	f, err := shutdownfile.Read(path, time.Local)
	if err != nil || f.Deny != 10*time.Minute || f.Disconnect != 5*time.Minute || f.Message != shutdownfile.DefaultMessage || f.At.Hour() != 9 {
		t.Errorf("shutdown 0930: %+v %v", f, err)
	}
	// A message starting with '-' after --.
	if code, _, errs = runCmd(t, "", "shutdown", "-c", cfg, "now", "--", "-- back soon"); code != 0 {
		t.Errorf("shutdown now -- ...: %d %q", code, errs)
	}
	if f, _ := shutdownfile.Read(path, time.Local); f == nil || f.Message != "-- back soon" {
		t.Errorf("message after --: %+v", f)
	}

	for _, bad := range [][]string{{}, {"soon"}, {"2460"}, {"+x"}, {"+5", "-l", "-1"}, {"--cancel", "+5"}} {
		if code, _, errs := runCmd(t, "", append([]string{"shutdown", "-c", cfg}, bad...)...); code != 2 || errs == "" {
			t.Errorf("shutdown %q: exit %d, %q; want a usage error", bad, code, errs)
		}
	}

	code, out, _ = runCmd(t, "", "shutdown", "-c", cfg, "--cancel")
	if _, err := os.Stat(path); code != 0 || !os.IsNotExist(err) || !strings.Contains(out, "removed") {
		t.Errorf("--cancel: %d %q, file: %v", code, out, err)
	}
	if code, out, _ = runCmd(t, "", "shutdown", "-c", cfg, "--cancel"); code != 0 || !strings.Contains(out, "no shutdown planned") {
		t.Errorf("--cancel with nothing planned: %d %q", code, out)
	}
}

func TestMetricsToFile(t *testing.T) {
	cfg, dir := adminConfigFile(t)
	c, err := registry.OpenCounters(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Add("tunnelftpd_pasv_waits_total", 3); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tunnelftpd.prom")
	if code, stdout, errs := runCmd(t, "", "metrics", "-c", cfg, "-o", out); code != 0 || stdout != "" {
		t.Fatalf("metrics -o: %d %q %q", code, stdout, errs)
	}
	text, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(text), "tunnelftpd_pasv_waits_total 3\n") || !strings.Contains(string(text), "tunnelftpd_passive_ports 5\n") {
		t.Errorf("metrics file: %v\n%s", err, text)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("metrics file mode: %v %v", st.Mode(), err)
	}
}
