package ftpcmd

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/tunnelftpd/tunnelftpd/driver"
)

func text(r *ftpserver.CommandReply) string {
	if r == nil {
		return "<library>"
	}
	return strings.Join(append([]string{strconv.Itoa(r.Code)}, r.Lines...), "|")
}

func TestReplies(t *testing.T) {
	s := New(Config{MFMT: true})
	for _, tc := range []struct{ cmd, param, want string }{
		{"STRU", "F", "200|Structure set to F (file)"},
		{"STRU", "f", "200|Structure set to F (file)"},
		{"STRU", "R", "504|Only file structure (STRU F) is supported"},
		{"STRU", "X", "501|STRU takes F, R or P"},
		{"MODE", "s", "200|Mode set to S (stream)"},
		{"MODE", "B", "504|Only stream mode (MODE S) is supported"},
		{"MODE", "", "501|MODE takes S, B or C"},
		{"ALLO", "1000", "202|No storage allocation necessary"},
		{"ALLO", "1000 R 80", "202|No storage allocation necessary"},
		{"ALLO", "lots", "501|ALLO takes a size in bytes (ALLO <size> [R <record size>])"},
		{"HELP", "retr", "214|Syntax: RETR <file>"},
		{"HELP", "PORT", "501|Unknown command PORT; HELP lists the commands served"},
		{"EPSV", "", "<library>"},
		{"EPSV", "1", "<library>"},
		{"EPSV", "2", "522|Network protocol not supported, use (1)"},
		{"EPSV", "bogus", "501|EPSV takes ALL or a network protocol number (1)"},
		{"PASV", "", "<library>"},
		{"OPTS", "UTF8 ON", "<library>"},
		{"OPTS", "MLST type;size;", "200|MLST OPTS type;size;"},
		{"OPTS", "mlst", "200|MLST OPTS "},
		{"SITE", "CHOWN 0 x", "502|SITE CHOWN is not supported (SITE HELP lists what is)"},
		{"SITE", "RMDIR x", "502|SITE RMDIR is not supported (SITE HELP lists what is)"},
		{"SITE", "help", "214|The following SITE commands are recognized:| CHMOD|Help OK"},
		{"SITE", "CHMOD 644 x", "530|Please login with USER and PASS"},
		{"SITE", "CHMOD rw x", "501|SITE CHMOD takes an octal mode and a name (SITE CHMOD 644 file)"},
		{"RETR", "x", "<library>"},
	} {
		if got := text(s.Handle(tc.cmd, tc.param, "/")); got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.cmd, tc.param, got, tc.want)
		}
	}
	// EPSV ALL: PASV, PORT, EPRT refused from then on; EPSV still works.
	if got := text(s.Handle("EPSV", "ALL", "/")); got != "200|EPSV ALL ok; only EPSV from now on" {
		t.Errorf("EPSV ALL = %q", got)
	}
	for _, c := range []string{"PASV", "PORT", "EPRT", "LPSV"} {
		if got := text(s.Handle(c, "", "/")); !strings.HasPrefix(got, "503|"+c+" is not allowed after EPSV ALL") {
			t.Errorf("%s after EPSV ALL = %q", c, got)
		}
	}
	if got := text(s.Handle("EPSV", "", "/")); got != "<library>" {
		t.Errorf("EPSV after EPSV ALL = %q", got)
	}
}

func TestFEATFollowsConfigAndFacts(t *testing.T) {
	s := New(Config{})
	got := s.Handle("FEAT", "", "/").Lines
	want := []string{"Extensions supported:", " EPSV", " MDTM", " MLSD", " MLST type*;size*;modify*;perm*;unix.mode*;unique*;", " REST STREAM", " SIZE", " TVFS", " UTF8", "End"}
	if !slices.Equal(got, want) {
		t.Errorf("FEAT = %q\nwant %q", got, want)
	}
	s = New(Config{ActiveMode: true, MFMT: true})
	s.Handle("OPTS", "MLST size;type;", "/")
	got = s.Handle("FEAT", "", "/").Lines
	if !slices.Contains(got, " EPRT") || !slices.Contains(got, " MFMT") || !slices.Contains(got, " MLST type*;size*;modify;perm;unix.mode;unique;") {
		t.Errorf("FEAT with active mode, MFMT and two facts = %q", got)
	}
	help := strings.Join(s.Handle("HELP", "", "/").Lines, "\n")
	if !strings.Contains(help, "PORT") {
		t.Errorf("HELP with active mode lacks PORT: %s", help)
	}
	if help := strings.Join(New(Config{}).Handle("HELP", "", "/").Lines, "\n"); strings.Contains(help, "PORT") || strings.Contains(help, "MFMT") || !strings.Contains(help, "STRU") {
		t.Errorf("HELP without active mode and MFMT: %s", help)
	}
}

func TestFactsReachTheDriver(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := driver.New(dir, driver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	s := New(Config{})
	s.Handle("OPTS", "MLST size;", "/") // before login
	s.SetDriver(fs)
	if out, _ := fs.List("MLST", "/", "f"); string(out) != "size=3; f\r\n" {
		t.Errorf("MLST after OPTS MLST size; before login = %q", out)
	}
	s.Handle("OPTS", "MLST type;", "/") // after login
	if out, _ := fs.List("MLST", "/", "f"); string(out) != "type=file; f\r\n" {
		t.Errorf("MLST after OPTS MLST type; = %q", out)
	}
}

func TestSiteChmod(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "my file")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fs, err := driver.New(dir, driver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	s := New(Config{})
	s.SetDriver(fs)
	if got := text(s.Handle("SITE", "CHMOD 4600 my file", "/sub")); got != "200|SITE CHMOD command successful" {
		t.Fatalf("SITE CHMOD = %q", got)
	}
	if fi, _ := os.Stat(p); fi.Mode() != 0o600 {
		t.Errorf("mode after SITE CHMOD 4600: %v, want 0600 (no setuid)", fi.Mode())
	}
	if got := text(s.Handle("SITE", "CHMOD 644 /nosuch", "/")); got != "550|/nosuch: no such file" {
		t.Errorf("SITE CHMOD of a missing file = %q", got)
	}
	if got := text(s.Handle("SITE", "CHMOD 700 /", "/")); got != "550|/: the root directory cannot be changed" {
		t.Errorf("SITE CHMOD of the root = %q", got)
	}

	ro, err := driver.New(dir, driver.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	s = New(Config{})
	s.SetDriver(ro)
	if got := text(s.Handle("SITE", "CHMOD 666 sub/my file", "/")); got != "550|/sub/my file: permission denied (read-only account)" {
		t.Errorf("read-only SITE CHMOD = %q", got)
	}
}
