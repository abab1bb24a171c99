package bench

import (
	"fmt"
	"math"
	"strings"
)

// The rows of the wan and scale phases, appended to the table's own.

// wanRows are the WAN figures, round trip by round trip, with issue 17's
// targets: mirror --parallel=10 at 40 ms at least 1.5 x the best peer with
// no failed file, every client of the at-once figure served, and the bulk
// transfers at least 0.95 x the raw stream through the same relay.
func wanRows(cfg *Config) []row {
	w := cfg.WAN
	if w == nil {
		return nil
	}
	var rs []row
	for _, rtt := range w.RTTs {
		pre := fmt.Sprintf("%d ms: ", rtt)
		for _, p := range w.Parallel {
			for _, dir := range []string{"down", "up"} {
				rw := row{"wan", WANMetric(rtt, fmt.Sprintf("mirror_%s_p%d_s", dir, p)),
					fmt.Sprintf("%smirror %s %d x %d KiB p%d s", pre, dir, w.Files, w.FileKiB, p), true, nil, false}
				if rtt == 40 && p == 10 {
					rw.target = func(_, vp, _ float64, _ int) (string, *bool) {
						return ">= 1.5 x best peer, no failed file", need(vp >= 1.5, vp)
					}
					rw.clean = true
				}
				rs = append(rs, rw)
			}
		}
		rs = append(rs,
			row{"wan", WANMetric(rtt, "stages_file_ms"), pre + "one file after another: ms/file", true, nil, false},
			row{"wan", WANMetric(rtt, "stages_s10_file_ms"), pre + "the same in 10 sessions at once: ms/file", true, nil, false},
			row{"wan", WANMetric(rtt, fmt.Sprintf("conc%d_ok", w.Clients)), fmt.Sprintf("%s%d clients x %d MiB at once: ok", pre, w.Clients, w.ConcMiB), false,
				func(o, _, _ float64, n int) (string, *bool) { return fmt.Sprintf("%d/%d", n, n), need(int(o) == n, o) }, false},
			row{"wan", WANMetric(rtt, fmt.Sprintf("conc%d_wall_s", w.Clients)), fmt.Sprintf("%s%d clients: wall s", pre, w.Clients), true, nil, false},
			row{"wan", WANMetric(rtt, "bulk_retr_mibps"), fmt.Sprintf("%sRETR %s MiB/s", pre, sizeLabel(w.BulkMiB)), false, atLeastRawRelay, false},
			row{"wan", WANMetric(rtt, "bulk_stor_mibps"), fmt.Sprintf("%sSTOR %s MiB/s", pre, sizeLabel(w.BulkMiB)), false, atLeastRawRelay, false},
		)
	}
	return rs
}

func atLeastRawRelay(_, _, l float64, _ int) (string, *bool) {
	return ">= 0.95 x raw via relay", need(l >= 0.95, l)
}

// scaleRows are the scale phase's figures (tunnelftpd only).
func scaleRows(s Sizes) []row {
	if s.Scale <= 0 {
		return nil
	}
	return []row{
		{"scale", "scale_ok", fmt.Sprintf("%d idle sessions, one daemon: ok", s.Scale), false, nil, false},
		{"scale", "scale_rss_kib", "scale: RSS KiB/session", true, func(o, _, _ float64, _ int) (string, *bool) {
			return "<= 64 KiB", need(o <= 64, o)
		}, false},
		{"scale", "scale_fds", "scale: fds/session", true, nil, false},
		{"scale", "scale_open_ms", "scale: time to open, ms/session", true, nil, false},
		// Informational: while the sessions open, the load generator's own
		// 32 parallel logins queue ahead of the probe.
		{"scale", "scale_login_ms_during", "scale: new login ms, while they open", true, nil, false},
		{"scale", "scale_login_ms_idle", "scale: new login ms, all idle", true, under10ms, false},
	}
}

func under10ms(o, _, _ float64, _ int) (string, *bool) { return "< 10 ms", need(o < 10, o) }

// rangeOf is " [min-max]" for a figure of several rounds, else "".
func rangeOf(r Result) string {
	lo, ok1 := r.Extra["min"].(float64)
	hi, ok2 := r.Extra["max"].(float64)
	if !ok1 || !ok2 || len(r.Samples) < 2 {
		return ""
	}
	return fmt.Sprintf(" [%s-%s]", num(lo), num(hi))
}

// num formats a figure as the table does.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// hasFailures reports whether r counts any failure (a reply code, a file).
func hasFailures(r Result) bool { return len(r.Failures) > 0 || strings.Contains(r.Err, "failed") }

// wanExpected lists the (phase, metric, server, "strict"|"") figures the
// wan and scale phases must produce (see Verify): the raw stream must never
// fail; a peer's failures are results; tunnelftpd's are breakage.
func wanExpected(cfg *Config) [][4]string {
	var out [][4]string
	if w := cfg.WAN; w != nil {
		for _, rtt := range w.RTTs {
			var ms []string
			if w.figure("mirror") {
				for _, p := range w.Parallel {
					ms = append(ms, fmt.Sprintf("mirror_down_p%d_s", p), fmt.Sprintf("mirror_up_p%d_s", p))
				}
			}
			if w.figure("stages") {
				ms = append(ms, "stages_file_ms", "stages_s10_file_ms")
			}
			if w.figure("conc") {
				ms = append(ms, fmt.Sprintf("conc%d_ok", w.Clients))
			}
			if w.figure("bulk") {
				ms = append(ms, "bulk_retr_mibps", "bulk_stor_mibps")
				out = append(out, [4]string{"wan", WANMetric(rtt, "bulk_retr_mibps"), LimitServer, "strict"},
					[4]string{"wan", WANMetric(rtt, "bulk_stor_mibps"), LimitServer, "strict"})
			}
			for _, s := range cfg.Servers {
				for _, m := range ms {
					out = append(out, [4]string{"wan", WANMetric(rtt, m), s.Name, ""})
				}
			}
		}
	}
	if cfg.Sizes.Scale > 0 {
		for _, m := range []string{"scale_ok", "scale_login_ms_during", "scale_login_ms_idle"} {
			out = append(out, [4]string{"scale", m, Ours, ""})
		}
	}
	return out
}
