package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// git runs git in dir with a fixed identity and fails the test on error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestVersionFromGit: packaging/version turns git describe into a package
// version, and every later build gets a version that both dpkg and rpm
// order after the earlier one (so an upgrade is an upgrade).
func TestVersionFromGit(t *testing.T) {
	needTool(t, "git", "packaging/version reads the version from git")
	needTool(t, "dpkg", "dpkg --compare-versions checks the order of versions")
	needTool(t, "rpm", "rpm --eval checks rpm's order of versions")
	script, err := filepath.Abs("version")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	commit := func(name string) string {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, dir, "add", name)
		git(t, dir, "commit", "-q", "-m", name)
		return git(t, dir, "rev-parse", "--short=12", "HEAD")
	}
	version := func() string {
		t.Helper()
		cmd := exec.Command(script)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("packaging/version: %v", err)
		}
		return strings.TrimSpace(string(out))
	}

	var seq []string
	check := func(want string) {
		t.Helper()
		if got := version(); got != want {
			t.Errorf("version = %q, want %q", got, want)
		}
		seq = append(seq, want)
	}
	h := commit("a")
	check("0.0.0+1.g" + h)
	h = commit("b")
	check("0.0.0+2.g" + h)
	git(t, dir, "tag", "v1.2.3-rc1")
	check("1.2.3~rc1")
	h = commit("c")
	check("1.2.3~rc1+1.g" + h)
	git(t, dir, "tag", "v1.2.3")
	check("1.2.3")
	git(t, dir, "tag", "unrelated-tag") // only v* tags count
	h = commit("d")
	check("1.2.3+1.g" + h)
	h = commit("e")
	check("1.2.3+2.g" + h)
	if err := os.WriteFile(filepath.Join(dir, "e"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := version(), "1.2.3+2.g"+h+".dirty"; got != want {
		t.Errorf("with an uncommitted change: %q, want %q", got, want)
	}
	// A tag that makes no valid version is an error naming it, not a
	// package that dpkg or rpm refuses.
	git(t, dir, "checkout", "-q", "--", "e")
	git(t, dir, "tag", "v9_bad")
	cmd := exec.Command(script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "version '9_bad'") {
		t.Errorf("tag v9_bad: %v, %s", err, out)
	}

	for i := 1; i < len(seq); i++ {
		if err := exec.Command("dpkg", "--compare-versions", seq[i], "gt", seq[i-1]).Run(); err != nil {
			t.Errorf("dpkg: %s is not newer than %s", seq[i], seq[i-1])
		}
		out, err := exec.Command("rpm", "--eval", `%{lua: print(rpm.vercmp("`+seq[i]+`", "`+seq[i-1]+`"))}`).Output()
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Errorf("rpm: %s is not newer than %s (%q, %v)", seq[i], seq[i-1], out, err)
		}
	}
}
