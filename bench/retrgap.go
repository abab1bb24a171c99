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
	for _, m := range SendModes {
		senders = append(senders, sender{"raw-" + strings.TrimSpace(map[bool]string{true: "go", false: m}[m == ""]), m})
	}
	vals := map[string][]float64{}
	errs := map[string][]string{}
	// One untimed transfer first (the first of a phase runs slow).
	b.rawRetr(c.TunnelRawSend, TunnelName, down, size, want)
	for run := range c.Sizes.TunnelRuns {
		for i := range senders {
			sd := senders[(i+run)%len(senders)]
			var t float64
			var err error
			if strings.HasPrefix(sd.name, "raw-") {
				t, err = timedDownload(down, size, want, func(f *os.File) (int64, error) {
					return RawDownloadMode(c.TunnelRawSend, TunnelName, sd.mode, f, c.timeout())
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
			b.logf("retrgap %-14s %7.1f MiB/s", sd.name, v)
		}
	}
	names := make([]string, 0, len(senders))
	for _, sd := range senders {
		names = append(names, sd.name)
	}
	sort.Strings(names)
	for _, n := range names {
		r := Result{Phase: "retrgap", Server: n, Metric: "retr_mibps", Unit: "MiB/s", Value: round3(median(vals[n])),
			Samples: vals[n], OK: len(vals[n]), Extra: map[string]any{"mib": c.Sizes.TunnelMiB}}
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
		if best > 0 && r.Err == "" {
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
	return b.String()
}
