package main

import "runtime/debug"

// version and commit are set at build time by packaging/build:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=0123abcd…"
//
// Without them, the module version and the VCS revision Go recorded in the
// binary (if any) are used, else "dev".
var (
	version = ""
	commit  = ""
)

// versionString is what "tunnelftpd version" prints after the program name:
// the version and, when known, the commit it was built from.
func versionString() string {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if c == "" && s.Key == "vcs.revision" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		return v
	}
	return v + " (commit " + c + ")"
}
