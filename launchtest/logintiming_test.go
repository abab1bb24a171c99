package launchtest

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestLoginFailureTimingIsConstant: a failed login takes the same time
// whatever the reason, so that timing does not tell which user names
// exist: an unknown user, a wrong password, a locked account, an account
// listed in ftpusers and an unknown name refused before PAM all get their
// 530 after the same delay, system users through the host's real PAM
// stack (pam_unix, whose own delay on failure, ~2 s and random, used to
// make a known user's failure 1.8 s slower than an unknown one's). Tries
// of each kind are interleaved; the medians of 12 may differ by under 50 ms.
func TestLoginFailureTimingIsConstant(t *testing.T) {
	needSystemUsers(t)
	known := addSysUser(t)
	locked := addSysUser(t)
	mustExec(t, "", "usermod", "-L", locked.name)
	listed := addSysUser(t)
	f, ftpusers := sysFixture(t, "")
	os.WriteFile(ftpusers, []byte("root\n"+listed.name+"\n"), 0o644)
	const failDelay = 500 * time.Millisecond
	f.EditConfig(`fail_delay = "10ms"`, fmt.Sprintf("fail_delay = %q", failDelay))
	serveStandalone(t, f)

	kinds := []struct{ name, user, pass string }{
		{"unknown user", "tftpsnosuchuser", sysPassword},
		{"wrong password", known.name, "wrong " + sysPassword},
		{"locked account", locked.name, sysPassword},
		{"ftpusers-listed", listed.name, sysPassword},
		{"empty password", known.name, ""},
	}
	const tries = 12
	times := make([][]time.Duration, len(kinds))
	for range tries {
		for k, kind := range kinds {
			rc := testutil.DialRaw(t, f.Addr)
			rc.Expect(331, "USER %s", kind.user)
			start := time.Now()
			code, msg := rc.Cmd("PASS %s", kind.pass)
			took := time.Since(start)
			rc.Close()
			if code != 530 {
				t.Fatalf("%s: PASS got %d %q, want 530", kind.name, code, msg)
			}
			times[k] = append(times[k], took)
		}
	}
	var medians []time.Duration
	var report []string
	for k, kind := range kinds {
		slices.Sort(times[k])
		med := (times[k][tries/2-1] + times[k][tries/2]) / 2
		medians = append(medians, med)
		report = append(report, fmt.Sprintf("%s: median %v (min %v, max %v)", kind.name,
			med.Round(time.Millisecond), times[k][0].Round(time.Millisecond), times[k][tries-1].Round(time.Millisecond)))
	}
	lo, hi := slices.Min(medians), slices.Max(medians)
	t.Logf("failed logins, %d tries each, fail_delay %v:\n  %s\n  medians differ by %v",
		tries, failDelay, strings.Join(report, "\n  "), (hi - lo).Round(time.Millisecond))
	if hi-lo >= 50*time.Millisecond {
		t.Errorf("failure medians differ by %v, want under 50ms: the time of a failure tells the reason", (hi - lo).Round(time.Millisecond))
	}
	if lo < failDelay-10*time.Millisecond {
		t.Errorf("a failure took %v, under fail_delay %v", lo, failDelay)
	}
}
