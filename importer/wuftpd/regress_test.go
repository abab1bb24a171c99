package wuftpd

import (
	"regexp"
	"strings"
	"testing"
)

// The globs a path-filter becomes refuse exactly the names wu-ftpd's fn_check refused: a name
// must match the allowed regular expression and none of the disallowed ones (POSIX, as
// regcomp; the cases keep backslashes out of brackets, where Go's regexp reads them as escapes
// and POSIX as themselves). Regular expressions the importer reads only partly refuse every name.
func TestPathFilterGlobsRefuseWhatTheRegexpsRefused(t *testing.T) {
	names := []string{"report.pdf", "a b", "a~b", "-rf", ".hidden", "x-y", "UPPER_1", "tab\tx", "semi;colon", "dollar$", "back\\slash", "caret^", "core", "CORE", "a.exe", "ab", "a-", "z", "é", "[x]", "q?"}
	for _, res := range []string{
		`^[-A-Za-z0-9._]*$ ^\. ^-`,
		`^[A-Za-z0-9._-]*$ ^\.`,
		`^[^;]*$`,
		`^[a-z]+$ \.exe$ ^core$`,
		`.* [-~]$ ^[.-]`,
		`.* ^a.b [$^]`,
		`(a|b)`,
	} {
		f := parsePathFilter(&directive{Keyword: "path-filter", Args: append([]string{"guest", "/m"}, strings.Fields(res)...)})
		re := make([]*regexp.Regexp, len(f.Regexps))
		for i, s := range f.Regexps {
			re[i] = regexp.MustCompilePOSIX(s)
		}
		p := &policy{filters: []*pathFilter{f}}
		for _, n := range names {
			wu := re[0].MatchString(n)
			for _, r := range re[1:] {
				wu = wu && !r.MatchString(n)
			}
			var used []*directive
			got := p.nameOK(ctx{k: kGuest}, n, &used)
			switch {
			case got && !wu:
				t.Errorf("path-filter %s (globs %q): %q passes, wu-ftpd refused it", res, f.Fail, n)
			case !got && wu && f.Exact:
				t.Errorf("path-filter %s (globs %q, exact): %q refused, wu-ftpd allowed it", res, f.Fail, n)
			}
		}
	}
}

// Below a noretrieve directory the names a path-filter refuses have rules of their own: the
// rule for the rest of the directory keeps every verb but retrieve. (Without them "/in/**"
// took the refused names too and, as a rule allows what all of its paths allow, lost upload
// and mkdir everywhere below /in: what the company setup got on a host whose partners' homes
// no upload line reaches.)
func TestNoretrieveBelowKeepsUploadsBesidePathFilter(t *testing.T) {
	access := "class all real,guest *\nguestgroup partners\nnoretrieve relative /in\npath-filter guest /m ^[-A-Za-z0-9._]*$ ^\\. ^-\n"
	passwd := []byte("carol:x:2001:2000::/home/p/carol/./:/bin/sh\n")
	group := []byte("partners:x:2000:\n")
	res, d := importText(t, access, func(in *Input) { in.Accounts = ParseAccounts(passwd, group) })
	carol := user{names: []string{"carol", "@system", "@group:partners"}}
	all := defaultSystem &^ vMfmt
	renamed := vUpload | vOverwrite | vAppend | vMkdir | vRename
	for _, tc := range []struct {
		path string
		want verbs
	}{
		{"/in/x", all &^ vRetrieve},
		{"/in/sub/x", all &^ vRetrieve},
		{"/in/.x", all &^ vRetrieve &^ renamed},
		{"/in/sub/-x", all &^ vRetrieve &^ renamed},
		{"/in/a b", all &^ vRetrieve &^ renamed},
		{"/x", all},
		{"/sub/.x", all &^ renamed},
	} {
		d.expect(t, carol, tc.path, tc.want)
	}
	for _, line := range []int{3, 4} {
		for _, f := range findLine(res, "fa", line) {
			if f.Status != Mapped {
				t.Errorf("the rules say what wu-ftpd did, so nothing is narrowed: %s", f)
			}
		}
	}
}

// A limit message of several lines becomes a one-line full_message, which check accepts (the
// 421 that carries it is a single line).
func TestMultiLineLimitMessageJoined(t *testing.T) {
	res, _ := importText(t, "class a anonymous *\nlimit a 5 Any /msg\n", func(in *Input) {
		in.ReadFile = func(string) ([]byte, error) { return []byte("Too many users.\n\n  Try later.\n"), nil }
	})
	if !strings.Contains(res.TOML, `full_message = "Too many users. Try later."`) {
		t.Errorf("full_message not joined:\n%s", res.TOML)
	}
}
