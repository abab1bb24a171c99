package testbed

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Suite is the Debian release every image is built from.
const Suite = "bookworm"

// BasePackages are in every image (debootstrap's minbase variant brings the
// rest of a minimal Debian; what a real install has and minbase lacks is
// added): a booting systemd with journald and D-Bus, an
// sshd to tunnel through, fail2ban with its journal backend and its default
// firewall, logrotate, rsyslog (installed, started only by tests that want
// syslog files), and the tools the tests run inside.
var BasePackages = []string{
	"systemd", "systemd-sysv", "dbus", "libpam-systemd",
	"openssh-server",
	"fail2ban", "python3-systemd", "python3-pyinotify", "nftables",
	"logrotate", "rsyslog",
	"procps", "iproute2", "curl", "ca-certificates", "less",
	// /etc/services, which every Debian install has: nftables resolves
	// fail2ban's "port = ssh" with it.
	"netbase",
}

// recipe changes whenever what buildImage does to a tree changes, so that
// a cached image built the old way is not used.
const recipe = "4"

// defaultCacheDir holds the images (one directory each, never booted
// directly: every bed runs on a copy-on-write layer over one) and the
// runtime directories of running beds.
const defaultCacheDir = "/var/cache/tunnelftpd-testbed"

// CacheDir is where images are kept: $TUNNELFTPD_TESTBED_CACHE, or
// /var/cache/tunnelftpd-testbed.
func CacheDir() string {
	if d := os.Getenv("TUNNELFTPD_TESTBED_CACHE"); d != "" {
		return d
	}
	return defaultCacheDir
}

// ImageKey names the image holding BasePackages plus extra: the suite, the
// architecture, the build recipe and the sorted package list, hashed.
func ImageKey(extra []string) string {
	pkgs := packageList(extra)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", Suite, runtime.GOARCH, recipe, strings.Join(pkgs, ","))
	return Suite + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// packageList is BasePackages plus extra, sorted, without duplicates.
func packageList(extra []string) []string {
	pkgs := append(slices.Clone(BasePackages), extra...)
	slices.Sort(pkgs)
	return slices.Compact(pkgs)
}

// Mirror is the Debian mirror images are built from:
// $TUNNELFTPD_TESTBED_MIRROR, else the first one apt on this machine uses
// for Suite (/etc/apt/sources.list and sources.list.d, one-line and deb822
// formats), else http://deb.debian.org/debian.
func Mirror() string {
	if m := os.Getenv("TUNNELFTPD_TESTBED_MIRROR"); m != "" {
		return m
	}
	files := []string{"/etc/apt/sources.list"}
	for _, pat := range []string{"/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if m := mirrorIn(string(b), strings.HasSuffix(f, ".sources")); m != "" {
			return m
		}
	}
	return "http://deb.debian.org/debian"
}

// mirrorIn returns the first http(s) URI of a "deb" source for Suite with
// component main in the text of a sources file (deb822 when deb822 is
// true, one-line otherwise), or "".
func mirrorIn(text string, deb822 bool) string {
	usable := func(types, uris, suites, comps []string) string {
		if !slices.Contains(types, "deb") || !slices.Contains(suites, Suite) || !slices.Contains(comps, "main") {
			return ""
		}
		for _, u := range uris {
			if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
				return strings.TrimSuffix(u, "/")
			}
		}
		return ""
	}
	if !deb822 {
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			f := strings.Fields(line)
			if len(f) > 1 && strings.HasPrefix(f[1], "[") { // [arch=… signed-by=…]
				end := slices.IndexFunc(f, func(s string) bool { return strings.HasSuffix(s, "]") })
				if end < 0 {
					continue
				}
				f = append(f[:1], f[end+1:]...)
			}
			if len(f) >= 4 {
				if m := usable(f[:1], f[1:2], f[2:3], f[3:]); m != "" {
					return m
				}
			}
		}
		return ""
	}
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r", ""), "\n\n") {
		fields := map[string][]string{}
		sc := bufio.NewScanner(strings.NewReader(stanza))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") {
				continue
			}
			if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.Fields(v)
			}
		}
		if e := fields["enabled"]; len(e) == 1 && e[0] == "no" {
			continue
		}
		if m := usable(fields["types"], fields["uris"], fields["suites"], fields["components"]); m != "" {
			return m
		}
	}
	return ""
}

// Image returns the directory of the image holding BasePackages plus
// extra, building it with debootstrap first when it is not in CacheDir.
// Concurrent callers (parallel test binaries) wait for one build. logf
// (may be nil) hears what takes time. The directory must not be written
// to: Boot runs each bed on a layer of its own over it.
func Image(ctx context.Context, extra []string, logf func(format string, args ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	cache := CacheDir()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("testbed: image cache: %w", err)
	}
	key := ImageKey(extra)
	dir := filepath.Join(cache, key)
	done := filepath.Join(dir, ".tunnelftpd-testbed-image")
	if _, err := os.Stat(done); err == nil {
		return dir, nil
	}
	unlock, err := lockFile(ctx, filepath.Join(cache, key+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(done); err == nil { // built while we waited
		return dir, nil
	}
	began := time.Now()
	tmp := filepath.Join(cache, fmt.Sprintf(".build-%s-%d", key, os.Getpid()))
	os.RemoveAll(tmp)
	os.RemoveAll(dir) // an unfinished directory of an interrupted build
	pkgs := packageList(extra)
	mirror := Mirror()
	logf("testbed: building image %s with debootstrap from %s (%d packages; a few minutes, once)", key, mirror, len(pkgs))
	if err := buildImage(ctx, tmp, mirror, pkgs); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	info := fmt.Sprintf("suite=%s\narch=%s\nrecipe=%s\nmirror=%s\npackages=%s\nbuilt=%s\nbuild_seconds=%.0f\n",
		Suite, runtime.GOARCH, recipe, mirror, strings.Join(pkgs, " "), time.Now().UTC().Format(time.RFC3339), time.Since(began).Seconds())
	if err := os.WriteFile(filepath.Join(tmp, ".tunnelftpd-testbed-image"), []byte(info), 0o644); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("testbed: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("testbed: %w", err)
	}
	logf("testbed: image %s built in %s", key, time.Since(began).Round(time.Second))
	return dir, nil
}

// buildImage runs debootstrap into dir and prepares the tree for booting
// under systemd-nspawn.
func buildImage(ctx context.Context, dir, mirror string, pkgs []string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	args := []string{"--variant=minbase", "--components=main", "--include=" + strings.Join(pkgs, ","), Suite, dir, mirror}
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		log := filepath.Join(dir, "debootstrap", "debootstrap.log")
		detail, _ := os.ReadFile(log)
		return fmt.Errorf("testbed: debootstrap %s: %w\n%s\n%s", strings.Join(args, " "), err, tail(string(out), 3000), tail(string(detail), 3000))
	}
	// No package cache, and a machine id made at each boot (a fresh one per
	// bed, so journals never mix).
	steps := [][]string{
		{"chroot", dir, "apt-get", "clean"},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("testbed: %s: %w\n%s", strings.Join(s, " "), err, out)
		}
	}
	// The bed has no route out: no name servers (debootstrap copied
	// this host's).
	if err := os.WriteFile(filepath.Join(dir, "etc/resolv.conf"), nil, 0o644); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/machine-id"), nil, 0o444); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	os.Remove(filepath.Join(dir, "var/lib/dbus/machine-id"))
	// debootstrap copied this host's name: without the file, the
	// container keeps the machine name systemd-nspawn gives it.
	os.Remove(filepath.Join(dir, "etc/hostname"))
	return nil
}

// lockFile takes an exclusive flock on path, polling until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testbed: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("testbed: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("testbed: waiting for %s (another build): %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
