package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The WAN variant of the tunnel bench (issue 17). Each round trip has a
// client network namespace of its own, made by bench/run: in it, ssh
// forwards the servers' control ports, the five passive ports and the raw
// helper's ports under their own numbers (so lftp can follow a PASV reply
// as it is), and its SSH connection reaches sshd on the host through a
// latency relay (bench/tools: toxiproxy, half the round trip each way).
// Every client of a figure runs in that namespace: lftp for the mirrors,
// `ftpbench wanclient` for the Go clients. This process stays on the host,
// where it counts TIME_WAIT sockets on the passive ports and signals the
// profiling build.

// WANConfig is the "wan" section of the config that bench/run writes.
type WANConfig struct {
	RTTs       []int             `json:"rtts_ms"`     // round trips added by the relay, one namespace each
	Netns      map[string]string `json:"netns"`       // RTT in ms (as text) -> client namespace
	Rounds     int               `json:"rounds"`      // every figure is the median of this many rounds
	Files      int               `json:"files"`       // files of the mirror
	FileKiB    int               `json:"file_kib"`    // size of each
	Parallel   []int             `json:"parallel"`    // lftp mirror --parallel values
	Clients    int               `json:"clients"`     // concurrent clients of the RETR-at-once figure
	ConcMiB    int               `json:"conc_mib"`    // file each of them downloads
	BulkMiB    int               `json:"bulk_mib"`    // the bulk RETR/STOR file
	Figures    []string          `json:"figures"`     // subset of mirror, conc, bulk (empty: all)
	Lftp       string            `json:"lftp"`        // lftp binary
	Self       string            `json:"ftpbench"`    // this binary, run inside the namespaces
	ConfigPath string            `json:"config_path"` // the config file, for the children
	Work       string            `json:"work"`        // lftp scripts and logs, the digests
	TimeoutSec int               `json:"timeout_sec"` // per mirror and per client run
}

// Names of the WAN data, in SrcDir and in every server directory.
const (
	WANMirrorDir = "wanmirror" // the mirrored files
	WANUpDir     = "wanup"     // where mirror -R puts them
	WANBulkName  = "wan.bin"   // the bulk file
)

// WANFigures are the figure groups, in the order each round runs them
// (stages, a diagnostic, runs in the first round only).
var WANFigures = []string{"mirror", "stages", "conc", "bulk"}

func (w *WANConfig) figure(name string) bool {
	if len(w.Figures) == 0 {
		return true
	}
	for _, f := range w.Figures {
		if f == name {
			return true
		}
	}
	return false
}

func (w *WANConfig) timeout() time.Duration {
	if w.TimeoutSec <= 0 {
		return 10 * time.Minute
	}
	return time.Duration(w.TimeoutSec) * time.Second
}

// wanFileName is the name of mirror file i.
func wanFileName(i int) string { return fmt.Sprintf("f%05d.dat", i) }

// wanFileContent is the content of mirror file i (not the small-files
// step's: a different seed space).
func wanFileContent(i, size int) []byte { return SmallContent(1_000_000+i, size) }

// prepareWAN creates the mirror files and the bulk file in SrcDir and links
// them into every server directory.
func (b *Bench) prepareWAN() error {
	c, w := b.Cfg, b.Cfg.WAN
	src := filepath.Join(c.SrcDir, WANMirrorDir)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	size := w.FileKiB << 10
	for i := range w.Files {
		p := filepath.Join(src, wanFileName(i))
		if fi, err := os.Stat(p); err == nil && fi.Size() == int64(size) {
			continue
		}
		if err := os.WriteFile(p, wanFileContent(i, size), 0o644); err != nil {
			return err
		}
	}
	bulk := filepath.Join(c.SrcDir, WANBulkName)
	if fi, err := os.Stat(bulk); err != nil || fi.Size() != int64(w.BulkMiB)*MiB {
		b.logf("generating %s (%d MiB)", WANBulkName, w.BulkMiB)
		if err := GenFile(bulk, int64(w.BulkMiB)*MiB, seedOf(WANBulkName)); err != nil {
			return err
		}
	}
	for _, s := range c.Servers {
		dir := filepath.Join(s.LocalDir, WANMirrorDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.Chown(dir, c.UID, c.GID); err != nil {
			return err
		}
		for i := range w.Files {
			if err := os.Link(filepath.Join(src, wanFileName(i)), filepath.Join(dir, wanFileName(i))); err != nil {
				return err
			}
		}
		if err := os.Link(bulk, filepath.Join(s.LocalDir, WANBulkName)); err != nil {
			return err
		}
	}
	return nil
}

// wanSample is one round's figure of one server.
type wanSample struct {
	value    float64
	ok       int
	failures map[string]int
	extra    map[string]any
	err      string // the figure could not be measured this round
	note     string // something failed, but the figure stands (files a mirror missed)
	// partial: the figure stands, but it is not comparable with a server
	// that did all the work (the wall time of clients at once when some
	// failed early): it never counts as the best peer.
	partial bool
}

// wanAcc collects the rounds of one round trip.
type wanAcc struct {
	rtt     int
	samples map[[2]string][]wanSample // (server, metric) -> rounds
	perRun  []map[[2]string]float64   // round -> (server, metric) -> value, for the paired ratios
	units   map[string]string
}

func (a *wanAcc) add(round int, server, metric, unit string, s wanSample) {
	k := [2]string{server, metric}
	a.samples[k] = append(a.samples[k], s)
	a.units[metric] = unit
	for len(a.perRun) <= round {
		a.perRun = append(a.perRun, map[[2]string]float64{})
	}
	if s.err == "" && !s.partial {
		v := s.value
		if unit == "s" || unit == "ms" {
			v = 1 / v // the paired ratio is a speed-up: higher is better
		}
		a.perRun[round][k] = v
	}
}

// WANMetric is the metric name of a WAN figure at a round trip.
func WANMetric(rtt int, name string) string { return fmt.Sprintf("rtt%d_%s", rtt, name) }

// WAN runs the WAN figures: for each round trip, Rounds rounds; in each
// round every figure, each server once, in an order rotated from round to
// round (so TIME_WAIT sockets that one server's downloads leave on the
// shared passive ports fall on each server in turn; their number is recorded
// with every figure).
func (b *Bench) WAN() error {
	c, w := b.Cfg, b.Cfg.WAN
	if w == nil {
		return errors.New("no WAN configuration (bench/run writes one when the wan phase is asked for)")
	}
	digests := map[string]Digest{}
	for _, name := range []string{WANBulkName, ConcName} {
		d, err := b.digest(name)
		if err != nil {
			return err
		}
		digests[name] = d
	}
	js, _ := json.Marshal(digests)
	if err := os.WriteFile(filepath.Join(w.Work, "digests.json"), js, 0o644); err != nil {
		return err
	}
	for _, rtt := range w.RTTs {
		ns := w.Netns[strconv.Itoa(rtt)]
		if ns == "" {
			return fmt.Errorf("no client namespace for the %d ms round trip", rtt)
		}
		acc := &wanAcc{rtt: rtt, samples: map[[2]string][]wanSample{}, units: map[string]string{}}
		for round := range w.Rounds {
			n := len(c.Servers)
			order := make([]Server, n)
			for i := range n {
				order[i] = c.Servers[(i+round)%n]
			}
			b.logf("wan %d ms: round %d of %d, order %s", rtt, round+1, w.Rounds, serverNames(order))
			if w.figure("mirror") {
				for _, p := range w.Parallel {
					for _, up := range []bool{false, true} {
						for _, s := range order {
							b.wanMirror(acc, round, ns, s, up, p)
						}
					}
				}
			}
			if w.figure("stages") && round == 0 {
				for _, sessions := range []int{1, 10} {
					for _, s := range order {
						b.wanStagesFigure(acc, ns, s, sessions)
					}
				}
			}
			if w.figure("conc") {
				for _, s := range order {
					b.wanConc(acc, round, ns, s)
				}
			}
			if w.figure("bulk") {
				for _, dir := range []string{"retr", "stor"} {
					for _, s := range order {
						// The raw stream runs next to tunnelftpd's transfer,
						// before it in even rounds and after it in odd ones.
						if s.Name == Ours && round%2 == 0 {
							b.wanBulk(acc, round, ns, Server{Name: LimitServer}, dir)
						}
						b.wanBulk(acc, round, ns, s, dir)
						if s.Name == Ours && round%2 == 1 {
							b.wanBulk(acc, round, ns, Server{Name: LimitServer}, dir)
						}
					}
				}
			}
		}
		b.emitWAN(acc)
	}
	return nil
}

func serverNames(ss []Server) string {
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// emitWAN writes one result per (server, metric): the median of the
// rounds, their min and max, failures summed over the rounds; then the
// paired ratios.
func (b *Bench) emitWAN(a *wanAcc) {
	keys := make([][2]string, 0, len(a.samples))
	for k := range a.samples {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][1]+keys[i][0] < keys[j][1]+keys[j][0] })
	metrics := map[string]bool{}
	var added []Result
	for _, k := range keys {
		ss := a.samples[k]
		metrics[k[1]] = true
		var vals []float64
		var errs []string
		fails := map[string]int{}
		okMin := -1
		var extras []map[string]any
		for i, s := range ss {
			if s.err == "" {
				vals = append(vals, s.value)
			} else {
				errs = append(errs, fmt.Sprintf("round %d: %s", i+1, s.err))
			}
			if s.note != "" {
				errs = append(errs, fmt.Sprintf("round %d: %s", i+1, s.note))
			}
			for f, n := range s.failures {
				fails[f] += n
			}
			if okMin < 0 || s.ok < okMin {
				okMin = s.ok
			}
			extras = append(extras, s.extra)
		}
		unit := a.units[k[1]]
		r := Result{Phase: "wan", Server: k[0], Metric: k[1], Unit: unit, Samples: vals, Value: round3(median(vals)),
			OK: len(vals), Extra: map[string]any{"rtt_ms": a.rtt, "rounds": extras}}
		if len(vals) > 0 {
			lo, hi := vals[0], vals[0]
			for _, v := range vals {
				lo, hi = min(lo, v), max(hi, v)
			}
			r.Extra["min"], r.Extra["max"] = round3(lo), round3(hi)
		}
		if strings.HasSuffix(k[1], "_ok") {
			// Clients that succeeded: the worst round, so 20/20 means every round.
			r.Value, r.OK = float64(max(okMin, 0)), max(okMin, 0)
			r.Extra["clients"] = extraInt(Result{Extra: ss[0].extra}, "clients")
		}
		if len(fails) > 0 {
			r.Failures = fails
		}
		if len(errs) > 0 {
			r.Err = strings.Join(errs, "; ")
		}
		for _, s := range ss {
			if s.partial {
				r.Extra["not_comparable"] = true
			}
		}
		b.Sink.Add(r)
		added = append(added, r)
	}
	var ms []string
	for m := range metrics {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	for _, m := range ms {
		if strings.HasSuffix(m, "_ok") {
			continue
		}
		if r, ok := pairedRatios("wan", m, a.perRun, b.Cfg.Servers, leftOutPeers(added, m)); ok {
			r.Extra["rtt_ms"] = a.rtt
			b.Sink.Add(r)
		}
	}
}

// TimeWaitOn counts the sockets in TIME_WAIT whose local port is in
// [first, last], in this process's network namespace (the servers').
func TimeWaitOn(first, last int) int {
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 4 || fs[3] != "06" {
				continue
			}
			_, port, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			p, err := strconv.ParseInt(port, 16, 32)
			if err == nil && int(p) >= first && int(p) <= last {
				n++
			}
		}
	}
	return n
}

// wanMirror runs one lftp mirror (down, or up with -R) of the WAN files.
func (b *Bench) wanMirror(a *wanAcc, round int, ns string, s Server, up bool, parallel int) {
	c, w := b.Cfg, b.Cfg.WAN
	dir := "down"
	if up {
		dir = "up"
	}
	metric := WANMetric(a.rtt, fmt.Sprintf("mirror_%s_p%d_s", dir, parallel))
	tw := TimeWaitOn(c.Passive.First, c.Passive.Last)
	var res MirrorResult
	label := fmt.Sprintf("wan-rtt%d-mirror-%s-p%d-r%d", a.rtt, dir, parallel, round+1)
	b.profiled(s, label, func() { res = b.runMirror(ns, s, up, parallel, label) })
	extra := map[string]any{"tw_before": tw, "files": w.Files, "failed_files": res.FailedFiles,
		"lftp_exit": res.Exit, "unsupported": res.Unsupported, "log": res.Log}
	smp := wanSample{value: round3(res.Seconds), ok: w.Files - res.FailedFiles, failures: res.Replies, extra: extra, err: res.Err}
	if res.FailedFiles > 0 {
		if smp.failures == nil {
			smp.failures = map[string]int{}
		}
		smp.failures["file missing or wrong"] += res.FailedFiles
		smp.note = fmt.Sprintf("%d of %d files missing or wrong", res.FailedFiles, w.Files)
	}
	a.add(round, s.Name, metric, "s", smp)
	b.logf("wan %d ms %-10s mirror %-4s p%-2d %7.2fs  failed files %d  replies %v  TIME_WAIT %d%s",
		a.rtt, s.Name, dir, parallel, res.Seconds, res.FailedFiles, res.Replies, tw, errSuffix(res.Err))
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "  ERROR " + shorten(e, 200)
}

// MirrorResult is one lftp mirror.
type MirrorResult struct {
	Seconds     float64
	FailedFiles int            // missing or with the wrong bytes after the mirror
	Replies     map[string]int // 4xx/5xx replies (except "not implemented"), by code and text
	Unsupported map[string]int // 500-504 replies: commands a server does not have
	Exit        int
	Log         string // lftp's debug log
	Err         string
}

// runMirror writes an lftp script, runs it in the namespace, then checks
// every file and reads the debug log.
func (b *Bench) runMirror(ns string, s Server, up bool, parallel int, label string) MirrorResult {
	c, w := b.Cfg, b.Cfg.WAN
	var res MirrorResult
	local := filepath.Join(c.Scratch, "wan-down-"+s.Name)
	remoteUp := filepath.Join(s.LocalDir, WANUpDir)
	os.RemoveAll(local)
	os.RemoveAll(remoteUp)
	defer os.RemoveAll(local)
	defer os.RemoveAll(remoteUp)
	logPath := filepath.Join(w.Work, label+"-"+s.Name+".log")
	os.Remove(logPath)
	// Paths relative to the server's directory: mirror -R creates its
	// target with mkdir -p, and an absolute path would send an MKD for
	// every existing parent (each refused with a 550).
	mirror := fmt.Sprintf("mirror --parallel=%d %s %s", parallel, WANMirrorDir, lftpQuote(local))
	if up {
		mirror = fmt.Sprintf("mirror -R --no-perms --parallel=%d %s %s", parallel,
			lftpQuote(filepath.Join(c.SrcDir, WANMirrorDir)), WANUpDir)
	}
	script := strings.Join([]string{
		// The same settings for every server; see bench/README.md ("WAN").
		"set ftp:use-mdtm off",          // else one MDTM per file, serially on one connection, before any transfer
		"set ftp:ssl-allow no",          // no server here has TLS; each connection would try AUTH TLS first
		"set ftp:passive-mode on",       // the tunnel forwards the passive ports only,
		"set ftp:auto-passive-mode off", // so no falling back to PORT after a failed PASV
		"set net:timeout 30",            // a stuck data connection is given up after 30 s, not 300
		"set net:max-retries 20",        // bounded: a server that keeps refusing ends the mirror
		"set net:reconnect-interval-base 1",
		"set net:reconnect-interval-multiplier 1",
		"set net:reconnect-interval-max 1", // retry after 1 s, not after 30 s and more
		"set xfer:clobber on",
		"debug -t -p -o " + lftpQuote(logPath) + " 9",
		fmt.Sprintf("open -u %s,%s ftp://%s", lftpQuote(c.User), lftpQuote(c.Password), s.Addr),
		"cd " + lftpQuote(s.Dir),
		mirror,
		"",
	}, "\n")
	scriptPath := filepath.Join(w.Work, "lftp-script")
	if err := os.WriteFile(scriptPath, []byte(script), 0o600); err != nil {
		res.Err = err.Error()
		return res
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, w.Lftp, "-f", scriptPath)
	cmd.WaitDelay = 5 * time.Second
	out, _ := os.Create(filepath.Join(w.Work, label+"-"+s.Name+".out"))
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
		defer out.Close()
	}
	t0 := time.Now()
	err := cmd.Run()
	res.Seconds = time.Since(t0).Seconds()
	os.Remove(scriptPath) // it holds the password
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.Exit = ee.ExitCode()
	case err != nil:
		res.Err = "lftp: " + err.Error()
	}
	if ctx.Err() != nil {
		res.Err = fmt.Sprintf("lftp mirror did not finish in %s", w.timeout())
	}
	res.Log = logPath
	res.Replies, res.Unsupported = lftpReplies(logPath)
	dir := local
	if up {
		dir = remoteUp
	}
	size := w.FileKiB << 10
	for i := range w.Files {
		got, err := os.ReadFile(filepath.Join(dir, wanFileName(i)))
		if err != nil || len(got) != size || string(got) != string(wanFileContent(i, size)) {
			res.FailedFiles++
		}
	}
	if res.Exit != 0 && res.Err == "" && res.FailedFiles == 0 {
		// lftp gave up on something (or complained) though every file
		// arrived: keep the figure, note the exit code.
		res.Replies = addCount(res.Replies, fmt.Sprintf("lftp exit %d", res.Exit))
	}
	return res
}

func addCount(m map[string]int, k string) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[k]++
	return m
}

// lftpQuote quotes an argument for lftp's command line.
func lftpQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// lftpReplies counts the error replies in an lftp debug log ("<--- 425 …"
// lines). lftp's log does not say which of the parallel connections a reply
// belongs to, so a reply is keyed by its code and the start of its text.
// 500-504 (unknown command, not implemented) go to unsupported: they say
// what a server lacks, not that a transfer failed; vsftpd's "500 OOPS" is
// a failure all the same.
func lftpReplies(path string) (fails, unsupported map[string]int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return map[string]int{"no lftp log": 1}, nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		i := strings.Index(l, "<--- ")
		if i < 0 {
			continue
		}
		reply := l[i+len("<--- "):]
		if len(reply) < 4 || reply[3] != ' ' || (reply[0] != '4' && reply[0] != '5') {
			continue // not a final reply line, or a success
		}
		code, err := strconv.Atoi(reply[:3])
		if err != nil {
			continue
		}
		text := strings.TrimSpace(reply[4:])
		key := reply[:3] + " " + shorten(text, 48)
		// vsftpd reports its fatal errors as "500 OOPS: ..." and ends the
		// session: a failure, not a command it lacks.
		if code >= 500 && code <= 504 && !strings.HasPrefix(text, "OOPS") {
			unsupported = addCount(unsupported, key)
		} else {
			fails = addCount(fails, key)
		}
	}
	return fails, unsupported
}

// WANClientResult is what `ftpbench wanclient` prints, as JSON.
type WANClientResult struct {
	Seconds  float64            `json:"seconds"`
	OK       int                `json:"ok"`
	Failures map[string]int     `json:"failures,omitempty"`
	Err      string             `json:"error,omitempty"`
	Stages   map[string]float64 `json:"stages,omitempty"`
}

// runClient runs `ftpbench wanclient` in the namespace and decodes its result.
func (b *Bench) runClient(ns string, args ...string) WANClientResult {
	w := b.Cfg.WAN
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout())
	defer cancel()
	full := append([]string{"netns", "exec", ns, w.Self, "wanclient", "-c", w.ConfigPath}, args...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r WANClientResult
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		msg := fmt.Sprintf("wanclient %s: %v %v: %s", strings.Join(args, " "), err, jerr, shorten(stderr.String(), 300))
		if ctx.Err() != nil {
			msg = fmt.Sprintf("wanclient %s did not finish in %s", strings.Join(args, " "), w.timeout())
		}
		return WANClientResult{Err: msg}
	}
	return r
}

// wanConc is Clients clients at once, each logging in and downloading the
// ConcMiB file (checksummed) through the tunnel.
func (b *Bench) wanConc(a *wanAcc, round int, ns string, s Server) {
	w := b.Cfg.WAN
	tw := TimeWaitOn(b.Cfg.Passive.First, b.Cfg.Passive.Last)
	var r WANClientResult
	b.profiled(s, fmt.Sprintf("wan-rtt%d-conc-r%d", a.rtt, round+1), func() {
		r = b.runClient(ns, "-server", s.Name, "-kind", "conc", "-n", strconv.Itoa(w.Clients))
	})
	extra := map[string]any{"clients": w.Clients, "tw_before": tw, "wall_s": round3(r.Seconds)}
	okS := wanSample{value: float64(r.OK), ok: r.OK, failures: r.Failures, extra: extra, err: r.Err}
	a.add(round, s.Name, WANMetric(a.rtt, fmt.Sprintf("conc%d_ok", w.Clients)), "clients", okS)
	wall := wanSample{value: round3(r.Seconds), ok: r.OK, extra: extra, err: r.Err}
	if r.Err == "" && r.OK < w.Clients {
		wall.note = fmt.Sprintf("%d of %d clients failed", w.Clients-r.OK, w.Clients)
		wall.partial = true
	}
	a.add(round, s.Name, WANMetric(a.rtt, fmt.Sprintf("conc%d_wall_s", w.Clients)), "s", wall)
	b.logf("wan %d ms %-10s %d clients x %d MiB: %d ok in %.2fs %v  TIME_WAIT %d%s",
		a.rtt, s.Name, w.Clients, w.ConcMiB, r.OK, r.Seconds, r.Failures, tw, errSuffix(r.Err))
}

// wanBulk is one RETR or STOR of the bulk file (or the raw stream, for
// LimitServer), checksummed.
func (b *Bench) wanBulk(a *wanAcc, round int, ns string, s Server, dir string) {
	w := b.Cfg.WAN
	kind := dir
	if s.Name == LimitServer {
		kind = "raw" + dir
	}
	var r WANClientResult
	b.profiled(s, fmt.Sprintf("wan-rtt%d-bulk-%s-r%d", a.rtt, dir, round+1), func() {
		r = b.runClient(ns, "-server", s.Name, "-kind", kind)
	})
	smp := wanSample{extra: map[string]any{"mib": w.BulkMiB, "seconds": round3(r.Seconds)}, err: r.Err}
	if r.Err == "" {
		smp.value = round3(float64(w.BulkMiB) / r.Seconds)
		smp.ok = 1
	} else {
		smp.failures = map[string]int{shorten(r.Err, 60): 1}
	}
	a.add(round, s.Name, WANMetric(a.rtt, "bulk_"+dir+"_mibps"), "MiB/s", smp)
	b.logf("wan %d ms %-10s bulk %s %d MiB: %.1f MiB/s%s", a.rtt, s.Name, dir, w.BulkMiB, smp.value, errSuffix(r.Err))
}

// wanStagesFigure times the stages of sequential downloads in one session,
// or in several at once (see wanStages): where a file's time goes, server
// by server. With 10 sessions on 5 ports, the PASV stage holds the wait
// for a port.
func (b *Bench) wanStagesFigure(a *wanAcc, ns string, s Server, sessions int) {
	n := min(b.Cfg.WAN.Files/sessions, 50)
	var r WANClientResult
	name := "stages_file_ms"
	if sessions > 1 {
		name = fmt.Sprintf("stages_s%d_file_ms", sessions)
	}
	b.profiled(s, fmt.Sprintf("wan-rtt%d-%s", a.rtt, strings.TrimSuffix(name, "_file_ms")), func() {
		r = b.runClient(ns, "-server", s.Name, "-kind", "stages", "-n", strconv.Itoa(n), "-sessions", strconv.Itoa(sessions))
	})
	extra := map[string]any{"files": n * sessions, "sessions": sessions, "stages_ms": r.Stages, "seconds": round3(r.Seconds)}
	smp := wanSample{value: round3(r.Stages["file"]), ok: r.OK, failures: r.Failures, extra: extra, err: r.Err}
	if r.Err == "" && len(r.Failures) > 0 {
		smp.note = fmt.Sprintf("%d of %d files failed", n*sessions-r.OK, n*sessions)
	}
	a.add(0, s.Name, WANMetric(a.rtt, name), "ms", smp)
	b.logf("wan %d ms %-10s %d session(s) x %d files one by one: per file %v %v%s", a.rtt, s.Name, sessions, n, r.Stages, r.Failures, errSuffix(r.Err))
}
