package main

import (
	"strings"
	"testing"
)

// TestVersionFromLdflags: the version and commit that packaging/build sets
// with -ldflags -X are what the first line of "tunnelftpd version" says.
func TestVersionFromLdflags(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "1.2.3+git4.abcdef0", "abcdef0123456789"
	code, out, _ := runCmd(t, "", "version")
	if want := "tunnelftpd 1.2.3+git4.abcdef0 (commit abcdef0123456789)\n"; code != 0 || !strings.HasPrefix(out, want) {
		t.Errorf("version: exit %d, %q; want it to start with %q", code, out, want)
	}
	// go test records no VCS revision, so nothing stands in for the commit.
	commit = ""
	if _, out, _ := runCmd(t, "", "version"); !strings.HasPrefix(out, "tunnelftpd 1.2.3+git4.abcdef0\n") {
		t.Errorf("version without a commit: %q", out)
	}
}
