package bench

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Ours is the server the targets are about.
const Ours = "tunnelftpd"

// row describes one line of the table.
type row struct {
	phase, metric, label string
	lowerBetter          bool
	// target checks tunnelftpd's figures: vsPeer is the speed-up over the
	// best peer (above 1: tunnelftpd is better, whichever way the metric
	// goes), vsLimit is ours/limit, n the clients of a concurrency row; NaN
	// when absent. It returns the target text and whether it is met (nil
	// when it cannot be evaluated).
	target func(ours, vsPeer, vsLimit float64, n int) (string, *bool)
	// clean: the target also needs tunnelftpd's figure to have no failure.
	clean bool
}

func yes(b bool) *bool { return &b }

// need returns nil when any of xs is NaN, else yes(ok).
func need(ok bool, xs ...float64) *bool {
	for _, x := range xs {
		if math.IsNaN(x) {
			return nil
		}
	}
	return yes(ok)
}

func atLeastPeer(_, p, _ float64, _ int) (string, *bool) { return ">= best peer", need(p >= 1, p) }

func atLeastRaw(_, _, l float64, _ int) (string, *bool) {
	return ">= 0.95 x raw tunnel", need(l >= 0.95, l)
}

func rows(s Sizes) []row {
	big, tun := sizeLabel(s.BigMiB), sizeLabel(s.TunnelMiB)
	rs := []row{
		{"loopback", "retr_mibps", "RETR " + big + " loopback MiB/s", false, func(_, p, l float64, _ int) (string, *bool) {
			return ">= best peer, >= 0.9 x sendfile", need(p >= 1 && l >= 0.9, p, l)
		}, false},
		{"loopback", "stor_mibps", "STOR " + big + " loopback MiB/s", false, atLeastPeer, false},
		{"tunnel", "retr_mibps", "RETR " + tun + " ssh tunnel MiB/s", false, atLeastRaw, false},
		{"tunnel", "stor_mibps", "STOR " + tun + " ssh tunnel MiB/s", false, atLeastRaw, false},
	}
	for _, n := range s.Clients {
		rs = append(rs,
			row{"concurrency", fmt.Sprintf("conc%d_ok", n), fmt.Sprintf("%d clients x %d MiB: ok", n, s.ConcMiB), false,
				func(o, _, _ float64, n int) (string, *bool) { return fmt.Sprintf("%d/%d", n, n), need(int(o) == n, o) }, false},
			row{"concurrency", fmt.Sprintf("conc%d_wall_s", n), fmt.Sprintf("%d clients: wall s", n), true, nil, false},
		)
	}
	rs = append(rs,
		row{"files", "small_stor_fps", fmt.Sprintf("STOR %d x %d KiB files/s", s.SmallFiles, s.SmallKiB), false, atLeastPeer, false},
		row{"files", "small_retr_fps", fmt.Sprintf("RETR %d x %d KiB files/s", s.SmallFiles, s.SmallKiB), false, atLeastPeer, false},
		row{"files", "small_stor_cpu_us", "STOR small file: server CPU us", true, nil, false},
		row{"files", "small_retr_cpu_us", "RETR small file: server CPU us", true, nil, false},
		row{"files", "list_ms", fmt.Sprintf("LIST %d entries ms", s.ListEntries), true, atLeastPeer, false},
		row{"files", "mlsd_ms", fmt.Sprintf("MLSD %d entries ms", s.ListEntries), true, atLeastPeer, false},
		row{"sessions", "idle_ok", fmt.Sprintf("%d idle sessions: logged in", s.Idle), false, nil, false},
		row{"sessions", "idle_rss_kib", "idle: RSS KiB/session", true, func(o, _, _ float64, _ int) (string, *bool) {
			return "< 64 KiB", need(o < 64, o)
		}, false},
		row{"sessions", "idle_pss_kib", "idle: PSS KiB/session", true, nil, false},
		row{"sessions", "banner_ms", "connect->220 ms standalone", true, nil, false},
		row{"sessions", "login_ms", "connect->230 ms standalone", true, nil, false},
		row{"sessions", "banner_ms_inetd", "connect->220 ms per-connection", true, nil, false},
		row{"sessions", "login_ms_inetd", "connect->230 ms per-connection", true, nil, false},
	)
	return rs
}

func sizeLabel(mib int) string {
	if mib >= 1024 && mib%1024 == 0 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%d MiB", mib)
}

// Check is the verdict on one target.
type Check struct {
	Label, Target string
	Met           *bool // nil: could not be evaluated
	Ours          string
	Detail        string
}

// Table renders the results as one text table, followed by the failures
// and the target verdicts. servers fixes the column order.
func Table(results []Result, cfg *Config) (string, []Check) {
	servers := []string{}
	for _, s := range cfg.Servers {
		servers = append(servers, s.Name)
	}
	idx := map[[3]string]Result{}
	for _, r := range results {
		idx[[3]string{r.Phase, r.Metric, r.Server}] = r
	}
	header := append([]string{"metric"}, servers...)
	header = append(header, LimitServer, "vs best peer", "vs limit", "target", "status")
	var lines [][]string
	var checks []Check
	var notes []string
	for _, rw := range append(append(rows(cfg.Sizes), wanRows(cfg)...), scaleRows(cfg.Sizes)...) {
		present := false
		for _, s := range append(servers, LimitServer) {
			if _, ok := idx[[3]string{rw.phase, rw.metric, s}]; ok {
				present = true
			}
		}
		if !present {
			continue
		}
		line := []string{rw.label}
		best, bestName := math.NaN(), ""
		for _, s := range servers {
			r, ok := idx[[3]string{rw.phase, rw.metric, s}]
			line = append(line, cell(r, ok))
			if ok && r.Err != "" {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", rw.label, s, shorten(r.Err, 300)))
			}
			if ok && len(r.Failures) > 0 && (r.Err == "" || rw.phase == "concurrency" || rw.phase == "wan") {
				notes = append(notes, fmt.Sprintf("%s, %s: failures %s", rw.label, s, failures(r.Failures)))
			}
			if s == Ours || !ok || !canBeBestPeer(r) {
				continue
			}
			v := r.Value
			if math.IsNaN(best) || (rw.lowerBetter && v < best) || (!rw.lowerBetter && v > best) {
				best, bestName = v, s
			}
		}
		lr, lok := idx[[3]string{rw.phase, rw.metric, LimitServer}]
		line = append(line, cell(lr, lok))
		limit := math.NaN()
		if lok && usable(lr) != nil {
			limit = lr.Value
		}
		if lok && lr.Err != "" {
			notes = append(notes, fmt.Sprintf("%s, limit: %s", rw.label, shorten(lr.Err, 300)))
		}
		or, ook := idx[[3]string{rw.phase, rw.metric, Ours}]
		ours := math.NaN()
		if ook && usable(or) != nil {
			ours = or.Value
		}
		rPeer, rLimit := math.NaN(), math.NaN()
		if !math.IsNaN(ours) && !math.IsNaN(best) && best != 0 && ours != 0 {
			rPeer = ours / best
			if rw.lowerBetter {
				rPeer = best / ours
			}
		}
		if !math.IsNaN(ours) && !math.IsNaN(limit) && limit != 0 {
			rLimit = ours / limit
		}
		paired := ""
		// Throughput: the median of per-run ratios (each run measures
		// everyone back to back) is steadier than the ratio of medians
		// when other work comes and goes on the machine.
		if pr, ok := idx[[3]string{rw.phase, rw.metric + "_paired", Ours}]; ok {
			if v, ok := pr.Extra["vs_peer"].(float64); ok {
				rPeer, paired, bestName = v, " paired", "per run"
				if name, ok := pr.Extra["best_peer"].(string); ok && name != "" {
					bestName = name + ", per run"
				}
			}
			if v, ok := pr.Extra["vs_limit"].(float64); ok {
				rLimit, paired = v, " paired"
			}
		}
		vsPeer, vsLimit := "", ""
		if !math.IsNaN(rPeer) {
			vsPeer = fmt.Sprintf("x%.2f (%s)", rPeer, bestName)
		}
		if !math.IsNaN(rLimit) {
			vsLimit = fmt.Sprintf("x%.2f", rLimit)
		}
		target, status := "", ""
		if rw.target != nil {
			n := extraInt(or, "clients")
			if n == 0 {
				fmt.Sscanf(rw.metric, "conc%d_ok", &n)
			}
			var met *bool
			target, met = rw.target(ours, rPeer, rLimit, n)
			if rw.clean && met != nil && *met && hasFailures(or) {
				met = yes(false)
			}
			switch {
			case met == nil:
				status = "n/a"
			case *met:
				status = "met"
			default:
				status = "MISSED"
			}
			checks = append(checks, Check{Label: rw.label, Target: target, Met: met, Ours: cell(or, ook),
				Detail: strings.TrimSpace(strings.TrimSpace(vsPeer+" "+vsLimit) + paired)})
		}
		line = append(line, vsPeer, vsLimit, target, status)
		lines = append(lines, line)
	}

	var b strings.Builder
	m := cfg.Machine
	fmt.Fprintf(&b, "machine: %d cores, %s, kernel %s, %d GiB; data on %s\n", m.Nproc, m.CPU, m.Kernel, m.MemGiB, m.Data)
	var loads []string
	maxLoad := 0.0
	for _, r := range results {
		if r.Phase == "meta" && r.Metric == "phase_seconds" {
			l0, _ := r.Extra["loadavg_start"].(float64)
			l1, _ := r.Extra["loadavg_end"].(float64)
			maxLoad = max(maxLoad, l0, l1)
			loads = append(loads, fmt.Sprintf("%s %.0fs (load %.1f->%.1f)", r.Server, r.Value, l0, l1))
		}
	}
	if len(loads) > 0 {
		fmt.Fprintf(&b, "phases: %s\n", strings.Join(loads, ", "))
	}
	if m.Nproc > 0 && maxLoad > float64(m.Nproc) {
		fmt.Fprintf(&b, "WARNING: load average reached %.1f on %d cores: other work ran during the benchmark; figures are disturbed\n", maxLoad, m.Nproc)
	}
	b.WriteString("\n")
	widths := make([]int, len(header))
	for _, l := range append([][]string{header}, lines...) {
		for i, c := range l {
			widths[i] = max(widths[i], len(c))
		}
	}
	writeRow := func(l []string) {
		for i, c := range l {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", widths[i], c)
			} else {
				fmt.Fprintf(&b, "  %*s", widths[i], c)
			}
		}
		b.WriteString("\n")
	}
	writeRow(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	writeRow(sep)
	for _, l := range lines {
		writeRow(l)
	}
	if len(notes) > 0 {
		b.WriteString("\nnotes:\n")
		sort.Strings(notes)
		for _, n := range notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	return b.String(), checks
}

// canBeBestPeer reports whether a peer's result can name the best peer: a real
// figure (usable) from a run that measured the same thing as the others.
// The table and the paired ratios (pairedRatios) both ask it.
func canBeBestPeer(r Result) bool {
	return usable(r) != nil && r.Extra["not_comparable"] != true
}

// usable returns r when its value is a real figure.
func usable(r Result) *Result {
	if r.Err != "" && r.OK == 0 {
		return nil
	}
	if strings.HasSuffix(r.Metric, "_mibps") && r.Err != "" {
		return nil // a failed transfer run makes the median meaningless
	}
	return &r
}

func cell(r Result, ok bool) string {
	if !ok {
		return "-"
	}
	if strings.HasPrefix(r.Err, "pending") {
		return "pending"
	}
	if strings.HasPrefix(r.Err, "not supported") {
		return "n/a"
	}
	if usable(r) == nil {
		return "FAIL"
	}
	v := r.Value
	var s string
	switch {
	case strings.HasSuffix(r.Metric, "_ok"):
		n := extraInt(r, "clients")
		if n == 0 {
			n = extraInt(r, "sessions")
		}
		s = fmt.Sprintf("%d/%d", int(v), n)
	case v >= 100:
		s = fmt.Sprintf("%.0f", v)
	case v >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	s += rangeOf(r)
	if r.Err != "" {
		s += "*"
	}
	return s
}

func failures(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s x%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// extraInt reads an integer from r.Extra, as decoded from JSON or as built.
func extraInt(r Result, key string) int {
	switch v := r.Extra[key].(type) {
	case float64:
		return int(v)
	case int:
		return v
	case int64:
		return int(v)
	}
	return 0
}
