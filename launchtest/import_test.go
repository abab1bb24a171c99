package launchtest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// The three wu-ftpd setups of importer/wuftpd/testdata, imported by the built binary on this
// host (with throwaway accounts standing in for the setup's), localized to the test's
// directories, served, and driven with an FTP client: what the old ftpaccess allowed and
// refused, the modes and groups of uploads on disk, the class limit and the passive range,
// the banner and the messages.

const setupsDir = "../importer/wuftpd/testdata"

// imported is one setup imported and served.
type imported struct {
	dir  string // the test's directory
	host string // the old host's "/" below dir: every absolute path of the config moved here
	addr string
	toml string // the config as the import wrote it
}

// hostPath is where the config's path p (a path on the old host) lives in the test.
func (im *imported) hostPath(p string) string { return filepath.Join(im.host, p) }

// importAndServe copies the files of setup name with the replacements (old, new pairs) applied
// to each, runs `tunnelftpd import wu-ftpd` on them, moves every absolute path of the config
// below the test's directory, points its listen, registry, logs and PAM service at the test's,
// lets files(im) create the setup's files, and serves the config.
func importAndServe(t *testing.T, name string, repl []string, files func(im *imported)) *imported {
	t.Helper()
	dir := t.TempDir()
	// Session processes run as the users and must reach their roots and the log.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	im := &imported{dir: dir, host: filepath.Join(dir, "host")}
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	// The files the ftpaccess names (limit messages) are read by the import: they move too.
	filepath.WalkDir(filepath.Join(setupsDir, name, "files"), func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(filepath.Join(setupsDir, name, "files"), p)
		data, _ := os.ReadFile(p)
		dst := filepath.Join(in, "files", rel)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		os.WriteFile(dst, data, 0o644)
		repl = append(repl, "/"+filepath.ToSlash(rel), dst)
		return nil
	})
	r := strings.NewReplacer(repl...)
	args := []string{"import", "wu-ftpd"}
	for _, f := range []struct{ file, flag string }{{"ftpaccess", "--ftpaccess"}, {"ftpusers", "--ftpusers"}, {"ftphosts", "--ftphosts"}, {"xinetd.wu-ftpd", "--xinetd"}, {"inetd.conf", ""}} {
		data, err := os.ReadFile(filepath.Join(setupsDir, name, f.file))
		if err != nil {
			continue
		}
		text := r.Replace(string(data))
		if f.flag == "" {
			for _, l := range strings.Split(text, "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					args = append(args, "--inetd-line", l)
					break
				}
			}
			continue
		}
		p := filepath.Join(in, f.file)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, f.flag, p)
	}
	cmd := exec.Command(binary, args...)
	var out, report bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &report
	if err := cmd.Run(); err != nil {
		t.Fatalf("tunnelftpd %s: %v\n%s", strings.Join(args, " "), err, report.String())
	}
	im.toml = out.String()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("imported config:\n%s\nreport:\n%s", im.toml, report.String())
		}
	})

	var m map[string]any
	if _, err := toml.Decode(im.toml, &m); err != nil {
		t.Fatalf("the imported config is not TOML: %v", err)
	}
	table := func(name string) map[string]any {
		tb, ok := m[name].(map[string]any)
		if !ok {
			tb = map[string]any{}
			m[name] = tb
		}
		return tb
	}
	for _, tb := range []map[string]any{m, table("auth"), table("log"), table("messages")} {
		for k, v := range tb {
			if s, ok := v.(string); ok && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, dir) {
				tb[k] = im.hostPath(s)
				os.MkdirAll(filepath.Dir(im.hostPath(s)), 0o755)
			}
		}
	}
	im.addr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	m["listen"] = im.addr
	m["registry_dir"] = filepath.Join(dir, "run")
	if _, ok := m["run_as"]; ok {
		m["run_as"] = "nobody" // the ftp account of the old host
	}
	table("log")["output"] = filepath.Join(dir, "tunnelftpd.log")
	table("log")["wtmp"] = false // not the host's wtmp
	table("auth")["pam_service"] = installPAMService(t)
	table("auth")["fail_delay"] = "10ms"
	if _, ok := m["run_as"]; ok {
		// The daemon writes its logs as run_as: they exist and are its.
		for _, k := range []string{"output", "xferlog"} {
			if p, ok := table("log")[k].(string); ok && p != "" {
				os.WriteFile(p, nil, 0o640)
				os.Chown(p, 65534, 65534)
			}
		}
	}
	if root, ok := table("auth")["anonymous_root"].(string); ok {
		os.MkdirAll(root, 0o755)
	}
	if files != nil {
		files(im)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(m); err != nil {
		t.Fatal(err)
	}
	f := &testutil.Daemon{T: t, Bin: binary, Dir: dir, Config: filepath.Join(dir, "tunnelftpd.toml"), Addr: im.addr, LogFile: filepath.Join(dir, "tunnelftpd.log")}
	f.WriteConfig(buf.String())
	if out, err := exec.Command(binary, "check", "-c", f.Config).CombinedOutput(); err != nil {
		t.Fatalf("tunnelftpd check refuses the localized import: %v\n%s\n%s", err, out, buf.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- daemon log:\n%s", testutil.Tail(f.Logs(), 8000))
		}
	})
	serveStandalone(t, f)
	return im
}

// put writes a file of the old host (mode 0644), making its directories.
func (im *imported) put(t *testing.T, p, text string) {
	t.Helper()
	p = im.hostPath(p)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// refused runs a transfer or command that must fail with a 5xx (or a refused data
// transfer) and fails the test if it succeeds.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded; wu-ftpd refused it", what)
	}
}

func expectCode(t *testing.T, c *testutil.RawConn, want int, format string, args ...any) {
	t.Helper()
	if code, msg := c.Cmd(format, args...); code != want {
		t.Errorf("%s: %d %q, want %d", fmt.Sprintf(format, args...), code, msg, want)
	}
}

// fileIs checks an upload's mode and group on disk.
func fileIs(t *testing.T, p string, mode os.FileMode, gid int) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Errorf("upload not on disk: %v", err)
		return
	}
	if st.Mode().Perm() != mode {
		t.Errorf("%s: mode %04o, want %04o", p, st.Mode().Perm(), mode)
	}
	if g := int(st.Sys().(*syscall.Stat_t).Gid); gid >= 0 && g != gid {
		t.Errorf("%s: group %d, want %d", p, g, gid)
	}
}

// addSysGroup creates a throwaway group, removed when the test ends.
func addSysGroup(t *testing.T) (string, int) {
	t.Helper()
	testutil.RequireTool(t, "groupadd", "groupdel")
	name := "tftpg" + strings.ToLower(rand.Text()[:8])
	mustExec(t, "", "groupadd", name)
	t.Cleanup(func() { exec.Command("groupdel", name).Run() })
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	return name, gid
}

// The anonymous mirror: a write-only /incoming whose uploads get mode 0600 and the upload
// line's group, noretrieve paths and names, allow-retrieve, path-filter, no overwrite or delete
// for anonymous, the banner file, the greeting and the login and cwd messages.
func TestImportedMirrorBehaves(t *testing.T) {
	needSystemUsers(t)
	nogroup, err := user.LookupGroup("nogroup")
	testutil.Require(t, err == nil, "no group nogroup (the group of the anonymous uploads here)")
	gid, _ := strconv.Atoi(nogroup.Gid)
	// ftp is the old host's group for the uploads; this one's run_as (nobody) is in nogroup.
	im := importAndServe(t, "mirror", []string{"ftpadmin  ftp  0600", "ftpadmin  nogroup  0600"}, func(im *imported) {
		im.put(t, "/etc/ftpd/banner.msg", "Welcome to the example.org mirror.\n")
		im.put(t, "/srv/ftp/welcome.msg", "Mirror rules: be nice.\n")
		im.put(t, "/srv/ftp/pub/.message", "This is /pub.\n")
		im.put(t, "/srv/ftp/pub/file.txt", "public file\n")
		im.put(t, "/srv/ftp/pub/core", "a core dump\n")
		im.put(t, "/srv/ftp/private/README", "private readme\n")
		im.put(t, "/srv/ftp/private/secret", "secret\n")
		im.put(t, "/srv/ftp/incoming/old.txt", "uploaded earlier\n")
		os.Chmod(im.hostPath("/srv/ftp/incoming"), 0o777)
	})
	c := testutil.DialRaw(t, im.addr)
	if !strings.Contains(c.Greeting, "Welcome to the example.org mirror.") || !strings.Contains(c.Greeting, "FTP server ready.") {
		t.Errorf("greeting %q lacks the banner file or the terse greeting", c.Greeting)
	}
	c.Expect(331, "USER anonymous")
	if msg := c.Expect(230, "PASS mirror-user@example.com"); !strings.Contains(msg, "Mirror rules: be nice.") {
		t.Errorf("230 lacks the login message: %q", msg)
	}
	if msg := c.Expect(250, "CWD /pub"); !strings.Contains(msg, "This is /pub.") {
		t.Errorf("first CWD /pub lacks its .message: %q", msg)
	}
	if got, err := c.TryRetr("/pub/file.txt"); err != nil || string(got) != "public file\n" {
		t.Errorf("RETR /pub/file.txt: %q %v", got, err)
	}
	_, err = c.TryRetr("/pub/core")
	refused(t, "RETR /pub/core (noretrieve core)", err)
	_, err = c.TryRetr("/private/secret")
	refused(t, "RETR /private/secret (noretrieve relative /private)", err)
	if got, err := c.TryRetr("/private/README"); err != nil || string(got) != "private readme\n" {
		t.Errorf("RETR /private/README (allow-retrieve): %q %v", got, err)
	}

	// The write-only incoming.
	if err := c.TryStor("/incoming/new.txt", []byte("contribution\n")); err != nil {
		t.Fatalf("anonymous STOR into /incoming: %v", err)
	}
	fileIs(t, im.hostPath("/srv/ftp/incoming/new.txt"), 0o600, gid)
	_, err = c.TryList("LIST", "/incoming")
	refused(t, "LIST /incoming", err)
	_, err = c.TryRetr("/incoming/new.txt")
	refused(t, "RETR /incoming/new.txt", err)
	_, err = c.TryRetr("/incoming/old.txt")
	refused(t, "RETR /incoming/old.txt", err)
	refused(t, "STOR over /incoming/old.txt (overwrite no)", c.TryStor("/incoming/old.txt", []byte("replaced")))
	for _, n := range []string{".hidden", "-rf", "a b"} {
		refused(t, "STOR /incoming/"+n+" (path-filter)", c.TryStor("/incoming/"+n, []byte("x")))
		if _, err := os.Lstat(im.hostPath("/srv/ftp/incoming/" + n)); err == nil {
			t.Errorf("/incoming/%s was created", n)
		}
	}
	if code, _ := c.Cmd("DELE /incoming/old.txt"); code < 500 {
		t.Errorf("DELE /incoming/old.txt: %d, want a refusal", code)
	}
	if code, _ := c.Cmd("MKD /incoming/d"); code < 500 {
		t.Errorf("MKD /incoming/d (nodirs): %d, want a refusal", code)
	}
	refused(t, "STOR /pub/x (upload no)", c.TryStor("/pub/x", []byte("x")))
	if data, _ := os.ReadFile(im.hostPath("/srv/ftp/incoming/old.txt")); string(data) != "uploaded earlier\n" {
		t.Errorf("old.txt changed: %q", data)
	}
}

// The company: partners are guests in drop boxes who upload new files into /incoming (mode
// 0640, group partners) and cannot retrieve, overwrite, delete, rename or make directories
// there, nor upload elsewhere; staff are real users who may do all of that, with the umask
// the import chose.
func TestImportedCompanyBehaves(t *testing.T) {
	needSystemUsers(t)
	partners, gid := addSysGroup(t)
	base := filepath.Join("/home", partners)
	os.MkdirAll(base, 0o755)
	t.Cleanup(func() { os.RemoveAll(base) })
	// The guest's home is below /home/<partners>/, which the upload lines name.
	guest := addSysUser(t, "-g", partners, "-d", filepath.Join(base, "carol"))
	staff := addSysUser(t)
	os.MkdirAll(filepath.Join(guest.home, "incoming"), 0o755)
	os.Chown(filepath.Join(guest.home, "incoming"), guest.uid, guest.gid)
	os.WriteFile(filepath.Join(guest.home, "incoming", "old.txt"), []byte("dropped earlier\n"), 0o644)
	os.Chown(filepath.Join(guest.home, "incoming", "old.txt"), guest.uid, guest.gid)
	os.WriteFile(filepath.Join(guest.home, "terms.txt"), []byte("terms\n"), 0o644)

	im := importAndServe(t, "company", []string{"partners", partners}, func(im *imported) {
		im.put(t, "/etc/ftpd/banner.txt", "ACME: authorized use only.\n")
		im.put(t, "/etc/ftpd/welcome.msg", "Welcome to ACME.\n")
	})
	if !strings.Contains(im.toml, `mode = "0640"`) {
		t.Errorf("the import on this host has no 0640 upload rule")
	}

	g := testutil.DialRaw(t, im.addr)
	if !strings.Contains(g.Greeting, "ACME: authorized use only.") || !strings.Contains(g.Greeting, "ACME file exchange") {
		t.Errorf("greeting %q", g.Greeting)
	}
	g.Login(guest.name, sysPassword)
	if err := g.TryStor("/incoming/report.pdf", []byte("partner report\n")); err != nil {
		t.Fatalf("guest STOR into /incoming: %v", err)
	}
	fileIs(t, filepath.Join(guest.home, "incoming", "report.pdf"), 0o640, gid)
	_, err := g.TryRetr("/incoming/report.pdf")
	refused(t, "guest RETR /incoming/report.pdf (noretrieve)", err)
	refused(t, "guest STOR over /incoming/old.txt (overwrite no)", g.TryStor("/incoming/old.txt", []byte("x")))
	refused(t, "guest STOR /incoming/.profile (path-filter)", g.TryStor("/incoming/.profile", []byte("x")))
	refused(t, "guest STOR /x.txt (upload * no)", g.TryStor("/x.txt", []byte("x")))
	if code, _ := g.Cmd("DELE /incoming/old.txt"); code < 500 {
		t.Errorf("guest DELE: %d, want a refusal", code)
	}
	if code, _ := g.Cmd("RNFR /incoming/old.txt"); code < 500 {
		if code, _ := g.Cmd("RNTO /incoming/new.txt"); code < 500 {
			t.Errorf("guest rename: %d, want a refusal", code)
		}
	}
	if code, _ := g.Cmd("MKD /incoming/d"); code < 500 {
		t.Errorf("guest MKD (nodirs): %d, want a refusal", code)
	}
	if got, err := g.TryRetr("/terms.txt"); err != nil || string(got) != "terms\n" {
		t.Errorf("guest RETR /terms.txt: %q %v", got, err)
	}
	if data, _ := os.ReadFile(filepath.Join(guest.home, "incoming", "old.txt")); string(data) != "dropped earlier\n" {
		t.Errorf("old.txt changed: %q", data)
	}

	s := testutil.DialRaw(t, im.addr)
	s.Login(staff.name, sysPassword)
	s.Stor("/a.txt", []byte("one"))
	fileIs(t, filepath.Join(staff.home, "a.txt"), 0o600, staff.gid) // umask 077
	s.Stor("/a.txt", []byte("two"))
	if got := s.Retr("/a.txt"); string(got) != "two" {
		t.Errorf("staff RETR after overwrite: %q", got)
	}
	s.Expect(350, "RNFR /a.txt")
	s.Expect(250, "RNTO /b.txt")
	s.Expect(257, "MKD /dir")
	s.Expect(250, "DELE /b.txt")
	s.Expect(250, "RMD /dir")
}

// The tunnel setup: passive ports from the configured range only, the class limit answered
// with 421 and its full message, guests' drop box uploads with mode 0640 and group ftpguest,
// the hostname in the brief greeting.
func TestImportedTunnelBehaves(t *testing.T) {
	needSystemUsers(t)
	first, last := testutil.FreePortRange(t, 3)
	guests, gid := addSysGroup(t)
	jane := addSysUser(t)
	supplier := addSysUser(t, "-g", guests)
	os.MkdirAll(filepath.Join(supplier.home, "drop"), 0o755)
	os.Chown(filepath.Join(supplier.home, "drop"), supplier.uid, supplier.gid)
	im := importAndServe(t, "tunnel", []string{
		"ftpguest", guests,
		"22000 22004", fmt.Sprintf("%d %d", first, last),
		"limit   tunnel   20", "limit   tunnel   2",
	}, func(im *imported) {
		im.put(t, "/etc/ftpd/msg.full", "full\n")
	})

	a := testutil.DialRaw(t, im.addr)
	if !strings.Contains(a.Greeting, "files.example.net FTP server ready.") {
		t.Errorf("greeting %q", a.Greeting)
	}
	a.Login(jane.name, sysPassword)
	for i := 0; i < 2*(last-first+1); i++ {
		for _, pasv := range []bool{false, true} {
			var port int
			var err error
			if pasv {
				_, port, err = a.TryPasv()
			} else {
				port, err = a.TryEpsv()
			}
			if err != nil {
				t.Fatalf("passive %d: %v", i, err)
			}
			if port < first || port > last {
				t.Errorf("passive port %d outside the configured %d-%d", port, first, last)
			}
			// Use it, so that it is given back before the next.
			a.Send("NLST")
			if _, err := a.TryReceive(port); err != nil {
				t.Fatalf("NLST on passive port %d: %v", port, err)
			}
		}
	}
	a.Stor("/j.txt", []byte("j"))
	fileIs(t, filepath.Join(jane.home, "j.txt"), 0o600, jane.gid) // defumask 077

	b := testutil.DialRaw(t, im.addr)
	b.Login(supplier.name, sysPassword)
	b.Stor("/drop/part.bin", []byte("parts"))
	fileIs(t, filepath.Join(supplier.home, "drop", "part.bin"), 0o640, gid)
	if code, _ := b.Cmd("MKD /drop/d"); code < 500 {
		t.Errorf("guest MKD in /drop (nodirs): %d", code)
	}
	if code, _ := b.Cmd("DELE /drop/part.bin"); code < 500 {
		t.Errorf("guest DELE (delete no): %d", code)
	}
	refused(t, "guest STOR over /drop/part.bin (overwrite no)", b.TryStor("/drop/part.bin", []byte("x")))

	// Two sessions are in class tunnel: the third login is refused with the full message.
	c := testutil.DialRaw(t, im.addr)
	c.Expect(331, "USER %s", jane.name)
	if code, msg := c.Cmd("PASS %s", sysPassword); code != 421 || !strings.Contains(msg, "All tunnel sessions (2) are busy.") {
		t.Errorf("third login: %d %q, want 421 and the class's full message", code, msg)
	}
	// After one leaves, a login is admitted again.
	b.Cmd("QUIT")
	b.Close()
	testutil.WaitFor(t, 10*time.Second, 20*time.Millisecond, "a session slot", func() bool {
		d, err := testutil.TryDialRaw(nil, im.addr)
		if err != nil {
			return false
		}
		defer d.Close()
		return d.TryLogin(jane.name, sysPassword) == nil
	})
}
