package driver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/access"
	"golang.org/x/sys/unix"
)

// session compiles rules for user u into the Policy a session gets.
func session(t testing.TB, in access.Input, u access.User) *access.Session {
	t.Helper()
	p, probs := access.Compile(in, access.CompileOptions{LookupGroup: func(name string) (int, error) {
		return strconv.Atoi(name) // tests name groups by number
	}})
	if probs != nil {
		t.Fatalf("Compile: %v", probs)
	}
	return p.Session(u)
}

// tenRulePolicy is a ten-rule policy under which a virtual user may download /down.bin and
// upload /up.bin (matched by the last rule, so every decision walks all ten), for the zero-copy
// tests.
func tenRulePolicy(t testing.TB) *access.Session {
	var rules []access.RuleConfig
	for i := range 9 {
		rules = append(rules, access.RuleConfig{Path: fmt.Sprintf("/area%d/**", i), Deny: []string{"delete", "rename"}})
	}
	rules = append(rules, access.RuleConfig{Path: "/*.bin", Allow: []string{"retrieve", "upload"}})
	return session(t, access.Input{Umask: "027", Rules: rules}, access.User{Name: "carol", Kind: access.Virtual})
}

// counting wraps a Policy and records every path it is asked about.
type counting struct {
	Policy
	mu    sync.Mutex
	asked []string
}

func (c *counting) At(p string) access.Decision {
	c.mu.Lock()
	c.asked = append(c.asked, p)
	c.mu.Unlock()
	return c.Policy.At(p)
}

func (c *counting) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.asked
	c.asked = nil
	return l
}

func policyRoot(t *testing.T, pol Policy) (*Fs, string) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"incoming", "pub", "pub/sub", "tmp"} {
		must(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	for name, data := range map[string]string{
		"incoming/old.txt": "uploaded before", "pub/file.txt": "public", "pub/sub/deep.txt": "deep",
	} {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	fsys, err := New(dir, Options{Policy: pol})
	must(t, err)
	t.Cleanup(func() { _ = fsys.Close() })
	return fsys, dir
}

// storFlags and the others are the flags ftpserverlib passes to GetHandle.
const (
	storFlags     = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	appeFlags     = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	restStorFlags = os.O_WRONLY | os.O_CREATE
)

func put(fsys *Fs, name string, flags int, offset int64, data string) error {
	h, err := fsys.GetHandle(name, flags, offset)
	if err != nil {
		return err
	}
	if offset > 0 {
		if _, err := h.Seek(offset, io.SeekStart); err != nil {
			_ = h.Close()
			return err
		}
	}
	if _, err := io.WriteString(h, data); err != nil {
		_ = h.Close()
		return err
	}
	return h.Close()
}

func get(fsys *Fs, name string) (string, error) {
	h, err := fsys.GetHandle(name, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer h.Close()
	b, err := io.ReadAll(h)
	return string(b), err
}

func wantDenied(t *testing.T, what string, err error, verb access.Verb) {
	t.Helper()
	var d *access.Denied
	if !errors.Is(err, os.ErrPermission) || !errors.As(err, &d) || d.Verb != verb {
		t.Errorf("%s: %v, want %s refused (os.ErrPermission)", what, err, verb)
	}
}

func fileIs(t *testing.T, dir, name, want string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil || string(b) != want {
		t.Errorf("%s holds %q (%v), want %q", name, b, err, want)
	}
}

// TestWriteOnlyIncoming is the anonymous archive: uploads into /incoming work, listing it and
// downloading from it do not, and names are not hidden.
func TestWriteOnlyIncoming(t *testing.T) {
	pol := session(t, access.Input{Rules: []access.RuleConfig{
		{Path: "/incoming", Who: []string{"@anonymous"}, Deny: []string{"list"}},
		{Path: "/incoming/**", Who: []string{"@anonymous"}, Allow: []string{"upload", "mkdir"}},
	}}, access.User{Name: "anonymous", Kind: access.Anonymous})
	fsys, dir := policyRoot(t, pol)

	if err := put(fsys, "/incoming/new.bin", storFlags, 0, "fresh"); err != nil {
		t.Fatalf("STOR into /incoming: %v", err)
	}
	fileIs(t, dir, "incoming/new.bin", "fresh")
	if err := fsys.Mkdir("/incoming/sub", os.ModePerm); err != nil {
		t.Errorf("MKD in /incoming: %v", err)
	}
	if err := put(fsys, "/incoming/sub/x", storFlags, 0, "x"); err != nil {
		t.Errorf("STOR into /incoming/sub: %v", err)
	}

	_, err := fsys.ReadDir("/incoming")
	wantDenied(t, "LIST /incoming", err, access.List)
	_, err = fsys.ReadDir("/incoming/sub")
	wantDenied(t, "LIST /incoming/sub", err, access.List)
	_, err = get(fsys, "/incoming/new.bin")
	wantDenied(t, "RETR /incoming/new.bin", err, access.Retrieve)
	_, err = fsys.Open("/incoming/new.bin")
	wantDenied(t, "Open /incoming/new.bin", err, access.Retrieve)
	_, err = fsys.Open("/incoming")
	wantDenied(t, "Open /incoming (a directory: listing)", err, access.List)
	// Names are not hidden: the file can still be stat'ed (SIZE, MDTM, MLST).
	if fi, err := fsys.Stat("/incoming/new.bin"); err != nil || fi.Size() != 5 {
		t.Errorf("Stat /incoming/new.bin: %v %v", fi, err)
	}
	// Overwriting, appending, deleting and renaming are not uploads.
	wantDenied(t, "STOR over an existing file", put(fsys, "/incoming/old.txt", storFlags, 0, "evil"), access.Overwrite)
	wantDenied(t, "APPE to an existing file", put(fsys, "/incoming/old.txt", appeFlags, 0, "evil"), access.Append)
	wantDenied(t, "DELE", fsys.Remove("/incoming/old.txt"), access.Delete)
	wantDenied(t, "RNFR/RNTO", fsys.Rename("/incoming/old.txt", "/incoming/moved.txt"), access.Rename)
	fileIs(t, dir, "incoming/old.txt", "uploaded before")

	// Elsewhere anonymous has its default rights: list and retrieve, no upload.
	if _, err := fsys.ReadDir("/"); err != nil {
		t.Errorf("LIST /: %v", err)
	}
	if s, err := get(fsys, "/pub/file.txt"); err != nil || s != "public" {
		t.Errorf("RETR /pub/file.txt: %q %v", s, err)
	}
	wantDenied(t, "STOR into /pub", put(fsys, "/pub/new.txt", storFlags, 0, "x"), access.Upload)
	if _, err := os.Stat(filepath.Join(dir, "pub/new.txt")); !os.IsNotExist(err) {
		t.Errorf("a refused upload left a file: %v", err)
	}
	wantDenied(t, "MKD in /pub", fsys.Mkdir("/pub/d", 0), access.Mkdir)
}

// TestUploadNewFilesOnly is the user with deny = ["delete", "rename", "overwrite"].
func TestUploadNewFilesOnly(t *testing.T) {
	pol := session(t, access.Input{Rules: []access.RuleConfig{
		{Path: "/**", Deny: []string{"delete", "rename", "overwrite"}},
	}}, access.User{Name: "guest", Kind: access.Virtual})
	fsys, dir := policyRoot(t, pol)

	if err := put(fsys, "/pub/new.txt", storFlags, 0, "new"); err != nil {
		t.Fatalf("STOR of a new file: %v", err)
	}
	wantDenied(t, "STOR over it", put(fsys, "/pub/new.txt", storFlags, 0, "replaced"), access.Overwrite)
	wantDenied(t, "Create over it", func() error { _, err := fsys.Create("/pub/new.txt"); return err }(), access.Overwrite)
	wantDenied(t, "OpenFile O_RDWR", func() error { _, err := fsys.OpenFile("/pub/new.txt", os.O_RDWR, 0); return err }(), access.Overwrite)
	wantDenied(t, "REST 1 + STOR (below the end)", put(fsys, "/pub/new.txt", restStorFlags, 1, "X"), access.Overwrite)
	fileIs(t, dir, "pub/new.txt", "new")
	// Appending is its own verb, not denied here; so is resuming at the end (REST = size).
	if err := put(fsys, "/pub/new.txt", appeFlags, 0, "+appe"); err != nil {
		t.Errorf("APPE: %v", err)
	}
	if err := put(fsys, "/pub/new.txt", restStorFlags, 8, "+rest"); err != nil {
		t.Errorf("REST at the end + STOR: %v", err)
	}
	fileIs(t, dir, "pub/new.txt", "new+appe+rest")
	// APPE of a new file is an upload.
	if err := put(fsys, "/pub/appended.txt", appeFlags, 0, "a"); err != nil {
		t.Errorf("APPE creating a file: %v", err)
	}

	wantDenied(t, "DELE", fsys.Remove("/pub/file.txt"), access.Delete)
	wantDenied(t, "RNTO", fsys.Rename("/pub/file.txt", "/pub/renamed.txt"), access.Rename)
	fileIs(t, dir, "pub/file.txt", "public")
	// Directories are not covered by the denial.
	must(t, fsys.Mkdir("/pub/d", 0))
	must(t, fsys.RemoveDir("/pub/d"))
}

// TestRenameOverwrite: renaming onto an existing name needs overwrite there, enforced by the
// kernel (RENAME_NOREPLACE), not by a stat before the rename.
func TestRenameOverwrite(t *testing.T) {
	pol := session(t, access.Input{Rules: []access.RuleConfig{
		{Path: "/pub/**", Deny: []string{"overwrite"}},
	}}, access.User{Name: "u", Kind: access.Virtual})
	fsys, dir := policyRoot(t, pol)
	wantDenied(t, "rename onto an existing file", fsys.Rename("/pub/sub/deep.txt", "/pub/file.txt"), access.Overwrite)
	fileIs(t, dir, "pub/file.txt", "public")
	fileIs(t, dir, "pub/sub/deep.txt", "deep")
	must(t, fsys.Rename("/pub/sub/deep.txt", "/pub/moved.txt"))
	fileIs(t, dir, "pub/moved.txt", "deep")
	// Outside /pub overwrite is allowed, and the rename replaces.
	must(t, fsys.Rename("/pub/moved.txt", "/incoming/old.txt"))
	fileIs(t, dir, "incoming/old.txt", "deep")
}

func TestRemoveVerbs(t *testing.T) {
	files := session(t, access.Input{Rules: []access.RuleConfig{{Path: "/**", Allow: []string{"delete"}}}},
		access.User{Name: "u", Kind: access.Virtual})
	fsys, dir := policyRoot(t, files)
	must(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755))
	wantDenied(t, "Remove of a directory with delete only", fsys.Remove("/empty"), access.Rmdir)
	wantDenied(t, "RMD with delete only", fsys.RemoveDir("/empty"), access.Rmdir)
	must(t, fsys.Remove("/pub/file.txt"))

	dirs := session(t, access.Input{Rules: []access.RuleConfig{{Path: "/**", Allow: []string{"rmdir"}}}},
		access.User{Name: "u", Kind: access.Virtual})
	fsys, dir = policyRoot(t, dirs)
	must(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755))
	wantDenied(t, "DELE with rmdir only", fsys.Remove("/pub/file.txt"), access.Delete)
	fileIs(t, dir, "pub/file.txt", "public")
	must(t, fsys.Remove("/empty"))
	wantDenied(t, "RemoveAll with rmdir only", fsys.RemoveAll("/pub"), access.Delete)
}

func TestMfmtAndChmod(t *testing.T) {
	pol := session(t, access.Input{Rules: []access.RuleConfig{{Path: "/pub/**", Deny: []string{"mfmt"}}}},
		access.User{Name: "u", Kind: access.Virtual})
	fsys, _ := policyRoot(t, pol)
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	wantDenied(t, "MFMT in /pub", fsys.Chtimes("/pub/file.txt", when, when), access.Mfmt)
	must(t, fsys.Chtimes("/incoming/old.txt", when, when))
	if err := fsys.Chmod("/incoming/old.txt", 0o777); !errors.Is(err, os.ErrPermission) {
		t.Errorf("Chmod under a policy: %v, want refused", err)
	}
}

// withUmask runs f with the process umask set to m (no test of this package runs in parallel).
func withUmask(m int, f func()) {
	old := unix.Umask(m)
	defer unix.Umask(old)
	f()
}

func modeOf(t *testing.T, dir, name string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, name))
	must(t, err)
	return fi.Mode().Perm()
}

// TestCreateModes: umask 077 gives 0600 files and 0700 directories, umask 002 gives 0664 and
// 0775 even though the process umask (022) would take the group write bit, and a rule's mode
// applies to files exactly.
func TestCreateModes(t *testing.T) {
	withUmask(0o022, func() {
		tests := []struct {
			umask     string
			file, dir os.FileMode
			ruleFile  os.FileMode
			name      string
		}{
			{"077", 0o600, 0o700, 0o640, "077"},
			{"002", 0o664, 0o775, 0o640, "002"},
			{"", 0o644, 0o755, 0o640, "default"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				pol := session(t, access.Input{Umask: tt.umask, Rules: []access.RuleConfig{
					{Path: "/pub/**", Mode: "0640"},
				}}, access.User{Name: "u", Kind: access.Virtual})
				fsys, dir := policyRoot(t, pol)
				must(t, put(fsys, "/stor.bin", storFlags, 0, "x"))
				must(t, put(fsys, "/appe.bin", appeFlags, 0, "x"))
				f, err := fsys.Create("/create.bin")
				must(t, err)
				must(t, f.Close())
				must(t, fsys.Mkdir("/dir", 0o777))
				must(t, fsys.MkdirAll("/all/a/b", 0o777))
				must(t, put(fsys, "/pub/ruled.bin", storFlags, 0, "x"))
				must(t, fsys.Mkdir("/pub/ruled-dir", 0o777))
				for name, want := range map[string]os.FileMode{
					"stor.bin": tt.file, "appe.bin": tt.file, "create.bin": tt.file,
					"dir": tt.dir, "all": tt.dir, "all/a": tt.dir, "all/a/b": tt.dir,
					"pub/ruled.bin": tt.ruleFile, "pub/ruled-dir": tt.dir,
				} {
					if got := modeOf(t, dir, name); got != want {
						t.Errorf("%s: mode %04o, want %04o", name, got, want)
					}
				}
				// Overwriting keeps the existing file's mode.
				must(t, os.Chmod(filepath.Join(dir, "pub/file.txt"), 0o604))
				must(t, put(fsys, "/pub/file.txt", storFlags, 0, "new content"))
				if got := modeOf(t, dir, "pub/file.txt"); got != 0o604 {
					t.Errorf("overwritten file: mode %04o, want 0604 kept", got)
				}
				fileIs(t, dir, "pub/file.txt", "new content")
			})
		}
	})
}

// otherGroup returns a group id the process may give its files, other than its own: any id as
// root, else a supplementary group.
func otherGroup(t *testing.T) int {
	if os.Geteuid() == 0 {
		return 4242
	}
	groups, _ := os.Getgroups()
	for _, g := range groups {
		if g != os.Getegid() {
			return g
		}
	}
	t.Skip("needs root or a supplementary group to give new files a group")
	return -1
}

func gidOf(t *testing.T, dir, name string) int {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, name))
	must(t, err)
	return int(fi.Sys().(*syscall.Stat_t).Gid)
}

func TestCreateGroup(t *testing.T) {
	gid := otherGroup(t)
	pol := session(t, access.Input{Rules: []access.RuleConfig{
		{Path: "/incoming/**", Mode: "0640", Group: strconv.Itoa(gid)},
	}}, access.User{Name: "u", Kind: access.Virtual})
	fsys, dir := policyRoot(t, pol)
	must(t, put(fsys, "/incoming/f", storFlags, 0, "x"))
	must(t, fsys.Mkdir("/incoming/d", 0))
	must(t, put(fsys, "/pub/f", storFlags, 0, "x"))
	for name, want := range map[string]int{"incoming/f": gid, "incoming/d": gid, "pub/f": os.Getegid()} {
		if got := gidOf(t, dir, name); got != want {
			t.Errorf("%s: group %d, want %d", name, got, want)
		}
	}
	if m := modeOf(t, dir, "incoming/f"); m != 0o640 {
		t.Errorf("incoming/f: mode %04o", m)
	}
	// Overwriting an existing file changes neither its mode nor its group.
	must(t, put(fsys, "/incoming/old.txt", storFlags, 0, "y"))
	if g := gidOf(t, dir, "incoming/old.txt"); g != os.Getegid() {
		t.Errorf("overwritten file got group %d", g)
	}
}

const groupHelperEnv = "TUNNELFTPD_DRIVER_GROUP_HELPER"

// TestCreateGroupRefused: when the session may not give the group (a process not in it), the
// upload and the MKD fail and leave nothing behind. As root it runs itself again as nobody.
func TestCreateGroupRefused(t *testing.T) {
	if dir := os.Getenv(groupHelperEnv); dir != "" {
		groupRefused(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		groupRefused(t, t.TempDir())
		return
	}
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	must(t, os.Mkdir(dir, 0o777))
	must(t, os.Chmod(dir, 0o777))
	for d := base; d != "/" && d != filepath.Dir(d); d = filepath.Dir(d) {
		if d == os.TempDir() {
			break
		}
		must(t, os.Chmod(d, 0o755))
	}
	// The test binary's own directory is private to root: run a copy nobody can execute.
	bin := filepath.Join(base, "driver.test")
	exe, err := os.ReadFile(os.Args[0])
	must(t, err)
	must(t, os.WriteFile(bin, exe, 0o755))
	cmd := exec.Command(bin, "-test.run=^TestCreateGroupRefused$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), groupHelperEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestCreateGroupRefused")) {
		t.Fatalf("helper as nobody: %v\n%s", err, out)
	}
}

func groupRefused(t *testing.T, dir string) {
	gid := 4242 // not a group of this (non-root) process
	if groups, _ := os.Getgroups(); contains(groups, gid) || os.Getegid() == gid {
		t.Skip("the process is in group 4242")
	}
	pol := session(t, access.Input{Rules: []access.RuleConfig{{Path: "/**", Group: strconv.Itoa(gid)}}},
		access.User{Name: "u", Kind: access.Virtual})
	fsys, err := New(dir, Options{Policy: pol})
	must(t, err)
	defer fsys.Close()
	err = put(fsys, "/f", storFlags, 0, "x")
	if err == nil || !strings.Contains(err.Error(), "cannot give the new file group 4242") {
		t.Errorf("STOR: %v, want the group refusal", err)
	}
	if err := fsys.Mkdir("/d", 0); err == nil {
		t.Error("MKD: allowed although the group could not be given")
	}
	entries, err := os.ReadDir(dir)
	must(t, err)
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func contains(list []int, x int) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

// TestOneDecisionPerOperation: each operation asks the policy once per path it touches, and a
// transfer asks nothing more however many bytes it moves.
func TestOneDecisionPerOperation(t *testing.T) {
	pol := &counting{Policy: tenRulePolicy(t)}
	fsys, _ := policyRoot(t, pol)
	big := strings.Repeat("x", 4<<20)
	steps := []struct {
		name string
		run  func() error
		want []string
	}{
		{"STOR new", func() error { return put(fsys, "/tmp/big.bin", storFlags, 0, big) }, []string{"/tmp/big.bin"}},
		{"RETR", func() error { _, err := get(fsys, "/tmp/big.bin"); return err }, []string{"/tmp/big.bin"}},
		{"STOR over", func() error { return put(fsys, "/tmp/big.bin", storFlags, 0, big) }, []string{"/tmp/big.bin"}},
		{"REST+STOR", func() error { return put(fsys, "/tmp/big.bin", restStorFlags, 1, "tail") }, []string{"/tmp/big.bin"}},
		{"LIST", func() error { _, err := fsys.ReadDir("/pub"); return err }, []string{"/pub"}},
		{"MKD", func() error { return fsys.Mkdir("/pub/new", 0) }, []string{"/pub/new"}},
		{"RMD", func() error { return fsys.RemoveDir("/pub/new") }, []string{"/pub/new"}},
		{"DELE", func() error { return fsys.Remove("/tmp/big.bin") }, []string{"/tmp/big.bin"}},
		{"RNTO", func() error { return fsys.Rename("/pub/file.txt", "/pub/f2.txt") }, []string{"/pub/file.txt", "/pub/f2.txt"}},
		{"MFMT", func() error { return fsys.Chtimes("/pub/f2.txt", time.Now(), time.Now()) }, []string{"/pub/f2.txt"}},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := pol.take(); strings.Join(got, ", ") != strings.Join(st.want, ", ") {
			t.Errorf("%s asked about %q, want %q", st.name, got, st.want)
		}
	}
}

// TestConfinementWithPolicy runs the escape attempts of TestConfinement through the policy's
// code paths (O_EXCL creation, checked existing opens, unlinkat, RENAME_NOREPLACE).
func TestConfinementWithPolicy(t *testing.T) {
	u := access.User{Name: "u", Kind: access.Virtual}
	t.Run("all-rights", func(t *testing.T) { confinement(t, Options{Policy: session(t, access.Input{}, u)}, false) })
	t.Run("no-overwrite", func(t *testing.T) {
		// Existing files refuse writes before they are touched; renames take RENAME_NOREPLACE.
		confinement(t, Options{Policy: session(t, access.Input{Rules: []access.RuleConfig{
			{Path: "/**", Deny: []string{"overwrite"}},
		}}, u)}, true)
	})
}

func TestReadMessageFile(t *testing.T) {
	pol := session(t, access.Input{Rules: []access.RuleConfig{
		{Path: "/incoming/**", Who: []string{"@anonymous"}, Allow: []string{"upload"}},
	}}, access.User{Name: "anonymous", Kind: access.Anonymous})
	fsys, dir := policyRoot(t, pol)
	must(t, os.WriteFile(filepath.Join(dir, "incoming/.message"), []byte("Uploads only.\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "pub/.message"), bytes.Repeat([]byte("x"), 100), 0o644))
	must(t, unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(t, os.Symlink("../outside", filepath.Join(dir, "up")))

	// Shown even where retrieve is refused: the message is the operator's.
	if b, err := fsys.ReadMessageFile("/incoming/.message", 1000); err != nil || string(b) != "Uploads only.\n" {
		t.Errorf("/incoming/.message: %q %v", b, err)
	}
	if _, err := fsys.ReadMessageFile("/pub/.message", 99); err == nil || !strings.Contains(err.Error(), "too big") {
		t.Errorf("a 100-byte file with limit 99: %v", err)
	}
	if _, err := fsys.ReadMessageFile("/pub/.message", 100); err != nil {
		t.Errorf("a 100-byte file with limit 100: %v", err)
	}
	if _, err := fsys.ReadMessageFile("/none/.message", 100); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v, want os.ErrNotExist", err)
	}
	done := make(chan error, 1)
	go func() { _, err := fsys.ReadMessageFile("/fifo", 100); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a FIFO was read as a message")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO blocked")
	}
	for _, p := range []string{"/up/x", "/../x", "/pub"} {
		if _, err := fsys.ReadMessageFile(p, 100); err == nil {
			t.Errorf("%s: read", p)
		}
	}
}
