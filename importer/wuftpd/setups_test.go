package wuftpd

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of the setups in testdata")

// loadSetup reads one wu-ftpd setup of testdata: ftpaccess, and when present ftpusers,
// ftphosts, inetd.conf (the in.ftpd line) or xinetd.wu-ftpd, passwd and group. Files the
// ftpaccess names are read from files/ below the setup.
func loadSetup(t *testing.T, dir string) Input {
	t.Helper()
	read := func(name string) *Source {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		return &Source{Name: filepath.ToSlash(p), Data: data}
	}
	access := read("ftpaccess")
	if access == nil {
		t.Fatalf("%s has no ftpaccess", dir)
	}
	in := Input{FtpAccess: *access, FtpUsers: read("ftpusers"), FtpHosts: read("ftphosts"), Xinetd: read("xinetd.wu-ftpd")}
	if l := read("inetd.conf"); l != nil {
		for _, line := range strings.Split(string(l.Data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				in.InetdLine = line
				break
			}
		}
	}
	if pw := read("passwd"); pw != nil {
		var gr []byte
		if g := read("group"); g != nil {
			gr = g.Data
		}
		in.Accounts = ParseAccounts(pw.Data, gr)
	}
	in.ReadFile = func(p string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, "files", filepath.FromSlash(strings.TrimPrefix(p, "/"))))
	}
	return in
}

func reportText(r *Result) string {
	var b strings.Builder
	for _, f := range r.Report {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

// golden compares got with the file, or writes it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it after review):\n%s", path, diff(string(want), got))
	}
}

// diff shows the first lines that differ.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			out = append(out, "-"+a, "+"+b)
			if len(out) > 20 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// The three setups: the imported config and the report are golden files, reviewed by hand.
// Behaviour that must hold whatever the wording is checked in the tests below.
func TestSetupsGolden(t *testing.T) {
	for _, name := range []string{"company", "mirror", "tunnel"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			res, err := Import(loadSetup(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, "expected.toml"), res.TOML)
			golden(t, filepath.Join(dir, "expected.report"), reportText(res))
		})
	}
}

// The migration guide quotes the mirror setup, its config and its report: every line it quotes
// must be there, so the guide stays what the importer does.
func TestMigrationGuideQuotesTheMirror(t *testing.T) {
	guide, err := os.ReadFile("../../docs/migrating-from-wu-ftpd.md")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"toml": "expected.toml", "text": "expected.report", "": "ftpaccess"}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	blocks := 0
	lang, in := "", false
	var want string
	for _, line := range strings.Split(string(guide), "\n") {
		if strings.HasPrefix(line, "```") {
			if in = !in; in {
				lang = strings.TrimPrefix(line, "```")
				name, ok := files[lang]
				if !ok {
					lang = "skip"
					continue
				}
				data, err := os.ReadFile(filepath.Join("testdata", "mirror", name))
				if err != nil {
					t.Fatal(err)
				}
				want = norm(string(data))
				blocks++
			}
			continue
		}
		if in && lang != "skip" && strings.TrimSpace(line) != "" && !strings.Contains(want, norm(line)) {
			t.Errorf("the guide quotes %q, which testdata/mirror/%s does not have", line, files[lang])
		}
	}
	if blocks < 6 {
		t.Errorf("only %d quoted blocks checked", blocks)
	}
}
