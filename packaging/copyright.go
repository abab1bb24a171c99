package packaging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Module is a Go module linked into the binary.
type Module struct {
	Path, Version, Dir string
}

// LinkedModules lists the modules (other than the main one) of the packages
// that pkg imports, as "go list -deps" run in dir sees them.
func LinkedModules(dir, pkg string) ([]Module, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}{{end}}", pkg)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w: %s", pkg, err, stderr.Bytes())
	}
	seen := map[string]bool{}
	var mods []Module
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || seen[f[0]] {
			continue
		}
		seen[f[0]] = true
		mods = append(mods, Module{Path: f[0], Version: f[1], Dir: f[2]})
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	return mods, nil
}

// licenseNames are the file names a module's license is looked for under;
// notice files (Apache-2.0 section 4d) are shipped too.
var (
	licenseNames = []string{"LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "COPYING"}
	noticeNames  = []string{"NOTICE", "NOTICE.md", "NOTICE.txt"}
)

// Copyright returns the text of /usr/share/doc/tunnelftpd/copyright: the
// project's own statement, then the license and notice texts of the Go
// standard library and of every module linked into pkg. A module without a
// license file is an error: the package must not ship code it cannot
// account for.
func Copyright(dir, pkg string) (string, error) {
	mods, err := LinkedModules(dir, pkg)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(`tunnelftpd: an FTP daemon for FTP over SSH port forwarding
Upstream: https://github.com/tunnelftpd/tunnelftpd

Copyright: the tunnelftpd authors.
License: not stated yet: the tunnelftpd source tree has no LICENSE file.

The tunnelftpd binary is a Go program: it links in the Go standard library
and the Go modules listed below. Their copyright and license notices
follow, as found in each.
`)
	goroot := runtime.GOROOT()
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		goroot = strings.TrimSpace(string(out))
	}
	all := append([]Module{{Path: "Go standard library", Version: runtime.Version(), Dir: goroot}}, mods...)
	for _, m := range all {
		lic, name := readFirst(m.Dir, licenseNames)
		if lic == "" {
			return "", fmt.Errorf("module %s %s: no license file (%s) in %s", m.Path, m.Version, strings.Join(licenseNames, ", "), m.Dir)
		}
		fmt.Fprintf(&b, "\n------------------------------------------------------------------------\n%s %s (%s)\n\n", m.Path, m.Version, name)
		b.WriteString(shortenCommonLicense(lic))
		if notice, name := readFirst(m.Dir, noticeNames); notice != "" {
			fmt.Fprintf(&b, "\n%s:\n\n%s", name, notice)
		}
	}
	return b.String(), nil
}

// readFirst returns the text of the first of names (compared without
// regard to case) that dir holds and is not empty.
func readFirst(dir string, names []string) (text, name string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", ""
	}
	for _, n := range names {
		for _, e := range entries {
			if !strings.EqualFold(e.Name(), n) || !e.Type().IsRegular() {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err == nil && len(bytes.TrimSpace(data)) > 0 {
				return strings.TrimRight(string(data), "\n") + "\n", e.Name()
			}
		}
	}
	return "", ""
}

// shortenCommonLicense replaces the full text of the Apache License 2.0,
// which Debian ships in /usr/share/common-licenses, by a reference to it
// (Debian policy 12.5); other texts are kept whole.
func shortenCommonLicense(text string) string {
	if strings.Contains(text, "Apache License") && strings.Contains(text, "Version 2.0, January 2004") &&
		strings.Contains(text, "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION") {
		return "Licensed under the Apache License, Version 2.0. On Debian systems, the\n" +
			"complete text of the Apache License 2.0 is in\n" +
			"/usr/share/common-licenses/Apache-2.0; elsewhere see\n" +
			"https://www.apache.org/licenses/LICENSE-2.0.\n"
	}
	return text
}
