package packaging

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// haveLogrotate: the testbed branch adds etc/logrotate.d/tunnelftpd; the
// packages ship it once the tree has it (packaging/build says so when not).
func haveLogrotate() bool {
	_, err := os.Stat("../etc/logrotate.d/tunnelftpd")
	return err == nil
}

// debFiles are the regular files of the .deb and their modes; everything
// is owned by root (the config gets its group from postinst).
func debFiles() map[string]string {
	f := map[string]string{
		"usr/sbin/tunnelftpd":                                   "-rwxr-xr-x",
		"etc/tunnelftpd/tunnelftpd.toml":                        "-rw-r-----",
		"etc/pam.d/tunnelftpd":                                  "-rw-r--r--",
		"etc/fail2ban/filter.d/tunnelftpd.conf":                 "-rw-r--r--",
		"etc/fail2ban/jail.d/tunnelftpd.conf":                   "-rw-r--r--",
		"usr/lib/systemd/system/tunnelftpd.socket":              "-rw-r--r--",
		"usr/lib/systemd/system/tunnelftpd.service":             "-rw-r--r--",
		"usr/lib/systemd/system/tunnelftpd-conn.socket":         "-rw-r--r--",
		"usr/lib/systemd/system/tunnelftpd-conn@.service":       "-rw-r--r--",
		"usr/lib/systemd/system/tunnelftpd-ident.socket":        "-rw-r--r--",
		"usr/lib/systemd/system/tunnelftpd-ident.service":       "-rw-r--r--",
		"usr/lib/sysusers.d/tunnelftpd.conf":                    "-rw-r--r--",
		"usr/lib/tmpfiles.d/tunnelftpd.conf":                    "-rw-r--r--",
		"usr/share/man/man8/tunnelftpd.8.gz":                    "-rw-r--r--",
		"usr/share/man/man5/tunnelftpd.toml.5.gz":               "-rw-r--r--",
		"usr/share/doc/tunnelftpd/README.md.gz":                 "-rw-r--r--",
		"usr/share/doc/tunnelftpd/SECURITY.md.gz":               "-rw-r--r--",
		"usr/share/doc/tunnelftpd/launch-modes.md.gz":           "-rw-r--r--",
		"usr/share/doc/tunnelftpd/ssh-client.md.gz":             "-rw-r--r--",
		"usr/share/doc/tunnelftpd/copyright":                    "-rw-r--r--",
		"usr/share/doc/tunnelftpd/changelog.gz":                 "-rw-r--r--",
		"usr/share/doc/tunnelftpd/examples/inetd.conf":          "-rw-r--r--",
		"usr/share/doc/tunnelftpd/examples/xinetd.d/tunnelftpd": "-rw-r--r--",
		"usr/share/lintian/overrides/tunnelftpd":                "-rw-r--r--",
	}
	if haveLogrotate() {
		f["etc/logrotate.d/tunnelftpd"] = "-rw-r--r--"
	}
	return f
}

func conffiles() []string {
	c := []string{
		"/etc/fail2ban/filter.d/tunnelftpd.conf",
		"/etc/fail2ban/jail.d/tunnelftpd.conf",
		"/etc/pam.d/tunnelftpd",
		"/etc/tunnelftpd/tunnelftpd.toml",
	}
	if haveLogrotate() {
		c = append(c, "/etc/logrotate.d/tunnelftpd")
	}
	sort.Strings(c)
	return c
}

var debListLine = regexp.MustCompile(`^([-dl][rwxsStT-]{9}) (\S+)/(\S+) +(\d+) \S+ \S+ \./(.*)$`)

// TestDebContents: each .deb holds exactly the files above, with their
// modes, owned by root; the conffiles, the control fields and the
// maintainer scripts are as they should be.
func TestDebContents(t *testing.T) {
	b := packages(t)
	if len(b.Deb) != 2 || len(b.RPM) != 2 {
		t.Fatalf("packaging/build wrote debs %v, rpms %v; want amd64 and arm64 of each\n%s", b.Deb, b.RPM, b.Log)
	}
	for arch, deb := range b.Deb {
		want := debFiles()
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(run(t, "", "dpkg-deb", "-c", deb)), "\n") {
			m := debListLine.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("%s: dpkg-deb -c line not understood: %q", arch, line)
				continue
			}
			if m[2] != "root" || m[3] != "root" {
				t.Errorf("%s: %s owned by %s/%s, want root/root", arch, m[5], m[2], m[3])
			}
			if m[1][0] == 'd' {
				if m[1] != "drwxr-xr-x" {
					t.Errorf("%s: directory %s is %s", arch, m[5], m[1])
				}
				continue
			}
			got[strings.TrimSuffix(m[5], "/")] = m[1]
		}
		for p, mode := range want {
			if got[p] != mode {
				t.Errorf("%s: %s: mode %q, want %q", arch, p, got[p], mode)
			}
		}
		for p := range got {
			if _, ok := want[p]; !ok {
				t.Errorf("%s: unexpected file %s", arch, p)
			}
		}

		ctl := t.TempDir()
		run(t, "", "dpkg-deb", "-e", deb, ctl)
		cf, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
		gotCF := strings.Fields(string(cf))
		sort.Strings(gotCF)
		if !slices.Equal(gotCF, conffiles()) {
			t.Errorf("%s: conffiles %v, want %v", arch, gotCF, conffiles())
		}
		fields := map[string]string{}
		for _, f := range []string{"Package", "Version", "Architecture", "Depends", "Recommends", "Maintainer", "Section"} {
			fields[f] = strings.TrimSpace(run(t, "", "dpkg-deb", "-f", deb, f))
		}
		if fields["Package"] != "tunnelftpd" || fields["Version"] != b.Version || fields["Architecture"] != arch || fields["Section"] != "net" {
			t.Errorf("%s: control fields %v", arch, fields)
		}
		if !regexp.MustCompile(`^libc6 \(>= [0-9.]+\), libpam0g \(>= [0-9.]+\)$`).MatchString(fields["Depends"]) {
			t.Errorf("%s: Depends %q, want libc6 and libpam0g (dpkg-shlibdeps)", arch, fields["Depends"])
		}
		if fields["Recommends"] != "openssh-server" || !strings.Contains(fields["Maintainer"], "<") {
			t.Errorf("%s: Recommends %q, Maintainer %q", arch, fields["Recommends"], fields["Maintainer"])
		}
		checkMaintainerScripts(t, arch, ctl)
	}
}

// startOrEnable matches a maintainer script line that would start or enable
// a unit; only try-restart (of a service that is already running) may appear.
var startOrEnable = regexp.MustCompile(`(?m)^[^#]*\b(?:systemctl|deb-systemd-invoke|deb-systemd-helper)\b[^\n]*\b(?:start|enable|reenable|restart|unmask|preset)\b`)

func checkMaintainerScripts(t *testing.T, arch, ctl string) {
	t.Helper()
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join(ctl, name)
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: %s missing or not executable (%v)", arch, name, err)
			continue
		}
		run(t, "", "sh", "-n", p)
		data, _ := os.ReadFile(p)
		text := strings.ReplaceAll(string(data), "try-restart", "try-RESTART")
		if m := startOrEnable.FindString(text); m != "" {
			t.Errorf("%s: %s starts or enables a unit: %q", arch, name, m)
		}
	}
	if _, err := os.Stat(filepath.Join(ctl, "preinst")); err == nil {
		t.Errorf("%s: unexpected preinst", arch)
	}
}

// TestDebFiles: the shipped files are the tree's, with only the binary's path
// changed; the jail is disabled; man pages and docs are gzip -9n; the
// copyright file covers every linked module; the binary is a PAM build of
// the right architecture and says the package's version and commit.
func TestDebFiles(t *testing.T) {
	b := packages(t)
	commit := strings.TrimSpace(run(t, "..", "git", "rev-parse", "HEAD"))
	mods, err := LinkedModules("..", "./cmd/tunnelftpd")
	if err != nil {
		t.Fatal(err)
	}
	for arch, deb := range b.Deb {
		root := extract(t, deb)
		read := func(p string) string {
			data, err := os.ReadFile(filepath.Join(root, p))
			if err != nil {
				t.Errorf("%s: %v", arch, err)
			}
			return string(data)
		}
		tree := func(p string) string {
			data, err := os.ReadFile(filepath.Join("..", p))
			if err != nil {
				t.Fatal(err)
			}
			return string(data)
		}
		rewritten := func(p string) string {
			return strings.ReplaceAll(tree(p), "/usr/local/bin/tunnelftpd", "/usr/sbin/tunnelftpd")
		}
		same := map[string]string{
			"etc/tunnelftpd/tunnelftpd.toml":                        tree("etc/tunnelftpd.toml"),
			"etc/pam.d/tunnelftpd":                                  tree("etc/pam.d/tunnelftpd"),
			"etc/fail2ban/filter.d/tunnelftpd.conf":                 tree("etc/fail2ban/filter.d/tunnelftpd.conf"),
			"usr/lib/tmpfiles.d/tunnelftpd.conf":                    tree("etc/tmpfiles.d/tunnelftpd.conf"),
			"usr/lib/sysusers.d/tunnelftpd.conf":                    tree("packaging/sysusers.d/tunnelftpd.conf"),
			"usr/lib/systemd/system/tunnelftpd.socket":              rewritten("systemd/tunnelftpd.socket"),
			"usr/lib/systemd/system/tunnelftpd.service":             rewritten("systemd/tunnelftpd.service"),
			"usr/lib/systemd/system/tunnelftpd-conn.socket":         rewritten("systemd/tunnelftpd-conn.socket"),
			"usr/lib/systemd/system/tunnelftpd-conn@.service":       rewritten("systemd/tunnelftpd-conn@.service"),
			"usr/lib/systemd/system/tunnelftpd-ident.socket":        rewritten("systemd/tunnelftpd-ident.socket"),
			"usr/lib/systemd/system/tunnelftpd-ident.service":       rewritten("systemd/tunnelftpd-ident.service"),
			"usr/share/doc/tunnelftpd/examples/inetd.conf":          rewritten("etc/inetd.conf"),
			"usr/share/doc/tunnelftpd/examples/xinetd.d/tunnelftpd": rewritten("etc/xinetd.d/tunnelftpd"),
			"usr/share/lintian/overrides/tunnelftpd":                tree("packaging/deb/lintian-overrides"),
		}
		if haveLogrotate() {
			same["etc/logrotate.d/tunnelftpd"] = tree("etc/logrotate.d/tunnelftpd")
		}
		for p, want := range same {
			if got := read(p); got != want {
				t.Errorf("%s: %s differs from the tree's file", arch, p)
			}
		}
		for _, p := range []string{"usr/lib/systemd/system/tunnelftpd.service", "usr/lib/systemd/system/tunnelftpd-conn@.service", "usr/share/doc/tunnelftpd/examples/inetd.conf"} {
			if s := read(p); strings.Contains(s, "/usr/local") || !regexp.MustCompile(`/usr/sbin/tunnelftpd\s+(tunnelftpd )?serve`).MatchString(s) {
				t.Errorf("%s: %s does not run /usr/sbin/tunnelftpd:\n%s", arch, p, s)
			}
		}
		if !strings.Contains(read("usr/lib/systemd/system/tunnelftpd-conn.socket"), "\nAccept=yes\n") ||
			!strings.Contains(read("usr/lib/systemd/system/tunnelftpd.socket"), "\nAccept=no\n") {
			t.Errorf("%s: the socket units are not the Accept=no / Accept=yes pair", arch)
		}
		jail := read("etc/fail2ban/jail.d/tunnelftpd.conf")
		if !regexp.MustCompile(`(?m)^enabled +=  *false$`).MatchString(jail) || regexp.MustCompile(`(?m)^enabled *= *true`).MatchString(jail) {
			t.Errorf("%s: the jail is not disabled:\n%s", arch, jail)
		}
		if strings.Replace(strings.SplitN(jail, "\n", 2)[1], "= false", "= true", 1) != tree("etc/fail2ban/jail.d/tunnelftpd.conf") {
			t.Errorf("%s: the jail differs from the tree's in more than enabled", arch)
		}
		if !regexp.MustCompile(`(?m)^u tunnelftpd - "[^"]+" /nonexistent /usr/sbin/nologin$`).MatchString(read("usr/lib/sysusers.d/tunnelftpd.conf")) {
			t.Errorf("%s: sysusers.d entry", arch)
		}

		for _, p := range []string{"usr/share/man/man8/tunnelftpd.8.gz", "usr/share/man/man5/tunnelftpd.toml.5.gz", "usr/share/doc/tunnelftpd/changelog.gz", "usr/share/doc/tunnelftpd/README.md.gz"} {
			checkGzip9n(t, arch, filepath.Join(root, p))
		}
		if got, want := gunzip(t, filepath.Join(root, "usr/share/doc/tunnelftpd/README.md.gz")), tree("README.md"); got != want {
			t.Errorf("%s: README.md.gz is not README.md", arch)
		}
		if cl := gunzip(t, filepath.Join(root, "usr/share/doc/tunnelftpd/changelog.gz")); !strings.HasPrefix(cl, "tunnelftpd ("+b.Version+") unstable; urgency=medium\n") || !strings.Contains(cl, commit[:12]) {
			t.Errorf("%s: changelog:\n%s", arch, cl)
		}
		cr := read("usr/share/doc/tunnelftpd/copyright")
		for _, m := range mods {
			if !strings.Contains(cr, "\n"+m.Path+" "+m.Version+" (") {
				t.Errorf("%s: copyright lacks %s %s", arch, m.Path, m.Version)
			}
		}

		bin := filepath.Join(root, "usr/sbin/tunnelftpd")
		checkELF(t, arch, bin)
		// The binary runs (arm64 under qemu), says its version, and is a PAM
		// build: a build without cgo refuses system_users.
		exe := []string{bin}
		if arch == "arm64" {
			needTool(t, "qemu-aarch64", "the arm64 binary runs under qemu (Debian package qemu-user)")
			exe = []string{"qemu-aarch64", bin}
		}
		want := "tunnelftpd " + b.Version + " (commit " + commit + ")\n"
		if got := run(t, "", exe[0], append(exe[1:], "version")...); !strings.HasPrefix(got, want) || !strings.Contains(got, "\npam: compiled in") {
			t.Errorf("%s: packaged tunnelftpd version: %q, want %q and PAM compiled in", arch, got, want)
		}
		pam := filepath.Join(t.TempDir(), "pam.toml")
		os.WriteFile(pam, []byte("[auth]\nsystem_users = true\n"), 0o644)
		if out, err := runErr("", exe[0], append(exe[1:], "check", "-q", "-c", pam)...); err != nil {
			t.Errorf("%s: the packaged binary refuses system_users (not a PAM build?): %v\n%s", arch, err, out)
		}
	}
	if !regexp.MustCompile(`^0\.0\.0\+\d+\.g` + commit[:12] + `(\.dirty)?$|^\d+\.\d+\.\d+`).MatchString(b.Version) {
		t.Errorf("version %q is not packaging/version's for commit %s", b.Version, commit)
	}
}

// checkGzip9n: gzip -9n, the form Debian policy asks for man pages and
// docs: no file name, no time stamp, maximum compression.
func checkGzip9n(t *testing.T, arch, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil || len(data) < 10 {
		t.Errorf("%s: %s: %v", arch, path, err)
		return
	}
	const fname = 0x08
	if data[0] != 0x1f || data[1] != 0x8b || data[3]&fname != 0 || !bytes.Equal(data[4:8], []byte{0, 0, 0, 0}) || data[8] != 2 {
		t.Errorf("%s: %s is not gzip -9n: header % x", arch, filepath.Base(path), data[:10])
	}
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(data)
}

// checkELF: a position-independent executable of arch, linking libc and
// loading libpam.so.0 (the PAM build, through dlopen), stripped, without
// the compiler's .comment.
func checkELF(t *testing.T, arch, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: %v", arch, err)
		return
	}
	defer f.Close()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != machine || f.Type != elf.ET_DYN {
		t.Errorf("%s: ELF machine %v type %v, want %v ET_DYN (PIE)", arch, f.Machine, f.Type, machine)
	}
	libs, _ := f.ImportedLibraries()
	if !slices.Contains(libs, "libc.so.6") {
		t.Errorf("%s: links %v, want libc.so.6", arch, libs)
	}
	if data, err := os.ReadFile(path); err != nil || !bytes.Contains(data, []byte("libpam.so.0\x00")) {
		t.Errorf("%s: the binary does not name libpam.so.0 for dlopen: not a PAM build (%v)", arch, err)
	}
	for _, s := range []string{".symtab", ".comment", ".debug_info"} {
		if f.Section(s) != nil {
			t.Errorf("%s: binary has %s", arch, s)
		}
	}
}

// TestRPMContents: each .rpm is of its architecture and holds the same files
// as the .deb (with the Fedora PAM file, uncompressed docs as %doc, the
// copyright as %license), the config 0640 root:tunnelftpd and
// %config(noreplace), the log directory of the daemon's account, and the
// scriptlets that make the account first.
func TestRPMContents(t *testing.T) {
	needTool(t, "rpm", "the rpm's header is read with rpm -qp")
	b := packages(t)
	pamSum := sha256.Sum256([]byte(mustRead(t, "../packaging/rpm/pam.d-tunnelftpd")))
	for arch, rpm := range b.RPM {
		q := func(format string) string { return run(t, "", "rpm", "-qp", "--qf", format, rpm) }
		if got := q("%{NAME} %{VERSION} %{RELEASE} %{ARCH}"); got != "tunnelftpd "+b.Version+" 1 "+RPMArch[arch] {
			t.Errorf("%s: %s", arch, got)
		}
		type file struct{ perms, user, group, flags, digest string }
		files := map[string]file{}
		for _, line := range strings.Split(strings.TrimRight(q(`[%{FILENAMES}\t%{FILEMODES:perms}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\t%{FILEDIGESTS}\n]`), "\n"), "\n") {
			f := strings.Split(line, "\t")
			if len(f) != 6 {
				t.Fatalf("%s: rpm -qp line %q", arch, line)
			}
			files[f[0]] = file{f[1], f[2], f[3], f[4], f[5]}
		}
		want := map[string]file{
			"/etc/tunnelftpd/tunnelftpd.toml":          {"-rw-r-----", "root", "tunnelftpd", "cn", ""},
			"/etc/pam.d/tunnelftpd":                    {"-rw-r--r--", "root", "root", "cn", hex.EncodeToString(pamSum[:])},
			"/var/log/tunnelftpd":                      {"drwxr-xr-x", "tunnelftpd", "tunnelftpd", "", ""},
			"/etc/tunnelftpd":                          {"drwxr-xr-x", "root", "root", "", ""},
			"/usr/sbin/tunnelftpd":                     {"-rwxr-xr-x", "root", "root", "", ""},
			"/usr/share/licenses/tunnelftpd/copyright": {"-rw-r--r--", "root", "root", "l", ""},
			"/usr/share/doc/tunnelftpd/README.md":      {"-rw-r--r--", "root", "root", "d", ""},
			"/usr/share/man/man8/tunnelftpd.8.gz":      {"-rw-r--r--", "root", "root", "d", ""},
		}
		for p, w := range want {
			g, ok := files[p]
			if w.digest == "" {
				g.digest = ""
			}
			if !ok || g != w {
				t.Errorf("%s: %s: %+v, want %+v", arch, p, g, w)
			}
		}
		// Every .deb file but the Debian-only ones is in the rpm too.
		for p := range debFiles() {
			rp := "/" + strings.TrimSuffix(p, ".gz")
			if strings.HasPrefix(p, "usr/share/man/") {
				rp = "/" + p
			}
			switch {
			case strings.HasPrefix(p, "usr/share/lintian/"), p == "usr/share/doc/tunnelftpd/changelog.gz":
				continue
			case p == "usr/share/doc/tunnelftpd/copyright":
				rp = "/usr/share/licenses/tunnelftpd/copyright"
			}
			if _, ok := files[rp]; !ok {
				t.Errorf("%s: the rpm lacks %s", arch, rp)
			}
		}
		for _, p := range conffiles() {
			if files[p].flags != "cn" {
				t.Errorf("%s: %s is not %%config(noreplace): %q", arch, p, files[p].flags)
			}
		}
		if req := q(`[%{REQUIRENAME}\n]`); !regexp.MustCompile(`(?m)^pam$`).MatchString(req) {
			t.Errorf("%s: Requires:\n%s", arch, req)
		}
		scripts := run(t, "", "rpm", "-qp", "--scripts", rpm)
		for _, s := range []string{"preinstall", "postinstall", "preuninstall", "postuninstall"} {
			if !strings.Contains(scripts, s+" scriptlet") {
				t.Errorf("%s: no %s scriptlet", arch, s)
			}
		}
		sysusers := strings.TrimSpace(regexp.MustCompile(`(?m)^u .*$`).FindString(mustRead(t, "../packaging/sysusers.d/tunnelftpd.conf")))
		if !strings.Contains(scripts, "echo '"+sysusers+"'") {
			t.Errorf("%s: %%pre does not make the account of sysusers.d (%s)", arch, sysusers)
		}
		if m := startOrEnable.FindString(strings.ReplaceAll(scripts, "try-restart", "try-RESTART")); m != "" {
			t.Errorf("%s: a scriptlet starts or enables a unit: %q", arch, m)
		}
	}
}

func mustRead(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
