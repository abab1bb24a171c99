package server

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Conformance over a real FTP connection (issue 12): each test fails
// without the change it names.

// TestFEATListsWhatWorks: FEAT lists exactly what this configuration serves,
// in RFC 2389 form, MLST with its facts (RFC 3659 7.8), no EPRT (active mode
// is off). Guards: ftpcmd's FEAT through the library's command hook.
func TestFEATListsWhatWorks(t *testing.T) {
	ts := startServer(t, 1, nil)
	rc := dialRaw(t, ts.Addr)
	msg := rc.Expect(211, "FEAT") // before login too
	got := strings.Split(msg, "\n")
	want := []string{"211-Extensions supported:", " EPSV", " MDTM", " MFMT", " MLSD",
		" MLST type*;size*;modify*;perm*;unix.mode*;unique*;", " REST STREAM", " SIZE", " TVFS", " UTF8", "211 End"}
	if !slices.Equal(got, want) {
		t.Errorf("FEAT =\n%s\nwant\n%s", msg, strings.Join(want, "\n"))
	}
	rc.Login(testUser, testPassword)
	rc.Expect(200, "OPTS MLST type;modify;")
	if msg := rc.Expect(211, "FEAT"); !strings.Contains(msg, "\n MLST type*;size;modify*;perm;unix.mode;unique;\n") {
		t.Errorf("FEAT after OPTS MLST type;modify; =\n%s", msg)
	}
}

// TestRFC959Minimum: STRU, MODE, TYPE forms, ALLO, HELP and the X* aliases.
// Guards: ftpcmd (STRU, MODE, ALLO, HELP) and the library's XCUP.
func TestRFC959Minimum(t *testing.T) {
	ts := startServer(t, 1, nil)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	for _, tc := range []struct {
		cmd  string
		code int
	}{
		{"STRU F", 200}, {"STRU R", 504}, {"STRU P", 504},
		{"MODE S", 200}, {"MODE s", 200}, {"MODE B", 504}, {"MODE C", 504},
		{"TYPE A N", 200}, {"TYPE L 8", 200}, {"TYPE I", 200}, {"TYPE A", 200}, {"TYPE E", 504},
		{"ALLO 1000", 202}, {"ALLO 1000 R 80", 202}, {"ALLO x", 501},
		{"HELP RETR", 214}, {"HELP bogus", 501},
		{"XMKD sub", 257}, {"XCWD sub", 250}, {"XPWD", 257}, {"XCUP", 250}, {"XRMD sub", 250},
	} {
		if code, msg := rc.Cmd("%s", tc.cmd); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.cmd, code, msg, tc.code)
		}
	}
	help := rc.Expect(214, "HELP")
	for _, c := range []string{"RETR", "STOR", "MLSD", "STRU", "XCUP", "SITE"} {
		if !strings.Contains(help, " "+c) {
			t.Errorf("HELP lacks %s:\n%s", c, help)
		}
	}
	if strings.Contains(help, "PORT") || strings.Contains(help, "EPRT") {
		t.Errorf("HELP offers active mode:\n%s", help)
	}
	rc.Expect(257, "PWD")
}

// TestSTATServerAndPath: STAT names the server's address; STAT <path> lists
// over the control connection in ls -l shape. Guards: the library's STAT
// address fix and the driver's lister for STAT.
func TestSTATServerAndPath(t *testing.T) {
	ts := startServer(t, 1, nil)
	os.WriteFile(filepath.Join(ts.Root, "f.txt"), []byte("12345"), 0o644)
	os.Mkdir(filepath.Join(ts.Root, "d"), 0o755)
	os.WriteFile(filepath.Join(ts.Root, "d", "in d.txt"), []byte("1"), 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	if msg := rc.Expect(211, "STAT"); !strings.Contains(msg, "Connected to "+ts.Addr+" from 127.0.0.1:") {
		t.Errorf("STAT =\n%s", msg)
	}
	msg := rc.Expect(213, "STAT f.txt")
	if !regexp.MustCompile(`^213-Status of f.txt:\n -rw-r--r-- +1 +\d+ +\d+ +5 \w{3} [ \d]\d \d\d:\d\d f.txt\n213 End of status$`).MatchString(msg) {
		t.Errorf("STAT f.txt =\n%s", msg)
	}
	// A directory's entries under their bare names (library: " %s" before each).
	if msg := rc.Expect(213, "STAT d"); !regexp.MustCompile(`\n -rw-r--r-- .*\d in d\.txt\n`).MatchString(msg) || strings.Contains(msg, "%s") {
		t.Errorf("STAT d =\n%s", msg)
	}
	if code, msg := rc.Cmd("STAT nosuch"); code != 450 || msg != "450 /nosuch: no such file" {
		t.Errorf("STAT nosuch: %d %s", code, msg)
	}
}

// TestEPSVAll: EPSV ALL gets 200 and no listener; PASV and PORT are refused
// afterwards; EPSV transfers still work (RFC 2428 4). Guards: ftpcmd's EPSV.
func TestEPSVAll(t *testing.T) {
	ts := startServer(t, 1, nil)
	os.WriteFile(filepath.Join(ts.Root, "f"), []byte("data"), 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	rc.Expect(200, "EPSV ALL")
	if busy := ts.PassivePortsBusy(); busy != 0 {
		t.Errorf("EPSV ALL bound %d passive ports", busy)
	}
	for _, c := range []string{"PASV", "PORT 127,0,0,1,4,1", "EPRT |1|127.0.0.1|1025|"} {
		if code, msg := rc.Cmd("%s", c); code != 503 {
			t.Errorf("%s after EPSV ALL: %d %s, want 503", c, code, msg)
		}
	}
	if got := rc.Retr("f"); string(got) != "data" {
		t.Errorf("RETR over EPSV after EPSV ALL: %q", got)
	}
	rc.Expect(522, "EPSV 2")
}

// TestDELERefusesDirectories: DELE is for files (RMD removes directories).
// Guards: the driver's Remove.
func TestDELERefusesDirectories(t *testing.T) {
	ts := startServer(t, 1, nil)
	os.Mkdir(filepath.Join(ts.Root, "sub"), 0o755)
	os.WriteFile(filepath.Join(ts.Root, "f"), nil, 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	if code, msg := rc.Cmd("DELE sub"); code != 550 || msg != "550 /sub: is a directory" {
		t.Errorf("DELE sub: %d %s", code, msg)
	}
	if _, err := os.Stat(filepath.Join(ts.Root, "sub")); err != nil {
		t.Errorf("DELE removed the directory: %v", err)
	}
	rc.Expect(250, "DELE f")
	rc.Expect(250, "RMD sub")
}

// TestQuoteDoubling: MKD and PWD double a '"' in names (RFC 959 appendix II).
func TestQuoteDoubling(t *testing.T) {
	ts := startServer(t, 1, nil)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	if msg := rc.Expect(257, `MKD say "hi"`); !strings.Contains(msg, `"/say ""hi"""`) {
		t.Errorf("MKD reply %q", msg)
	}
	rc.Expect(250, `CWD say "hi"`)
	if msg := rc.Expect(257, "PWD"); !strings.HasPrefix(msg, `257 "/say ""hi""" `) {
		t.Errorf("PWD reply %q", msg)
	}
}

// TestErrorRepliesArePlain: failures name the FTP path in plain words: no
// syscall names, host paths or Go error chains. Guards: driver.Error and the
// library's ClientMessageError.
func TestErrorRepliesArePlain(t *testing.T) {
	ts := startServer(t, 1, nil)
	os.WriteFile(filepath.Join(ts.RORoot, "r.txt"), []byte("x"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(ts.Root, "out"))
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	for _, tc := range []struct {
		cmd  string
		want string
	}{
		{"RETR nosuch", "550 /nosuch: no such file"},
		{"RETR out", "550 /out: no such file"},
		{"SIZE nosuch", "550 /nosuch: no such file"},
		{"MDTM nosuch", "550 /nosuch: no such file"},
		{"CWD nosuch", "550 /nosuch: no such file"},
		{"DELE nosuch", "550 /nosuch: no such file"},
		{"RNFR nosuch", "550 /nosuch: no such file"},
		{"MLST nosuch", "550 /nosuch: no such file"},
		{"RMD nosuch", "550 /nosuch: no such file"},
		{"MFMT 20200101000000 nosuch", "550 /nosuch: no such file"},
		{"LIST nosuch", "450 /nosuch: no such file"},
		{"NLST *.none", "450 /*.none: no such file"},
		{"MLSD nosuch", "550 /nosuch: no such file"},
	} {
		// Transfers fail before any data connection: no EPSV needed.
		if _, msg := rc.Cmd("%s", tc.cmd); msg != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, msg, tc.want)
		}
	}
	rc.Expect(257, "MKD d")
	if _, msg := rc.Cmd("MKD d"); msg != "550 /d: already exists" {
		t.Errorf("MKD of an existing directory: %q", msg)
	}
	ro := dialRaw(t, ts.Addr)
	ro.Login(roUser, testPassword)
	if _, msg := ro.Cmd("STOR new.txt"); msg != "550 /new.txt: permission denied (read-only account)" {
		t.Errorf("read-only STOR: %q", msg)
	}
	if _, msg := ro.Cmd("DELE r.txt"); msg != "550 /r.txt: permission denied (read-only account)" {
		t.Errorf("read-only DELE: %q", msg)
	}
	// Each refused or failed command is logged once, naming the user, the
	// command, the reply the client got (with the FTP path) and the detail.
	logs := ts.Logs.String()
	refused := regexp.MustCompile(`(?m)^.*msg="Command failed".*command=STOR.*reply="/new\.txt: permission denied \(read-only account\)".*user=reader.*$`)
	if n := len(refused.FindAllString(logs, -1)); n != 1 {
		t.Errorf("the refused STOR is logged %d times (want once, with user, command, reply):\n%s", n, logs)
	}
}

// TestListingsOverFTP: LIST in ls -l shape with links as their targets and
// bad links left out, wildcards in NLST and LIST, MLSD facts, MLST echoing
// the path, OPTS MLST. Guards: the driver's lister through the library hook.
func TestListingsOverFTP(t *testing.T) {
	ts := startServer(t, 1, nil)
	os.WriteFile(filepath.Join(ts.Root, "target.bin"), make([]byte, 1000), 0o644)
	os.WriteFile(filepath.Join(ts.Root, "a b.csv"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(ts.Root, "c.csv"), []byte("y"), 0o644)
	os.Symlink("target.bin", filepath.Join(ts.Root, "link"))
	os.Symlink("nowhere", filepath.Join(ts.Root, "dangling"))
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)

	list := rc.List("LIST", "-la")
	if !regexp.MustCompile(`(?m)^-rw-r--r-- +1 +\d+ +\d+ +1000 \w{3} [ \d]\d \d\d:\d\d link\r$`).MatchString(list) {
		t.Errorf("LIST does not show link as its target:\n%s", list)
	}
	if strings.Contains(list, "dangling") || strings.Contains(list, "Lrwx") {
		t.Errorf("LIST:\n%s", list)
	}
	if got := rc.List("NLST", "*.csv"); got != "a b.csv\r\nc.csv\r\n" && got != "c.csv\r\na b.csv\r\n" {
		t.Errorf("NLST *.csv = %q", got)
	}
	if got := rc.List("LIST", "a *"); !strings.HasSuffix(got, " a b.csv\r\n") || strings.Count(got, "\r\n") != 1 {
		t.Errorf("LIST 'a *' = %q", got)
	}
	mlsd := rc.List("MLSD", "")
	if !strings.HasPrefix(mlsd, "type=cdir;") || !strings.Contains(mlsd, "type=file;size=1000;") || !strings.Contains(mlsd, "perm=adfrw;") && os.Geteuid() == 0 {
		t.Errorf("MLSD:\n%s", mlsd)
	}
	if msg := rc.Expect(250, "MLST link"); !regexp.MustCompile(`^250-Listing link\n type=file;size=1000;modify=\d{14};perm=[a-z]*;unix.mode=0644;unique=[0-9a-f]+g[0-9a-f]+; link\n250 End$`).MatchString(msg) {
		t.Errorf("MLST link =\n%s", msg)
	}
	if msg := rc.Expect(250, "MLST"); !strings.Contains(msg, "; /\n") {
		t.Errorf("MLST of the working directory =\n%s", msg)
	}
	rc.Expect(200, "OPTS MLST size;")
	if msg := rc.Expect(250, "MLST /target.bin"); msg != "250-Listing /target.bin\n size=1000; /target.bin\n250 End" {
		t.Errorf("MLST after OPTS MLST size; =\n%s", msg)
	}
	ro := dialRaw(t, ts.Addr)
	ro.Login(roUser, testPassword)
	os.WriteFile(filepath.Join(ts.RORoot, "r.txt"), []byte("x"), 0o644)
	if msg := ro.Expect(250, "MLST r.txt"); !strings.Contains(msg, ";perm=r;") {
		t.Errorf("read-only MLST r.txt =\n%s", msg)
	}
}

// TestSiteChmod: SITE CHMOD works within the account's rights (lftp's
// mirror -R sends it after each upload); other SITE commands get 502.
// Guards: ftpcmd's SITE.
func TestSiteChmod(t *testing.T) {
	ts := startServer(t, 1, nil)
	p := filepath.Join(ts.Root, "f")
	os.WriteFile(p, nil, 0o644)
	rc := dialRaw(t, ts.Addr)
	rc.Login(testUser, testPassword)
	rc.Expect(200, "SITE CHMOD 600 f")
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after SITE CHMOD 600: %v", fi.Mode())
	}
	rc.Expect(200, "SITE CHMOD 4755 f")
	if fi, _ := os.Stat(p); fi.Mode() != 0o755 {
		t.Errorf("mode after SITE CHMOD 4755: %v, want 0755 without setuid", fi.Mode())
	}
	for _, c := range []string{"SITE CHOWN 0 f", "SITE SYMLINK f g", "SITE RMDIR /", "SITE MKDIR x"} {
		if code, msg := rc.Cmd("%s", c); code != 502 {
			t.Errorf("%s: %d %s, want 502", c, code, msg)
		}
	}
	ro := dialRaw(t, ts.Addr)
	ro.Login(roUser, testPassword)
	os.WriteFile(filepath.Join(ts.RORoot, "r"), nil, 0o644)
	if code, msg := ro.Cmd("SITE CHMOD 777 r"); code != 550 {
		t.Errorf("read-only SITE CHMOD: %d %s", code, msg)
	}
}
