package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var lintianTag = regexp.MustCompile(`(?m)^([EWIPXOCN]): tunnelftpd(?: [a-z]+)?: (\S+)(.*)$`)

// TestLintian: lintian, pedantic and with info and experimental tags, finds
// nothing in either .deb but the tags packaging/deb/lintian-overrides
// accepts (each with its reason), and every override is still needed.
func TestLintian(t *testing.T) {
	needTool(t, "lintian", "the .deb is checked with lintian")
	b := packages(t)
	overrides := 0
	for _, line := range strings.Split(mustRead(t, "deb/lintian-overrides"), "\n") {
		if strings.HasPrefix(line, "tunnelftpd: ") {
			overrides++
		}
	}
	for arch, deb := range b.Deb {
		out, err := runErr("", "lintian", "--pedantic", "--display-info", "--display-experimental", "--show-overrides", deb)
		if err != nil {
			t.Errorf("%s: lintian: %v\n%s", arch, err, out)
		}
		used := 0
		for _, m := range lintianTag.FindAllStringSubmatch(out, -1) {
			if m[1] == "O" {
				used++
				continue
			}
			t.Errorf("%s: lintian %s: %s%s", arch, m[1], m[2], m[3])
		}
		if used != overrides {
			t.Errorf("%s: %d of the %d overrides used:\n%s", arch, used, overrides, out)
		}
		t.Logf("%s: lintian: no tags but %d overridden", arch, used)
	}
}

// TestRPMLint: rpmlint finds nothing in either .rpm but what
// packaging/rpmlint.toml accepts, with reasons. rpmlint unpacks the rpm with
// "rpm2cpio | cpio -id", and nfpm's payload has absolute paths: run as it
// is, as root, it writes the package's files into the real /. So it runs
// with a cpio that refuses absolute names, and as nobody when root.
func TestRPMLint(t *testing.T) {
	needTool(t, "rpmlint", "the .rpm is checked with rpmlint (Debian package rpmlint)")
	needTool(t, "rpm2cpio", "rpmlint unpacks the rpm with rpm2cpio")
	needTool(t, "cpio", "rpmlint unpacks the rpm with cpio")
	b := packages(t)
	dir, err := os.MkdirTemp("", "tunnelftpd-rpmlint-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cpio, _ := exec.LookPath("cpio")
	wrapper := filepath.Join(dir, "bin", "cpio")
	os.MkdirAll(filepath.Dir(wrapper), 0o755)
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+cpio+" --no-absolute-filenames \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, _ := filepath.Abs("rpmlint.toml")
	os.Chmod(dir, 0o755)
	for arch, rpm := range b.RPM {
		local := filepath.Join(dir, filepath.Base(rpm))
		if err := os.WriteFile(local, []byte(mustRead(t, rpm)), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"env", "PATH=" + filepath.Dir(wrapper) + ":/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir, "rpmlint", "-c", cfg, local}
		if os.Geteuid() == 0 {
			needTool(t, "setpriv", "rpmlint runs as nobody (util-linux)")
			args = append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups"}, args...)
			args = append([]string{"setpriv"}, args...)
		}
		out, err := runErr(dir, args[0], args[1:]...)
		if !strings.Contains(out, "1 packages and 0 specfiles checked") {
			t.Fatalf("%s: rpmlint did not check the package: %v\n%s", arch, err, out)
		}
		for _, m := range regexp.MustCompile(`(?m)^tunnelftpd\.\w+: ([EW]): (\S+)(.*)$`).FindAllStringSubmatch(out, -1) {
			if m[2] == "log-files-without-logrotate" && !haveLogrotate() {
				t.Logf("%s: rpmlint %s: %s: expected until the tree has etc/logrotate.d/tunnelftpd (testbed branch)", arch, m[1], m[2])
				continue
			}
			t.Errorf("%s: rpmlint %s: %s%s", arch, m[1], m[2], m[3])
		}
		if err != nil && haveLogrotate() {
			t.Errorf("%s: rpmlint: %v\n%s", arch, err, out)
		}
	}
}

// manPages returns the two man pages of the amd64 .deb, uncompressed, by name.
func manPages(t *testing.T) map[string]string {
	t.Helper()
	root := extract(t, packages(t).Deb["amd64"])
	dir := t.TempDir()
	pages := map[string]string{}
	for _, p := range []string{"man8/tunnelftpd.8", "man5/tunnelftpd.toml.5"} {
		out := filepath.Join(dir, filepath.Base(p))
		if err := os.WriteFile(out, []byte(gunzip(t, filepath.Join(root, "usr/share/man", p+".gz"))), 0o644); err != nil {
			t.Fatal(err)
		}
		pages[filepath.Base(p)] = out
	}
	return pages
}

// TestManPagesLint: both pages pass mandoc's lint at every level (style
// included) and groff with all warnings, without a word, and man-db reads
// their NAME line (whatis, apropos).
func TestManPagesLint(t *testing.T) {
	needTool(t, "mandoc", "man pages are checked with mandoc -T lint")
	needTool(t, "groff", "man pages are checked with groff -wall")
	needTool(t, "lexgrog", "man-db's lexgrog reads the NAME line")
	for name, page := range manPages(t) {
		if out, err := runErr("", "mandoc", "-T", "lint", "-W", "all", page); err != nil || out != "" {
			t.Errorf("mandoc -T lint %s: %v\n%s", name, err, out)
		}
		if out, err := runErr("", "groff", "-wall", "-man", "-Tutf8", "-z", page); err != nil || out != "" {
			t.Errorf("groff -wall %s: %v\n%s", name, err, out)
		}
		out := run(t, "", "lexgrog", page)
		want := map[string]string{
			"tunnelftpd.8":      `: "tunnelftpd - FTP daemon for FTP over SSH port forwarding"`,
			"tunnelftpd.toml.5": `: "tunnelftpd.toml - configuration file of the tunnelftpd FTP daemon"`,
		}[name]
		if !strings.Contains(out, want) {
			t.Errorf("lexgrog %s: %q, want %s", name, out, want)
		}
	}
}

// roffSection returns the text of the .SH section named name.
func roffSection(page, name string) string {
	i := strings.Index(page, "\n.SH "+name+"\n")
	if i < 0 {
		return ""
	}
	rest := page[i+len(name)+6:]
	if j := strings.Index(rest, "\n.SH "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestManPageCoversCLI: tunnelftpd(8) describes every subcommand and every
// flag the packaged binary has, and no flag it lacks.
func TestManPageCoversCLI(t *testing.T) {
	pages := manPages(t)
	page := mustRead(t, pages["tunnelftpd.8"])
	bin := filepath.Join(extract(t, packages(t).Deb["amd64"]), "usr/sbin/tunnelftpd")
	usage := run(t, "", bin, "help")
	var subs []string
	for _, m := range regexp.MustCompile(`(?m)^  tunnelftpd ([a-z]+)`).FindAllStringSubmatch(usage, -1) {
		subs = append(subs, m[1])
	}
	if len(subs) < 5 {
		t.Fatalf("subcommands from tunnelftpd help: %v\n%s", subs, usage)
	}
	commands := roffSection(page, "COMMANDS")
	synopsis := roffSection(page, "SYNOPSIS")
	flags := map[string]bool{}
	for _, sub := range append(subs, "help") {
		if !strings.Contains(commands, ".TP\n\\fB"+sub+"\\fP") || !strings.Contains(synopsis, "\\fBtunnelftpd "+sub+"\\fP") {
			t.Errorf("tunnelftpd(8) lacks the subcommand %s in SYNOPSIS or COMMANDS", sub)
		}
		cmd := exec.Command(bin, sub, "-h")
		cmd.Stdin = nil // /dev/null: passwd reads no password
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("tunnelftpd %s -h: %v\n%s", sub, err, out)
		}
		for _, m := range regexp.MustCompile(`(?m)^  -(\S+)`).FindAllStringSubmatch(string(out), -1) {
			flags[m[1]] = true
		}
	}
	if !flags["c"] || !flags["host"] {
		t.Fatalf("flags from the subcommands' -h: %v", flags)
	}
	// -h itself: every subcommand took it above (exit 0).
	flags["h"] = true
	options := roffSection(page, "OPTIONS")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\.TP\n\\fB-(?:\\-|-)?([a-z-]+)\\fP`).FindAllStringSubmatch(options, -1) {
		documented[m[1]] = true
	}
	for f := range flags {
		if !documented[f] {
			t.Errorf("tunnelftpd(8) OPTIONS lacks -%s", f)
		}
	}
	for f := range documented {
		if !flags[f] {
			t.Errorf("tunnelftpd(8) documents -%s, which the binary does not have", f)
		}
	}
}

// TestTOMLManPageCoversSample: tunnelftpd.toml(5) in the package has an
// entry for every key of etc/tunnelftpd.toml, in its table, in order, and
// nothing else: the page is made from that file at build time.
func TestTOMLManPageCoversSample(t *testing.T) {
	page := mustRead(t, manPages(t)["tunnelftpd.toml.5"])
	keys := roffSection(page, "KEYS")
	var got []string
	table := ""
	term := regexp.MustCompile(`\\fB(\w+)\\fP = `)
	lines := strings.Split(keys, "\n")
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, ".SS "):
			table = strings.Trim(strings.TrimPrefix(line, ".SS "), `"[]`)
			if table == "Top level" {
				table = ""
			} else {
				table += "."
			}
		case line == ".TP" && i+1 < len(lines):
			for _, m := range term.FindAllStringSubmatch(lines[i+1], -1) {
				got = append(got, table+strings.ReplaceAll(m[1], `\_`, "_"))
			}
		}
	}
	want := sampleKeysByRegexp([]byte(mustRead(t, "../etc/tunnelftpd.toml")))
	if !slices.Equal(got, want) {
		t.Errorf("tunnelftpd.toml(5) keys:\n%v\netc/tunnelftpd.toml keys:\n%v", got, want)
	}
}
