package testutil

import (
	"strings"
	"testing"
)

// TestRequire: a missing prerequisite skips, saying why, and fails under
// TUNNELFTPD_E2E=1; a present one does neither.
func TestRequire(t *testing.T) {
	for _, e2e := range []string{"", "1"} {
		t.Run("TUNNELFTPD_E2E="+e2e, func(t *testing.T) {
			t.Setenv("TUNNELFTPD_E2E", e2e)
			reached := false
			f := run(t, func(tb testing.TB) {
				Require(tb, true, "present")
				RequireTool(tb, "sh")
				reached = true
			})
			if !reached || f.skipped != "" || f.failed != "" {
				t.Errorf("present: reached %v, skipped %q, failed %q", reached, f.skipped, f.failed)
			}
			f = run(t, func(tb testing.TB) {
				RequireTool(tb, "sh", "tunnelftpd-no-such-tool", "/no/such/xinetd")
				t.Error("RequireTool returned with a tool missing")
			})
			got := f.skipped
			if e2e == "1" {
				got = f.failed
				if f.skipped != "" || !strings.HasPrefix(f.failed, "TUNNELFTPD_E2E=1 but ") {
					t.Errorf("under TUNNELFTPD_E2E=1: skipped %q, failed %q; want a failure", f.skipped, f.failed)
				}
			} else if f.failed != "" || !strings.HasPrefix(f.skipped, "SKIP: ") {
				t.Errorf("skipped %q, failed %q; want a skip", f.skipped, f.failed)
			}
			want := "not installed: tunnelftpd-no-such-tool, /no/such/xinetd (Debian package: xinetd)"
			if !strings.HasSuffix(got, want) {
				t.Errorf("reason %q, want it to end in %q", got, want)
			}
		})
	}
}
