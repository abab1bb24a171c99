package main

import (
	"strings"
	"testing"
)

// Every imported setup, with its paths made local, passes tunnelftpd check as a whole, and
// the effective config check prints keeps the rules and classes the import wrote.
func TestImportedConfigPassesCheck(t *testing.T) {
	needPAM(t)
	want := map[string][]string{
		"company": {`"/incoming/*"`, `"@group:partners"`, `"partners"`, `"0640"`, `"077"`},
		"mirror":  {`"/incoming/*"`, `"@anonymous"`, `"203.0.113.0/24"`, `"0600"`},
		"tunnel":  {`"22000-22004"`, `"lan"`, `"10.1.0.0/16"`, `"/drop/*"`},
	}
	for _, name := range setups {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "", importArgs(t, name)...)
			if code != 0 {
				t.Fatalf("import: exit %d\n%s", code, stderr)
			}
			p := localize(t, stdout, t.TempDir(), false)
			code, out, errs := runCmd(t, "", "check", "-c", p)
			if code != 0 {
				t.Fatalf("tunnelftpd check refuses the imported config (exit %d):\n%s\n%s", code, errs, stdout)
			}
			for _, w := range want[name] {
				if !strings.Contains(out, w) {
					t.Errorf("the effective config lacks %s:\n%s", w, out)
				}
			}
		})
	}
}
