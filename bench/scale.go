package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// Scale is the scale phase (issue 17): Sizes.Scale idle, logged-in sessions
// in one tunnelftpd daemon (standalone, loopback). It reports the memory and
// descriptors per session, how long the sessions took to open, and the
// connect-to-230 time of new logins made while they open and once they are
// all idle. Only tunnelftpd is measured: the peers fork one or two
// processes per session (6-9 MiB each in the sessions phase), so 10,000 of
// them would need 60-90 GiB.
func (b *Bench) Scale() error {
	c := b.Cfg
	n := c.Sizes.Scale
	if n <= 0 {
		return fmt.Errorf("scale: no session count (BENCH_SCALE)")
	}
	var s Server
	for _, x := range c.Servers {
		if x.Name == Ours {
			s = x
		}
	}
	if s.PID <= 0 {
		return fmt.Errorf("scale: no tunnelftpd daemon in the config")
	}
	base, err := ProcessTreeMem(s.PID)
	if err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	baseFDs := countFDs(s.PID)
	pasv := c.Passive
	pasv.PortOffset = 0
	// A new login every 100 ms while the sessions open, on a goroutine of
	// its own: what a user who arrives meanwhile sees.
	var during []float64
	var curve [][2]float64 // (sessions open, login ms) of each probe while they open
	var opened atomic.Int64
	var probeFails atomic.Int64
	stop := make(chan struct{})
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				at := opened.Load()
				if ms, err := b.loginOnce(s.Addr); err == nil {
					during = append(during, ms)
					curve = append(curve, [2]float64{float64(at), ms})
				} else {
					probeFails.Add(1)
				}
			}
		}
	}()
	t0 := time.Now()
	conns, errs, giveUp := b.openSessions(s, pasv, n, 32, &opened)
	open := time.Since(t0)
	close(stop)
	<-probeDone
	ok, fails := tally(errs, giveUp)
	// Then, with every session idle: 20 logins one after the other.
	var idle []float64
	b.profiled(s, "scale-logins", func() {
		for range 20 {
			if ms, err := b.loginOnce(s.Addr); err == nil {
				idle = append(idle, ms)
			} else {
				probeFails.Add(1)
			}
		}
	})
	m, err := ProcessTreeMem(s.PID)
	fds := countFDs(s.PID)
	for _, conn := range conns {
		if conn != nil {
			conn.Close()
		}
	}
	// The login-time curve, thinned to about 20 points.
	var thin [][2]float64
	for i := 0; i < len(curve); i += max(1, len(curve)/20) {
		thin = append(thin, curve[i])
	}
	extra := map[string]any{"sessions": n, "procs": m.Procs, "rss_kib": m.RSS, "base_rss_kib": base.RSS, "login_curve": thin,
		"fds": fds, "base_fds": baseFDs, "open_s": round3(open.Seconds()), "probe_failures": probeFails.Load()}
	r := Result{Phase: "scale", Server: s.Name, Metric: "scale_ok", Unit: "sessions", Value: float64(ok), OK: ok, Failures: fails, Extra: extra}
	if err != nil {
		r.Err = err.Error()
	}
	b.Sink.Add(r)
	if ok > 0 && err == nil {
		per := func(x int64) float64 { return round3(float64(x) / float64(ok)) }
		b.Sink.Add(Result{Phase: "scale", Server: s.Name, Metric: "scale_rss_kib", Unit: "KiB/session", Value: per(m.RSS), OK: ok, Extra: extra})
		b.Sink.Add(Result{Phase: "scale", Server: s.Name, Metric: "scale_delta_rss_kib", Unit: "KiB/session", Value: per(m.RSS - base.RSS), OK: ok, Extra: extra})
		b.Sink.Add(Result{Phase: "scale", Server: s.Name, Metric: "scale_fds", Unit: "fds/session", Value: per(int64(fds - baseFDs)), OK: ok, Extra: extra})
		b.Sink.Add(Result{Phase: "scale", Server: s.Name, Metric: "scale_open_ms", Unit: "ms/session",
			Value: round3(float64(open.Microseconds()) / 1000 / float64(ok)), OK: ok, Extra: extra})
	}
	for _, p := range []struct {
		metric string
		vals   []float64
	}{{"scale_login_ms_during", during}, {"scale_login_ms_idle", idle}} {
		pr := Result{Phase: "scale", Server: s.Name, Metric: p.metric, Unit: "ms", Value: round3(median(p.vals)), Samples: p.vals,
			OK: len(p.vals), Extra: map[string]any{"p90_ms": round3(percentile(p.vals, 0.9)), "max_ms": round3(percentile(p.vals, 1)), "sessions": n}}
		if len(p.vals) == 0 {
			pr.Err = "no probe login succeeded"
		}
		b.Sink.Add(pr)
	}
	b.logf("scale %s: %d/%d sessions in %.1fs; RSS %d KiB (%.1f KiB/session, baseline %d KiB), %d fds (baseline %d); new login %.2f ms median while opening (p90 %.2f, %d samples), %.2f ms once idle %v",
		s.Name, ok, n, open.Seconds(), m.RSS, float64(m.RSS)/float64(max(ok, 1)), base.RSS, fds, baseFDs,
		median(during), percentile(during, 0.9), len(during), median(idle), fails)
	b.logf("scale %s: (sessions open, login ms) while opening: %v", s.Name, thin)
	// The daemon notices the closed sessions at once; wait until its
	// descriptors are back near the baseline before the next phase.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && countFDs(s.PID) > baseFDs+10 {
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// loginOnce times connect to 230 of one new session, then quits.
func (b *Bench) loginOnce(addr string) (float64, error) {
	t0 := time.Now()
	conn, _, err := Dial(addr, Passive{}, b.Cfg.timeout())
	if err != nil {
		return 0, err
	}
	err = conn.Login(b.Cfg.User, b.Cfg.Password)
	el := time.Since(t0)
	conn.Quit()
	return float64(el.Microseconds()) / 1000, err
}

// countFDs is the number of open descriptors of pid (-1 if unreadable).
func countFDs(pid int) int {
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return -1
	}
	return len(ents)
}
