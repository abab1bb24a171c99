package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// RetrGap is the retrgap phase, a diagnostic (issue 17): RETR of the tunnel
// file through the ssh tunnel by every server and by the raw helper in each
// of its SendModes, TunnelRuns rounds in a rotating order. Every sender
// moves the same file through the same tunnel to the same client code, so a
// mode that matches the C servers where Go's own does not names what the
// gap is made of.
func (b *Bench) RetrGap() error {
	c := b.Cfg
	if c.TunnelRawSend == "" {
		return fmt.Errorf("retrgap: no tunnel configured")
	}
	want, err := b.digest(TunnelName)
	if err != nil {
		return err
	}
	size := int64(c.Sizes.TunnelMiB) * MiB
	down := filepath.Join(c.Scratch, "retrgap.bin")
	type sender struct{ name, mode string }
	var senders []sender
	for _, s := range c.Servers {
		if s.TunnelAddr != "" {
			senders = append(senders, sender{s.Name, ""})
		}
	}
	for _, m := range retrGapModes(SendModes) {
		senders = append(senders, sender{"raw-" + strings.TrimSpace(map[bool]string{true: "go", false: m}[m == ""]), m})
	}
	// A few modes once more straight over loopback (no tunnel), where the
	// receiver is the client itself: what a way of sending costs there.
	if c.RawSend != "" {
		for _, m := range retrGapModes(DirectSendModes) {
			senders = append(senders, sender{"direct-" + map[bool]string{true: "go", false: m}[m == ""], m})
		}
	}
	vals := map[string][]float64{}
	errs := map[string][]string{}
	use := map[string]map[string][]float64{} // sender -> figure -> samples
	// One untimed transfer first (the first of a phase runs slow).
	b.rawRetr(c.TunnelRawSend, TunnelName, down, size, want)
	for run := range c.Sizes.TunnelRuns {
		for i := range senders {
			sd := senders[(i+run)%len(senders)]
			var t float64
			var err error
			pids := b.retrGapPIDs(sd.name)
			before := snapUse(pids)
			if _, ok := strings.CutPrefix(sd.name, "raw-"); ok || strings.HasPrefix(sd.name, "direct-") {
				addr := c.TunnelRawSend
				if !ok {
					addr = c.RawSend
				}
				t, err = timedDownload(down, size, want, func(f *os.File) (int64, error) {
					return RawDownloadMode(addr, TunnelName, sd.mode, f, c.timeout())
				})
			} else {
				for _, s := range c.Servers {
					if s.Name == sd.name {
						t, err = b.ftpRetr(s, s.TunnelAddr, c.Passive, TunnelName, down, size, want)
					}
				}
			}
			if err != nil {
				errs[sd.name] = append(errs[sd.name], err.Error())
				b.logf("retrgap %-14s FAILED: %v", sd.name, err)
				continue
			}
			v := float64(size) / MiB / t
			vals[sd.name] = append(vals[sd.name], v)
			figs := useFigures(before, snapUse(pids), float64(size)/MiB)
			if use[sd.name] == nil {
				use[sd.name] = map[string][]float64{}
			}
			for k, x := range figs {
				use[sd.name][k] = append(use[sd.name][k], x)
			}
			b.logf("retrgap %-14s %7.1f MiB/s  load %.1f  %s", sd.name, v, LoadAvg(), formatUse(figs))
		}
	}
	names := make([]string, 0, len(senders))
	for _, sd := range senders {
		names = append(names, sd.name)
	}
	sort.Strings(names)
	for _, n := range names {
		extra := map[string]any{"mib": c.Sizes.TunnelMiB}
		for k, xs := range use[n] {
			extra[k] = round3(median(xs))
		}
		r := Result{Phase: "retrgap", Server: n, Metric: "retr_mibps", Unit: "MiB/s", Value: round3(median(vals[n])),
			Samples: vals[n], OK: len(vals[n]), Extra: extra}
		if len(errs[n]) > 0 {
			r.Err = strings.Join(errs[n], "; ")
		}
		b.Sink.Add(r)
	}
	return nil
}

// RetrGapTable renders the retrgap phase's figures, each sender against the
// best peer of the same phase; "" when the phase did not run.
func RetrGapTable(results []Result, cfg *Config) string {
	peers := map[string]bool{}
	for _, s := range cfg.Servers {
		if s.Name != Ours {
			peers[s.Name] = true
		}
	}
	var rs []Result
	best := 0.0
	for _, r := range results {
		if r.Phase == "retrgap" {
			rs = append(rs, r)
			if peers[r.Server] && r.Err == "" {
				best = max(best, r.Value)
			}
		}
	}
	if len(rs) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nretrgap: RETR %s through the ssh tunnel, median of %d (min-max), against the best peer\n", sizeLabel(cfg.Sizes.TunnelMiB), cfg.Sizes.TunnelRuns)
	for _, r := range rs {
		ratio := ""
		if best > 0 && r.Err == "" && !strings.HasPrefix(r.Server, "direct-") {
			ratio = fmt.Sprintf("x%.2f", r.Value/best)
		}
		lo, hi := 0.0, 0.0
		if len(r.Samples) > 0 {
			lo, hi = minMax(r.Samples)
		}
		status := ""
		if r.Err != "" {
			status = "FAILED: " + shorten(r.Err, 120)
		}
		fmt.Fprintf(&b, "  %-16s %7.1f MiB/s  [%.0f-%.0f]  %6s %s\n", r.Server, r.Value, lo, hi, ratio, status)
	}
	b.WriteString("per MiB, median: CPU ms of the sender, sshd, ssh and the client; sshd's mean read; context switches (voluntary, involuntary)\n")
	for _, r := range rs {
		f := map[string]float64{}
		for k, v := range r.Extra {
			if x, ok := v.(float64); ok {
				f[k] = x
			}
		}
		fmt.Fprintf(&b, "  %-16s %s\n", r.Server, formatUse(f))
	}
	return b.String()
}

// DirectSendModes are the SendModes the retrgap phase also times straight
// over loopback, with no tunnel.
var DirectSendModes = []string{"", "pure", "warm", "warm1m", "copy128", "copy1m"}

// retrGapModes is the SendModes the phase runs: all, or those BENCH_RETRGAP_MODES names
// (comma-separated, "go" for Go's own).
func retrGapModes(all []string) []string {
	v := os.Getenv("BENCH_RETRGAP_MODES")
	if v == "" {
		return all
	}
	want := map[string]bool{}
	for _, m := range strings.Split(v, ",") {
		want[strings.TrimSpace(m)] = true
	}
	var out []string
	for _, m := range all {
		if want[m] || m == "" && want["go"] {
			out = append(out, m)
		}
	}
	return out
}

// retrGapPIDs are the processes whose use the retrgap phase accounts for a
// sender: the sender (the server's daemon tree, or the raw helper), the
// sshd listener's tree (the session), the ssh client, and this process (the
// FTP client). Unknown pids are left out.
func (b *Bench) retrGapPIDs(sender string) map[string]int {
	pids := map[string]int{"client": os.Getpid()}
	for _, k := range []string{"sshd", "ssh"} {
		if p := b.Cfg.TunnelPIDs[k]; p > 0 {
			pids[k] = p
		}
	}
	if strings.HasPrefix(sender, "raw-") || strings.HasPrefix(sender, "direct-") {
		if p := b.Cfg.TunnelPIDs["raw"]; p > 0 {
			pids["sender"] = p
		}
	}
	for _, s := range b.Cfg.Servers {
		if s.Name == sender && s.PID > 0 {
			pids["sender"] = s.PID
		}
	}
	return pids
}

func snapUse(pids map[string]int) map[string]TreeUse {
	m := map[string]TreeUse{}
	for k, p := range pids {
		if u, err := ProcessTreeUse(p); err == nil {
			m[k] = u
		}
	}
	return m
}

// useFigures turns two snapshots into per-MiB figures: CPU ms of each
// process, and for sshd and ssh their context switches and read calls.
func useFigures(before, after map[string]TreeUse, mib float64) map[string]float64 {
	f := map[string]float64{}
	for k, a := range after {
		bu, ok := before[k]
		if !ok {
			continue
		}
		d := a.Sub(bu)
		f[k+"_cpu_ms_per_mib"] = float64(d.CPU.Milliseconds()) / mib
		if k == "sshd" || k == "ssh" {
			f[k+"_vcs_per_mib"] = float64(d.VolCS) / mib
			f[k+"_ics_per_mib"] = float64(d.InvolCS) / mib
			f[k+"_reads_per_mib"] = float64(d.ReadCall) / mib
			if d.ReadCall > 0 {
				f[k+"_read_kib"] = float64(d.ReadByte) / float64(d.ReadCall) / 1024
			}
		}
	}
	return f
}

// useColumns are the figures formatUse and the table show, in order.
var useColumns = []struct{ key, label string }{
	{"sender_cpu_ms_per_mib", "snd"}, {"sshd_cpu_ms_per_mib", "sshd"}, {"ssh_cpu_ms_per_mib", "ssh"},
	{"client_cpu_ms_per_mib", "cli"}, {"sshd_read_kib", "sshd-rd-KiB"}, {"sshd_vcs_per_mib", "sshd-vcs"},
	{"sshd_ics_per_mib", "sshd-ics"}, {"ssh_vcs_per_mib", "ssh-vcs"}, {"ssh_ics_per_mib", "ssh-ics"},
}

func formatUse(f map[string]float64) string {
	var parts []string
	for _, c := range useColumns {
		if v, ok := f[c.key]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", c.label, v))
		}
	}
	return strings.Join(parts, " ")
}
