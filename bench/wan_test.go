package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLftpReplies(t *testing.T) {
	log := strings.Join([]string{
		"[1] 2026-12-01 22:30:47 127.0.0.1 ---> PASV",
		"[1] 2026-12-01 22:30:47 127.0.0.1 <--- 227 Entering Passive Mode (127,0,0,1,121,128).",
		"[1] 2026-12-01 22:30:47 127.0.0.1 <--- 425 PASV: Address already in use",
		"[1] 2026-12-01 22:30:47 127.0.0.1 <--- 425 PASV: Address already in use",
		"[1] 2026-12-01 22:30:47 127.0.0.1 <--- 421 2 users (the maximum) are already logged in, sorry",
		"[1] 2026-12-01 22:30:47 127.0.0.1 <--- 500 Unknown command.",
		"[1] 2026-12-01 22:30:47 127.0.0.1 <--- 500 OOPS: vsf_sysutil_bind",
		"[1] 2026-12-01 22:30:47 127.0.0.1 <--- 211- These are my features",
		"[1] 2026-12-01 22:30:47 127.0.0.1 <---  550 is not a reply here (continuation line)",
		"[1] 2026-12-01 22:30:47 127.0.0.1 <--- 226 Transfer complete",
	}, "\n")
	path := filepath.Join(t.TempDir(), "lftp.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	fails, unsupported := lftpReplies(path)
	if fails["425 PASV: Address already in use"] != 2 || len(fails) != 3 || fails["500 OOPS: vsf_sysutil_bind"] != 1 || fails["421 2 users (the maximum) are already logged in, sor..."] != 1 {
		t.Errorf("failures %v", fails)
	}
	if unsupported["500 Unknown command."] != 1 || len(unsupported) != 1 {
		t.Errorf("unsupported %v", unsupported)
	}
	if f, _ := lftpReplies(filepath.Join(t.TempDir(), "none")); f["no lftp log"] != 1 {
		t.Errorf("a missing log is not a failure: %v", f)
	}
}

// wanFixture aggregates three rounds of one mirror figure and one bulk
// figure the way the phase does, and returns the results and the config.
func wanFixture(t *testing.T, oursFailed bool) ([]Result, *Config) {
	t.Helper()
	cfg := &Config{Servers: []Server{{Name: Ours}, {Name: "vsftpd"}, {Name: "proftpd"}},
		WAN: &WANConfig{RTTs: []int{40}, Rounds: 3, Files: 1000, FileKiB: 16, Parallel: []int{10}, Clients: 20, BulkMiB: 512}}
	sink, err := NewSink(filepath.Join(t.TempDir(), "r.jsonl"), "run", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	b := &Bench{Cfg: cfg, Sink: sink}
	a := &wanAcc{rtt: 40, samples: map[[2]string][]wanSample{}, units: map[string]string{}}
	m := WANMetric(40, "mirror_down_p10_s")
	for round, times := range [][3]float64{{8, 16, 20}, {9, 15, 30}, {10, 18, 25}} {
		for i, s := range []string{Ours, "vsftpd", "proftpd"} {
			smp := wanSample{value: times[i], extra: map[string]any{}}
			if s == Ours && oursFailed && round == 1 {
				smp.failures = map[string]int{"file missing or wrong": 2}
				smp.note = "2 of 1000 files missing or wrong"
			}
			a.add(round, s, m, "s", smp)
		}
		a.add(round, Ours, WANMetric(40, "bulk_retr_mibps"), "MiB/s", wanSample{value: 48, ok: 1})
		a.add(round, LimitServer, WANMetric(40, "bulk_retr_mibps"), "MiB/s", wanSample{value: 50, ok: 1})
		a.add(round, "vsftpd", WANMetric(40, "bulk_retr_mibps"), "MiB/s", wanSample{value: 45, ok: 1})
	}
	b.emitWAN(a)
	return sink.Results(), cfg
}

func TestWANAggregation(t *testing.T) {
	results, _ := wanFixture(t, false)
	idx := map[[2]string]Result{}
	for _, r := range results {
		idx[[2]string{r.Server, r.Metric}] = r
	}
	ours := idx[[2]string{Ours, "rtt40_mirror_down_p10_s"}]
	if ours.Value != 9 || ours.Extra["min"] != 8.0 || ours.Extra["max"] != 10.0 || len(ours.Samples) != 3 {
		t.Errorf("ours: value %v min %v max %v samples %v; want the median 9 of 8, 9, 10", ours.Value, ours.Extra["min"], ours.Extra["max"], ours.Samples)
	}
	p := idx[[2]string{Ours, "rtt40_mirror_down_p10_s_paired"}]
	// Per round, the best peer's time over ours: 16/8, 15/9, 18/10.
	if got, ok := p.Extra["vs_peer"].(float64); !ok || got < 1.79 || got > 1.81 {
		t.Errorf("paired speed-up %v, want the median of 2, 1.67, 1.8 = 1.8", p.Extra["vs_peer"])
	}
	bulk := idx[[2]string{Ours, "rtt40_bulk_retr_mibps_paired"}]
	if got, _ := bulk.Extra["vs_limit"].(float64); got != 0.96 {
		t.Errorf("bulk vs the raw stream %v, want 48/50 = 0.96", bulk.Extra["vs_limit"])
	}
}

func TestWANTargetNeedsNoFailedFile(t *testing.T) {
	for _, failed := range []bool{false, true} {
		results, cfg := wanFixture(t, failed)
		table, checks := Table(results, cfg)
		var c *Check
		for i := range checks {
			if strings.Contains(checks[i].Label, "mirror down") {
				c = &checks[i]
			}
		}
		if c == nil || c.Met == nil {
			t.Fatalf("no verdict on the mirror target:\n%s", table)
		}
		if *c.Met == failed {
			t.Errorf("files failed %v: target met %v (1.8 x the best peer)\n%s", failed, *c.Met, table)
		}
		if !strings.Contains(table, "9.00 [8.00-10.0]") {
			t.Errorf("the table does not show the median with its range:\n%s", table)
		}
	}
}

func TestChartPanels(t *testing.T) {
	results, cfg := wanFixture(t, false)
	spec := Chart(results, cfg)
	var mirror, bulk *ChartPanel
	for i := range spec.Panels {
		switch {
		case strings.Contains(spec.Panels[i].Title, "mirror down"):
			mirror = &spec.Panels[i]
		case strings.Contains(spec.Panels[i].Title, "RETR 512 MiB"):
			bulk = &spec.Panels[i]
		}
	}
	if mirror == nil || bulk == nil {
		t.Fatalf("panels %+v", spec.Panels)
	}
	if len(mirror.Bars) != 3 || mirror.Bars[0].Label != Ours || mirror.Bars[0].Min != 8 || mirror.Bars[0].Max != 10 || !mirror.LowerBetter {
		t.Errorf("mirror panel %+v", mirror)
	}
	if last := bulk.Bars[len(bulk.Bars)-1]; last.Label != "raw" || last.Value != 50 {
		t.Errorf("the bulk panel's last bar is %+v, want the raw stream", last)
	}
	// The chart writes each figure as the table does.
	if b := mirror.Bars[0]; b.Text != num(b.Value) || b.Text == "" {
		t.Errorf("the mirror bar's text is %q, want the table's %q", b.Text, num(b.Value))
	}
}

func TestTallyCountsEachFailureByKind(t *testing.T) {
	errs := []error{nil, &ReplyError{Code: 425, Cmd: "PASV"}, nil, errNotTried, &ReplyError{Code: 425, Cmd: "PASV"}, errNotTried}
	ok, fails := tally(errs, 12)
	want := map[string]int{"425 (PASV)": 2, "not attempted after 12 failures": 2}
	if ok != 2 || len(fails) != len(want) {
		t.Fatalf("tally = %d, %v; want 2, %v", ok, fails, want)
	}
	for k, n := range want {
		if fails[k] != n {
			t.Errorf("fails[%q] = %d, want %d", k, fails[k], n)
		}
	}
}

func TestAtOnceReleasesEveryClientTogether(t *testing.T) {
	const n = 8
	var arrived sync.WaitGroup
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	wrapped := false
	errs, wall := atOnce(n, func(run func()) { wrapped = true; run() }, func(i int) error {
		arrived.Done()
		select { // every client must be running before any may end
		case <-all:
		case <-time.After(10 * time.Second):
			return errors.New("the clients did not all run at once")
		}
		if i == 3 {
			return errNotTried
		}
		return nil
	})
	if !wrapped || wall <= 0 {
		t.Errorf("around ran: %v, wall %v", wrapped, wall)
	}
	for i, err := range errs {
		if (i == 3) != (err != nil) {
			t.Errorf("client %d: %v", i, err)
		}
	}
}
