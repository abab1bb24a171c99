package packaging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// need skips the test when something it needs is missing, or fails it
// under TUNNELFTPD_E2E=1 (CI, where .ci/run installs everything).
func need(t testing.TB, ok bool, what, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("TUNNELFTPD_E2E") == "1" {
		t.Fatalf("TUNNELFTPD_E2E=1 but %s is missing: %s", what, why)
	}
	t.Skipf("SKIP: %s is missing: %s", what, why)
}

// needTool is need for a command on PATH.
func needTool(t testing.TB, name, why string) {
	t.Helper()
	_, err := exec.LookPath(name)
	need(t, err == nil, name, why)
}

// needFile is need for a file a tool or library installs.
func needFile(t testing.TB, path, pkg, why string) {
	t.Helper()
	_, err := os.Stat(path)
	need(t, err == nil, path+" (Debian package "+pkg+")", why)
}

// run runs a command with a time limit and returns its combined output; it
// fails the test when the command fails.
func run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(dir string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// Built is one run of packaging/build for both architectures.
type Built struct {
	Dir     string            // the --out directory
	Version string            // from the file names
	Deb     map[string]string // arch (amd64, arm64) -> .deb path
	RPM     map[string]string // arch (amd64, arm64) -> .rpm path
	Log     string            // what the build printed
}

var (
	buildOnce sync.Once
	built     *Built
	buildErr  error
	buildTmp  string
)

// RPMArch is rpm's name of a Go/Debian architecture.
var RPMArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}

// packages runs packaging/build once per test binary (both architectures,
// into a temporary --out directory that TestMain removes) and returns what
// it wrote.
func packages(t testing.TB) *Built {
	t.Helper()
	needTool(t, "gcc", "the amd64 build is cgo (PAM)")
	needTool(t, "aarch64-linux-gnu-gcc", "the arm64 build cross-compiles cgo (Debian package gcc-aarch64-linux-gnu)")
	needFile(t, "/usr/lib/aarch64-linux-gnu/libc.so.6", "libpam0g:arm64 (with libc6:arm64), after dpkg --add-architecture arm64", "dpkg-shlibdeps reads the arm64 libc")
	needTool(t, "dpkg-shlibdeps", "the .deb's Depends come from dpkg-shlibdeps (Debian package dpkg-dev)")
	needTool(t, "git", "the version comes from git describe")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tunnelftpd-pkgtest-")
		if err != nil {
			buildErr = err
			return
		}
		buildTmp = dir
		out, err := runErr("..", "packaging/build", "--out", dir)
		if err != nil {
			buildErr = fmt.Errorf("packaging/build: %v\n%s", err, out)
			return
		}
		b := &Built{Dir: dir, Deb: map[string]string{}, RPM: map[string]string{}, Log: out}
		debName := regexp.MustCompile(`^tunnelftpd_([^_]+)_(amd64|arm64)\.deb$`)
		rpmName := regexp.MustCompile(`^tunnelftpd-(.+)\.(x86_64|aarch64)\.rpm$`)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if m := debName.FindStringSubmatch(e.Name()); m != nil {
				b.Version = m[1]
				b.Deb[m[2]] = filepath.Join(dir, e.Name())
			}
			if m := rpmName.FindStringSubmatch(e.Name()); m != nil {
				for arch, ra := range RPMArch {
					if ra == m[2] {
						b.RPM[arch] = filepath.Join(dir, e.Name())
					}
				}
			}
		}
		built = b
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildTmp != "" {
		os.RemoveAll(buildTmp)
	}
	os.Exit(code)
}

// extract unpacks a .deb into a new temporary directory.
func extract(t testing.TB, deb string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "", "dpkg-deb", "-x", deb, dir)
	return dir
}
