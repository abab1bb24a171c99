package bench

import (
	"fmt"
	"strings"
)

// Verify lists what makes a run broken rather than merely slow: a step that
// produced no figure, a transfer or listing that failed on any server (those
// are basic functions every server has, so a failure means the setup is
// wrong), or any failure of tunnelftpd. Peers' failures under load
// (concurrency, idle sessions) are results, not breakage. MLSD that a server
// does not implement and a per-connection mode still pending are reported in
// the table and accepted here.
func Verify(results []Result, cfg *Config, phases []string) []string {
	idx := map[[3]string]Result{}
	for _, r := range results {
		idx[[3]string{r.Phase, r.Metric, r.Server}] = r
	}
	want := map[string]bool{}
	for _, p := range phases {
		want[p] = true
	}
	var problems []string
	expect := func(phase, metric, server string, strict bool) {
		if !want[phase] {
			return
		}
		r, ok := idx[[3]string{phase, metric, server}]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s %s %s: no result", phase, server, metric))
		case strings.HasPrefix(r.Err, "pending"), strings.HasPrefix(r.Err, "not supported"):
		case r.Err != "" && (strict || server == Ours):
			problems = append(problems, fmt.Sprintf("%s %s %s: %s", phase, server, metric, shorten(r.Err, 300)))
		case len(r.Failures) > 0 && server == Ours:
			problems = append(problems, fmt.Sprintf("%s %s %s: failures %s", phase, server, metric, failures(r.Failures)))
		}
	}
	for _, m := range []string{"retr_mibps", "stor_mibps"} {
		expect("loopback", m, LimitServer, true)
		if cfg.TunnelRawSend != "" {
			expect("tunnel", m, LimitServer, true)
		}
	}
	for _, s := range cfg.Servers {
		for _, m := range []string{"retr_mibps", "stor_mibps"} {
			expect("loopback", m, s.Name, true)
			if s.TunnelAddr != "" {
				expect("tunnel", m, s.Name, true)
			}
		}
		for _, n := range cfg.Sizes.Clients {
			expect("concurrency", fmt.Sprintf("conc%d_ok", n), s.Name, false)
		}
		for _, m := range []string{"small_stor_fps", "small_retr_fps", "list_ms", "mlsd_ms"} {
			expect("files", m, s.Name, true)
		}
		if s.PID > 0 && cfg.Sizes.Idle > 0 {
			expect("sessions", "idle_ok", s.Name, false)
		}
		for _, m := range []string{"banner_ms", "login_ms", "banner_ms_inetd", "login_ms_inetd"} {
			expect("sessions", m, s.Name, true)
		}
	}
	for _, e := range wanExpected(cfg) {
		expect(e[0], e[1], e[2], e[3] == "strict")
	}
	return problems
}
