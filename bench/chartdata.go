package bench

import (
	"fmt"
	"math"
	"strings"
)

// ChartPanel, ChartBar and ChartSpec are the JSON that bench/tools'
// `benchtools chart` draws (its chart.Spec): one panel per figure of the
// table, one bar per server, the limit last.
type ChartSpec struct {
	Title  string       `json:"title"`
	Panels []ChartPanel `json:"panels"`
}

// ChartPanel is one figure.
type ChartPanel struct {
	Title       string     `json:"title"`
	Unit        string     `json:"unit"`
	LowerBetter bool       `json:"lower_better"`
	Bars        []ChartBar `json:"bars"`
}

// ChartBar is one server's figure: the median, and the min and max of the
// runs when there were several. Text is the figure as the table writes it,
// the bar's label on the chart.
type ChartBar struct {
	Label   string  `json:"label"`
	Value   float64 `json:"value"`
	Text    string  `json:"text,omitempty"`
	Min     float64 `json:"min,omitempty"`
	Max     float64 `json:"max,omitempty"`
	Missing bool    `json:"missing,omitempty"`
	Note    string  `json:"note,omitempty"`
}

// Chart builds the panels from the results, in the table's order.
func Chart(results []Result, cfg *Config) ChartSpec {
	idx := map[[3]string]Result{}
	run := ""
	for _, r := range results {
		idx[[3]string{r.Phase, r.Metric, r.Server}] = r
		run = r.Run
	}
	spec := ChartSpec{Title: "tunnelftpd bench, run " + run}
	names := []string{}
	for _, s := range cfg.Servers {
		names = append(names, s.Name)
	}
	for _, rw := range append(append(rows(cfg.Sizes), wanRows(cfg)...), scaleRows(cfg.Sizes)...) {
		p := ChartPanel{Title: rw.label, LowerBetter: rw.lowerBetter}
		any := false
		for _, s := range append(names, LimitServer) {
			r, ok := idx[[3]string{rw.phase, rw.metric, s}]
			if !ok {
				continue
			}
			any = true
			p.Unit = r.Unit
			label := s
			if s == LimitServer {
				label = "raw"
			}
			bar := ChartBar{Label: label}
			if usable(r) == nil || math.IsNaN(r.Value) {
				bar.Missing, bar.Note = true, cell(r, true)
			} else {
				bar.Value, bar.Text = r.Value, num(r.Value)
				if lo, ok := r.Extra["min"].(float64); ok && len(r.Samples) > 1 {
					bar.Min, bar.Max = lo, r.Extra["max"].(float64)
				} else if len(r.Samples) > 1 {
					bar.Min, bar.Max = minMax(r.Samples)
				}
				if r.Err != "" {
					bar.Note = "*"
				}
			}
			p.Bars = append(p.Bars, bar)
		}
		if any {
			p.Title = strings.TrimSpace(p.Title)
			if p.Unit == "" {
				p.Unit = "value"
			}
			spec.Panels = append(spec.Panels, p)
		}
	}
	if len(spec.Panels) > 0 && cfg.Machine.Nproc > 0 {
		spec.Title += fmt.Sprintf(" (%d cores, %s)", cfg.Machine.Nproc, cfg.Machine.Kernel)
	}
	return spec
}

func minMax(xs []float64) (float64, float64) {
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}
