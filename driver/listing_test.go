package driver

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listTree is a root with the shapes listings must get right:
//
//	root/
//	  file.txt          1000 bytes, recent
//	  old.txt           mtime 2001 (shows the year)
//	  future.txt        mtime next year (shows the year)
//	  my file.txt       a name with a space
//	  grüße.txt         UTF-8
//	  .hidden           dot file
//	  sub/a.csv, sub/b.csv, sub/c.txt
//	  link-file  -> file.txt        (inside: shown as file.txt's entry)
//	  link-sub   -> sub             (inside: shown as a directory)
//	  dangling   -> nowhere         (left out)
//	  escape     -> ../outside.txt  (leads out: left out)
//	  sub/loop   -> ..              (loop: left out)
//	  sub/self   -> .               (loop: left out)
//	  fifo                          (special: p)
//	  suid                          mode 4755
//	  sticky/                       mode 1777
func listTree(t *testing.T) (string, *Fs) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	must(t, os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	must(t, os.Mkdir(filepath.Join(root, "sticky"), 0o755))
	must(t, os.Chmod(filepath.Join(root, "sticky"), 0o777|os.ModeSticky))
	must(t, os.WriteFile(filepath.Join(base, "outside.txt"), []byte(marker), 0o644))
	write := func(name string, n int) {
		must(t, os.WriteFile(filepath.Join(root, name), make([]byte, n), 0o644))
	}
	write("file.txt", 1000)
	write("old.txt", 1)
	write("future.txt", 2)
	write("my file.txt", 3)
	write("grüße.txt", 4)
	write(".hidden", 5)
	write("sub/a.csv", 6)
	write("sub/b.csv", 7)
	write("sub/c.txt", 8)
	write("suid", 9)
	must(t, os.Chmod(filepath.Join(root, "suid"), 0o755|os.ModeSetuid))
	must(t, syscall.Mkfifo(filepath.Join(root, "fifo"), 0o600))
	for name, target := range map[string]string{
		"link-file": "file.txt", "link-sub": "sub", "dangling": "nowhere",
		"escape": "../outside.txt", "sub/loop": "..", "sub/self": ".",
	} {
		must(t, os.Symlink(target, filepath.Join(root, name)))
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(t, os.Chtimes(filepath.Join(root, "old.txt"), old, old))
	future := time.Now().AddDate(1, 0, 0)
	must(t, os.Chtimes(filepath.Join(root, "future.txt"), future, future))
	fsys, err := New(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return root, fsys
}

// lines splits a listing, checking that every line ends in CRLF.
func lines(t *testing.T, b []byte) []string {
	t.Helper()
	s := string(b)
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "\r\n") {
		t.Fatalf("listing does not end in CRLF: %q", s)
	}
	out := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
	for _, l := range out {
		if strings.ContainsAny(l, "\r\n") {
			t.Fatalf("stray CR or LF in line %q", l)
		}
	}
	return out
}

// lsLine matches one `ls -l` line: mode, links, owner, group, size, date, name.
var lsLine = regexp.MustCompile(`^([-dlpscb][-rwxsStT]{9}) +(\d+) +(\d+) +(\d+) +(\d+|\d+, +\d+) ((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d (?:\d\d:\d\d| \d{4})) (.+)$`)

// byName parses LIST lines into name → fields.
func byName(t *testing.T, ls []string) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	for _, l := range ls {
		f := lsLine.FindStringSubmatch(l)
		if f == nil {
			t.Fatalf("not an ls -l line: %q", l)
		}
		m[f[7]] = f[1:7]
	}
	return m
}

func TestListShapeAndLinks(t *testing.T) {
	root, fsys := listTree(t)
	out, err := fsys.List("LIST", "/", "")
	if err != nil {
		t.Fatal(err)
	}
	got := byName(t, lines(t, out))
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{".hidden", "fifo", "file.txt", "future.txt", "grüße.txt", "link-file", "link-sub", "my file.txt", "old.txt", "sticky", "sub", "suid"}
	if !slices.Equal(names, want) {
		t.Fatalf("LIST names %q, want %q (dangling and escaping links left out)", names, want)
	}
	check := func(name, mode, size string) {
		t.Helper()
		if f := got[name]; f[0] != mode || f[4] != size {
			t.Errorf("%s: mode %s size %s, want %s %s", name, f[0], f[4], mode, size)
		}
	}
	check("file.txt", "-rw-r--r--", "1000")
	check("link-file", "-rw-r--r--", "1000") // the target's entry
	check("fifo", "prw-------", "0")
	check("suid", "-rwsr-xr-x", "9")
	check("sticky", "drwxrwxrwt", got["sticky"][4])
	if got["link-sub"][0][0] != 'd' {
		t.Errorf("link-sub: %v, want a directory", got["link-sub"])
	}
	if d := got["old.txt"][5]; d != "Feb  3  2001" {
		t.Errorf("old.txt dated %q, want the year (Feb  3  2001)", d)
	}
	if d := got["future.txt"][5]; !regexp.MustCompile(` \d{4}$`).MatchString(d) {
		t.Errorf("future.txt dated %q, want the year", d)
	}
	if d := got["file.txt"][5]; !regexp.MustCompile(`\d\d:\d\d$`).MatchString(d) {
		t.Errorf("file.txt dated %q, want the time of day", d)
	}
	st, _ := os.Stat(filepath.Join(root, "file.txt"))
	sys := st.Sys().(*syscall.Stat_t)
	if f := got["file.txt"]; f[2] != strconv.FormatUint(uint64(sys.Uid), 10) || f[3] != strconv.FormatUint(uint64(sys.Gid), 10) {
		t.Errorf("owner/group %s %s, want %d %d", f[2], f[3], sys.Uid, sys.Gid)
	}

	// The loop links in sub are left out; the files are there.
	out, err = fsys.List("NLST", "/", "sub")
	if err != nil {
		t.Fatal(err)
	}
	if ns := sorted(lines(t, out)); !slices.Equal(ns, []string{"sub/a.csv", "sub/b.csv", "sub/c.txt"}) {
		t.Errorf("NLST sub = %q", ns)
	}
	// LIST of a directory: its entries under their bare names, however it
	// is named (jlaffaye/ftp, wget and FileZilla take the name as is).
	for _, arg := range []string{"sub", "/sub/", "link-sub"} {
		out, err = fsys.List("LIST", "/", arg)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for n := range byName(t, lines(t, out)) {
			ns = append(ns, n)
		}
		if ns = sorted(ns); !slices.Equal(ns, []string{"a.csv", "b.csv", "c.txt"}) {
			t.Errorf("LIST %s = %q, want bare names", arg, ns)
		}
	}
	// Through the directory link: same entries, under the link's path.
	out, err = fsys.List("NLST", "/", "link-sub/")
	if err != nil {
		t.Fatal(err)
	}
	if ns := sorted(lines(t, out)); !slices.Equal(ns, []string{"link-sub/a.csv", "link-sub/b.csv", "link-sub/c.txt"}) {
		t.Errorf("NLST link-sub/ = %q", ns)
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

func TestModeString(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		want string
	}{
		{0o644, "-rw-r--r--"},
		{os.ModeDir | 0o755, "drwxr-xr-x"},
		{os.ModeSymlink | 0o777, "lrwxrwxrwx"},
		{os.ModeNamedPipe | 0o600, "prw-------"},
		{os.ModeSocket | 0o755, "srwxr-xr-x"},
		{os.ModeDevice | os.ModeCharDevice | 0o666, "crw-rw-rw-"},
		{os.ModeDevice | 0o660, "brw-rw----"},
		{os.ModeSetuid | 0o755, "-rwsr-xr-x"},
		{os.ModeSetuid | 0o644, "-rwSr--r--"},
		{os.ModeSetgid | 0o750, "-rwxr-s---"},
		{os.ModeSetgid | 0o740, "-rwxr-S---"},
		{os.ModeDir | os.ModeSticky | 0o777, "drwxrwxrwt"},
		{os.ModeDir | os.ModeSticky | 0o776, "drwxrwxrwT"},
	} {
		if got := modeString(tc.mode); string(got[:]) != tc.want {
			t.Errorf("modeString(%v) = %s, want %s", tc.mode, got[:], tc.want)
		}
	}
}

func TestListWildcards(t *testing.T) {
	_, fsys := listTree(t)
	for _, tc := range []struct {
		command, cwd, arg string
		want              []string
	}{
		{"NLST", "/", "*.txt", []string{"file.txt", "future.txt", "grüße.txt", "my file.txt", "old.txt"}},
		{"NLST", "/", "sub/*.csv", []string{"sub/a.csv", "sub/b.csv"}},
		{"NLST", "/sub", "*.csv", []string{"a.csv", "b.csv"}},
		{"NLST", "/sub", "/sub/?.txt", []string{"/sub/c.txt"}},
		{"NLST", "/", "sub/[ab].csv", []string{"sub/a.csv", "sub/b.csv"}},
		{"NLST", "/", "my f*", []string{"my file.txt"}},
		{"NLST", "/", ".h*", []string{".hidden"}},                  // a leading dot matched explicitly
		{"NLST", "/", "link-*", []string{"link-file", "link-sub"}}, // dangling link not matched
		{"NLST", "/", "-la *.csv", nil},                            // no match: an error below
		{"LIST", "/", "-la sub/*.csv", []string{"sub/a.csv", "sub/b.csv"}},
		{"LIST", "/", "f*.txt", []string{"file.txt", "future.txt"}},
		{"STAT", "/", "sub/c*", []string{"sub/c.txt"}},
	} {
		out, err := fsys.List(tc.command, tc.cwd, tc.arg)
		if tc.want == nil {
			var e *Error
			if !errors.As(err, &e) || e.ClientMessage() != "/*.csv: no such file" {
				t.Errorf("%s %q: %v, want /*.csv: no such file", tc.command, tc.arg, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q in %s: %v", tc.command, tc.arg, tc.cwd, err)
			continue
		}
		var names []string
		if tc.command == "NLST" {
			names = lines(t, out)
		} else {
			for n := range byName(t, lines(t, out)) {
				names = append(names, n)
			}
		}
		if got := sorted(names); !slices.Equal(got, tc.want) {
			t.Errorf("%s %q in %s = %q, want %q", tc.command, tc.arg, tc.cwd, got, tc.want)
		}
	}

	// A literal name wins over the pattern it looks like.
	root := fsys.root.Name()
	must(t, os.WriteFile(filepath.Join(root, "a*b"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "axb"), nil, 0o644))
	if out, err := fsys.List("NLST", "/", "a*b"); err != nil || string(out) != "a*b\r\n" {
		t.Errorf("NLST a*b = %q, %v; want the literal file", out, err)
	}
	// A bad pattern says so.
	if _, err := fsys.List("NLST", "/", "[x"); err == nil || !strings.Contains(err.(*Error).ClientMessage(), "invalid wildcard") {
		t.Errorf("NLST [x: %v", err)
	}
	// Wildcards only in the last component.
	if _, err := fsys.List("NLST", "/", "s*/a.csv"); err == nil {
		t.Errorf("NLST s*/a.csv matched")
	}
}

func TestListWildcardCap(t *testing.T) {
	dir := t.TempDir()
	for i := range maxMatches + 1 {
		must(t, os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), nil, 0o644))
	}
	fsys, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	_, err = fsys.List("NLST", "/", "f*")
	if !errors.Is(err, errTooMany) {
		t.Fatalf("NLST f* over %d files: %v, want errTooMany", maxMatches+1, err)
	}
	if out, err := fsys.List("NLST", "/", "f1*"); err != nil || len(lines(t, out)) != 1112 {
		t.Fatalf("NLST f1*: %d names, %v", len(lines(t, out)), err)
	}
}

// facts parses an MLSx line into its facts and name.
func facts(t *testing.T, line string) (map[string]string, string) {
	t.Helper()
	fs, name, ok := strings.Cut(line, "; ")
	if !ok || strings.HasPrefix(line, " ") {
		t.Fatalf("not an MLSx entry: %q", line)
	}
	m := map[string]string{}
	for _, f := range strings.Split(fs, ";") {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("bad fact %q in %q", f, line)
		}
		m[k] = v
	}
	return m, name
}

func TestMLSDFacts(t *testing.T) {
	_, fsys := listTree(t)
	out, err := fsys.List("MLSD", "/", "sub")
	if err != nil {
		t.Fatal(err)
	}
	ls := lines(t, out)
	f0, n0 := facts(t, ls[0])
	f1, n1 := facts(t, ls[1])
	if f0["type"] != "cdir" || n0 != "." || f1["type"] != "pdir" || n1 != ".." {
		t.Fatalf("first entries %q %q, want cdir . and pdir ..", ls[0], ls[1])
	}
	out, err = fsys.List("MLSD", "/", "")
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]map[string]string{}
	for i, l := range lines(t, out) {
		f, n := facts(t, l)
		if i == 0 && (f["type"] != "cdir" || n != ".") {
			t.Fatalf("root listing starts %q", l)
		}
		if f["type"] == "pdir" {
			t.Fatalf("root listing has a pdir: %q", l)
		}
		entries[n] = f
	}
	for _, gone := range []string{"dangling", "escape"} {
		if _, ok := entries[gone]; ok {
			t.Errorf("MLSD lists %s", gone)
		}
	}
	lf, f := entries["link-file"], entries["file.txt"]
	if lf["type"] != "file" || lf["size"] != "1000" || lf["unique"] != f["unique"] || lf["modify"] != f["modify"] {
		t.Errorf("link-file facts %v, want file.txt's %v", lf, f)
	}
	if entries["link-sub"]["type"] != "dir" || entries["link-sub"]["unique"] != entries["sub"]["unique"] {
		t.Errorf("link-sub facts %v", entries["link-sub"])
	}
	if _, ok := entries["sub"]["size"]; ok {
		t.Errorf("a directory has a size fact: %v", entries["sub"])
	}
	if entries["fifo"]["type"] != "OS.unix=fifo" {
		t.Errorf("fifo type %q", entries["fifo"]["type"])
	}
	if m := entries["suid"]["unix.mode"]; m != "04755" {
		t.Errorf("suid unix.mode %q", m)
	}
	if m := entries["file.txt"]["unix.mode"]; m != "0644" {
		t.Errorf("file.txt unix.mode %q", m)
	}
	if mod := entries["old.txt"]["modify"]; mod != "20010203040506" {
		t.Errorf("old.txt modify %q", mod)
	}
	// Rights: as this process (root in CI, or the developer) may.
	if os.Geteuid() == 0 {
		if p := entries["file.txt"]["perm"]; p != "adfrw" {
			t.Errorf("file.txt perm %q, want adfrw", p)
		}
		if p := entries["sub"]["perm"]; p != "cdeflmp" {
			t.Errorf("sub perm %q, want cdeflmp", p)
		}
	}
	if p := entries["fifo"]["perm"]; strings.ContainsAny(p, "raw") {
		t.Errorf("fifo perm %q offers transfers", p)
	}

	// MLSD of a file is refused.
	if _, err := fsys.List("MLSD", "/", "file.txt"); err == nil || err.(*Error).ClientMessage() != "/file.txt: not a directory" {
		t.Errorf("MLSD file.txt: %v", err)
	}
}

func TestMLSTEchoesPathAndSelectsFacts(t *testing.T) {
	_, fsys := listTree(t)
	for _, tc := range []struct{ cwd, arg, name, typ string }{
		{"/", "", "/", "dir"},
		{"/sub", "", "/sub", "dir"},
		{"/", "/", "/", "dir"},
		{"/", "sub/../file.txt", "sub/../file.txt", "file"},
		{"/sub", "a.csv", "a.csv", "file"},
		{"/", "link-file", "link-file", "file"},
		{"/", "my file.txt", "my file.txt", "file"},
	} {
		out, err := fsys.List("MLST", tc.cwd, tc.arg)
		if err != nil {
			t.Errorf("MLST %q in %s: %v", tc.arg, tc.cwd, err)
			continue
		}
		ls := lines(t, out)
		f, name := facts(t, ls[0])
		if len(ls) != 1 || name != tc.name || f["type"] != tc.typ {
			t.Errorf("MLST %q in %s = %q, want name %q type %s", tc.arg, tc.cwd, ls, tc.name, tc.typ)
		}
	}
	if _, err := fsys.List("MLST", "/", "dangling"); err == nil || err.(*Error).ClientMessage() != "/dangling: no such file" {
		t.Errorf("MLST dangling: %v", err)
	}
	if _, err := fsys.List("MLST", "/", "escape"); err == nil || err.(*Error).ClientMessage() != "/escape: no such file" {
		t.Errorf("MLST escape: %v", err)
	}
	// The root can be neither removed nor renamed.
	out, _ := fsys.List("MLST", "/", "/")
	if f, _ := facts(t, lines(t, out)[0]); strings.ContainsAny(f["perm"], "df") {
		t.Errorf("root perm %q", f["perm"])
	}

	fsys.SetFacts(ParseFacts("TYPE;Size;bogus;"))
	out, err := fsys.List("MLST", "/", "file.txt")
	if err != nil || string(out) != "type=file;size=1000; file.txt\r\n" {
		t.Errorf("MLST with type;size selected = %q, %v", out, err)
	}
	fsys.SetFacts(0)
	if out, _ := fsys.List("MLST", "/", "file.txt"); string(out) != " file.txt\r\n" {
		t.Errorf("MLST with no facts = %q", out)
	}
}

func TestFactsStrings(t *testing.T) {
	if got := AllFacts.Feature(); got != "type*;size*;modify*;perm*;unix.mode*;unique*;" {
		t.Errorf("Feature = %q", got)
	}
	f := ParseFacts("modify;type;")
	if f.String() != "type;modify;" || f.Feature() != "type*;size;modify*;perm;unix.mode;unique;" {
		t.Errorf("ParseFacts(modify;type;) = %q / %q", f.String(), f.Feature())
	}
	if ParseFacts("") != 0 || Facts(0).String() != "" {
		t.Errorf("empty selection")
	}
}

func TestPermReadOnlyAndOtherUsers(t *testing.T) {
	root, _ := listTree(t)
	ro, err := New(root, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	out, err := ro.List("MLSD", "/", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines(t, out) {
		f, n := facts(t, l)
		if strings.ContainsAny(f["perm"], "acdfmpw") {
			t.Errorf("read-only session: %s perm %q", n, f["perm"])
		}
	}

	// Another user's view, computed: mode bits decide.
	st := statData{uid: 1, gid: 1}
	other := cred{uid: 2, gid: 3, groups: []uint32{1}}
	if !other.may(0o640, st, mayRead) || other.may(0o640, st, mayWrite) || other.may(0o604, st, mayRead) {
		t.Errorf("group rights wrong")
	}
	if (cred{uid: 5, gid: 5}).may(0o640, st, mayRead) {
		t.Errorf("others may read a 0640 file")
	}
	if !(cred{uid: 1}).may(0o600, st, mayRead|mayWrite) {
		t.Errorf("owner may not read/write 0600")
	}
	if (cred{}).may(0o644, st, mayExec) || !(cred{}).may(os.ModeDir, st, mayExec) {
		t.Errorf("root's execute rights wrong")
	}
	// A sticky directory: another user's file cannot be removed.
	fsys := &Fs{}
	in := dirRights{change: true, sticky: true, uid: 9}
	fi := fakeInfo{mode: 0o666, st: &syscall.Stat_t{Uid: 1, Mode: syscall.S_IFREG | 0o666}}
	if p := fsys.perm(cred{uid: 2}, fi, in, false, "/f"); p != "arw" {
		t.Errorf("sticky dir, other's file: perm %q, want arw", p)
	}
	if p := fsys.perm(cred{uid: 1}, fi, in, false, "/f"); p != "adfrw" {
		t.Errorf("sticky dir, own file: perm %q, want adfrw", p)
	}
}

type fakeInfo struct {
	mode os.FileMode
	st   *syscall.Stat_t
}

func (f fakeInfo) Name() string       { return "f" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() os.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return f.st }

func TestListErrorsArePlain(t *testing.T) {
	_, fsys := listTree(t)
	for _, tc := range []struct{ command, cwd, arg, want string }{
		{"LIST", "/", "nosuch", "/nosuch: no such file"},
		{"LIST", "/sub", "nosuch", "/sub/nosuch: no such file"},
		{"NLST", "/", "dangling", "/dangling: no such file"},
		{"STAT", "/", "escape", "/escape: no such file"},
		{"MLSD", "/", "escape/x", "/escape/x: no such file"},
	} {
		_, err := fsys.List(tc.command, tc.cwd, tc.arg)
		var e *Error
		if !errors.As(err, &e) || e.ClientMessage() != tc.want {
			t.Errorf("%s %q: %v, want %q", tc.command, tc.arg, err, tc.want)
		}
	}
}

func TestLSOptionsStripped(t *testing.T) {
	root, fsys := listTree(t)
	plain, _ := fsys.List("LIST", "/", "")
	for _, arg := range []string{"-la", "-l", "-a", "-l -a", "-lA"} {
		got, err := fsys.List("LIST", "/", arg)
		if err != nil || len(lines(t, got)) != len(lines(t, plain)) {
			t.Errorf("LIST %q: %d lines, %v; want %d", arg, len(lines(t, got)), err, len(lines(t, plain)))
		}
	}
	if got, err := fsys.List("NLST", "/", "-la sub"); err != nil || len(lines(t, got)) != 3 {
		t.Errorf("NLST -la sub = %q, %v", got, err)
	}
	must(t, os.WriteFile(filepath.Join(root, "-la"), nil, 0o644))
	if got, err := fsys.List("NLST", "/", "-la"); err != nil || string(got) != "-la\r\n" {
		t.Errorf("NLST -la with a file named -la = %q, %v", got, err)
	}
}
