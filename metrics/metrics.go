// Package metrics is tunnelftpd's Prometheus side: the names, labels and help of every metric,
// the Recorder the server counts its events with, and the collector that turns the session
// registry (package registry) into metrics, served over HTTP on [metrics] listen (Serve) or
// written as text for node_exporter's textfile collector (WriteText, `tunnelftpd metrics`).
//
// Every figure comes from the registry directory, never from one process's memory: sessions from
// its scoreboard, totals from its shared counters. A daemon of one process per connection
// (inetd, systemd Accept=yes, per-session children) therefore reports the same figures as a
// standalone one, and `tunnelftpd metrics` run by cron sees what the HTTP listener would.
//
// It must not know FTP commands, read the config file or touch user files; label values that
// come from outside (class names, refusal reasons) are bounded here so that no client input can
// make a series of its own.
package metrics

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/tunnelftpd/tunnelftpd/registry"
)

// Metric names. Counters are kept in the registry's counters file under these names.
const (
	Sessions          = "tunnelftpd_sessions"
	ClassMaxSessions  = "tunnelftpd_class_max_sessions"
	PassivePorts      = "tunnelftpd_passive_ports"
	PassivePortsBusy  = "tunnelftpd_passive_ports_busy"
	Logins            = "tunnelftpd_logins_total"
	Transfers         = "tunnelftpd_transfers_total"
	TransferBytes     = "tunnelftpd_transfer_bytes_total"
	PasvWaits         = "tunnelftpd_pasv_waits_total"
	PasvFailures      = "tunnelftpd_pasv_failures_total"
	LimitRefusals     = "tunnelftpd_limit_refusals_total"
	RegistryErrors    = "tunnelftpd_registry_errors_total"
	ShutdownScheduled = "tunnelftpd_shutdown_scheduled_timestamp_seconds"
)

// family describes one metric: its help, type and label names.
type family struct {
	help   string
	typ    prometheus.ValueType
	labels []string
}

var families = map[string]family{
	Sessions:          {"Sessions running now, by kind of account (none: not logged in yet) and session class (none: no class).", prometheus.GaugeValue, []string{"kind", "class"}},
	ClassMaxSessions:  {"The max_sessions of each session class (0: no limit).", prometheus.GaugeValue, []string{"class"}},
	PassivePorts:      {"Ports in the passive range.", prometheus.GaugeValue, nil},
	PassivePortsBusy:  {"Passive ports listening for a data connection now (from PASV/EPSV until the client connects).", prometheus.GaugeValue, nil},
	Logins:            {"Login attempts by result (ok, failed) and reason of a failure.", prometheus.CounterValue, []string{"result", "reason"}},
	Transfers:         {"File transfers by direction (upload, download) and result (complete, incomplete).", prometheus.CounterValue, []string{"direction", "result"}},
	TransferBytes:     {"Bytes moved by file transfers, by direction and result.", prometheus.CounterValue, []string{"direction", "result"}},
	PasvWaits:         {"PASV/EPSV commands that had to wait for a free passive port.", prometheus.CounterValue, nil},
	PasvFailures:      {"PASV/EPSV commands answered 425 (no passive port became free in time, or none could be opened).", prometheus.CounterValue, nil},
	LimitRefusals:     {"Connections and logins refused by a limit (max_sessions, max_sessions_per_ssh_user, class, shutdown, ...).", prometheus.CounterValue, []string{"limit"}},
	RegistryErrors:    {"Sessions that could not be written to the registry (they run, but who/count/metrics miss them).", prometheus.CounterValue, nil},
	ShutdownScheduled: {"Unix time of the shutdown announced in the shutdown file (absent when none is).", prometheus.GaugeValue, nil},
}

// counterSeeds are the label values of counters that are exported at 0 before their first
// event, so that rate() and increase() see them start.
var counterSeeds = map[string][][]string{
	Transfers:     {{"upload", "complete"}, {"upload", "incomplete"}, {"download", "complete"}, {"download", "incomplete"}},
	TransferBytes: {{"upload", "complete"}, {"upload", "incomplete"}, {"download", "complete"}, {"download", "incomplete"}},
	Logins:        {{"ok", ""}},
	PasvWaits:     {nil},
	PasvFailures:  {nil},
}

// LabelValue bounds a label value that comes from outside the code (a class name, a refusal
// reason): lower-case letters, digits, '_', '-' and '.', at most 64 of them; anything else
// becomes "other".
func LabelValue(s string) string {
	if s == "" || len(s) > 64 {
		return cond(s == "", "", "other")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return "other"
		}
	}
	return s
}

func cond(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// Class is a session class and its limit, for ClassMaxSessions and for the sessions gauge's
// zero series.
type Class struct {
	Name        string
	MaxSessions int // 0: no limit
}

// Source is what the collector reads. Sessions and Counters default to reading Dir.
type Source struct {
	// Dir is the registry directory.
	Dir string
	// Sessions lists the live sessions; nil reads Dir (registry.ReadDir).
	Sessions func() ([]registry.Entry, error)
	// Counters returns the counters; nil reads Dir (registry.ReadCounters).
	Counters func() ([]registry.Sample, error)
	// PassivePorts is the size of the passive range (0: not exported).
	PassivePorts int
	// Classes are the configured session classes.
	Classes []Class
	// Shutdown returns the announced shutdown time as Unix seconds, ok false for none; nil: not
	// exported.
	Shutdown func() (unix float64, ok bool)
}

func (src *Source) sessions() ([]registry.Entry, error) {
	if src.Sessions != nil {
		return src.Sessions()
	}
	return registry.ReadDir(src.Dir)
}

func (src *Source) counters() ([]registry.Sample, error) {
	if src.Counters != nil {
		return src.Counters()
	}
	return registry.ReadCounters(src.Dir)
}

// Collector is a prometheus.Collector of the registry's figures. It describes nothing up front
// (an unchecked collector): the class and reason series are only known when collecting.
type Collector struct {
	src Source
	// errDesc reports a registry that could not be read.
	errDesc *prometheus.Desc
}

// NewCollector returns the collector of src.
func NewCollector(src Source) *Collector {
	return &Collector{src: src, errDesc: prometheus.NewDesc("tunnelftpd_registry_read_error",
		"The registry could not be read (see the error label).", []string{"error"}, nil)}
}

// Describe sends nothing: Collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads the registry and sends every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	descs := map[string]*prometheus.Desc{}
	desc := func(name string) *prometheus.Desc {
		if d, ok := descs[name]; ok {
			return d
		}
		f := families[name]
		d := prometheus.NewDesc(name, f.help, f.labels, nil)
		descs[name] = d
		return d
	}
	emit := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc(name), families[name].typ, v, labels...)
	}
	readErr := func(err error) {
		ch <- prometheus.MustNewConstMetric(c.errDesc, prometheus.GaugeValue, 1, err.Error())
	}

	if es, err := c.src.sessions(); err != nil {
		readErr(err)
	} else {
		type key struct{ kind, class string }
		n := map[key]int{{"none", "none"}: 0}
		for _, cl := range c.src.Classes {
			n[key{"none", LabelValue(cl.Name)}] = 0
		}
		busy := 0
		for _, e := range es {
			n[key{cmpOr(LabelValue(e.Kind), "none"), cmpOr(LabelValue(e.Class), "none")}]++
			if e.PasvPort != 0 {
				busy++
			}
		}
		for k, v := range n {
			emit(Sessions, float64(v), k.kind, k.class)
		}
		if c.src.PassivePorts > 0 {
			emit(PassivePorts, float64(c.src.PassivePorts))
		}
		emit(PassivePortsBusy, float64(busy))
	}
	for _, cl := range c.src.Classes {
		emit(ClassMaxSessions, float64(cl.MaxSessions), LabelValue(cl.Name))
	}
	if c.src.Shutdown != nil {
		if at, ok := c.src.Shutdown(); ok {
			emit(ShutdownScheduled, at)
		}
	}

	samples, err := c.src.counters()
	if err != nil {
		readErr(err)
	}
	seen := map[string]bool{}
	for _, s := range samples {
		f, ok := families[s.Name]
		if !ok || f.typ != prometheus.CounterValue || len(s.Labels) != len(f.labels) {
			continue // not ours, or from another version
		}
		values := make([]string, len(s.Labels))
		for i, l := range s.Labels {
			if l.Name != f.labels[i] {
				values = nil
				break
			}
			values[i] = l.Value
		}
		if values == nil && len(f.labels) > 0 {
			continue
		}
		seen[s.Name+"\x00"+strings.Join(values, "\x00")] = true
		emit(s.Name, float64(s.Value), values...)
	}
	for name, seeds := range counterSeeds {
		for _, values := range seeds {
			if !seen[name+"\x00"+strings.Join(values, "\x00")] {
				emit(name, 0, values...)
			}
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Gather collects src into metric families, sorted by name.
func Gather(src Source) ([]*dto.MetricFamily, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(src)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("collecting metrics: %w", err)
	}
	return mfs, nil
}

// WriteText writes src's metrics in the Prometheus text format (what node_exporter's textfile
// collector reads).
func WriteText(w io.Writer, src Source) error {
	mfs, err := Gather(src)
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return fmt.Errorf("writing metrics: %w", err)
		}
	}
	return nil
}

// Recorder counts the server's events in the registry's counters. The zero value and a nil
// *Recorder count nothing, so that a server without a registry needs no checks.
type Recorder struct {
	c *registry.Counters
	// OnError, if set, is told of a failed count (the counters file is full, say).
	OnError func(error)
}

// NewRecorder counts into c.
func NewRecorder(c *registry.Counters) *Recorder { return &Recorder{c: c} }

func (r *Recorder) add(name string, delta uint64, labels ...registry.Label) {
	if r == nil || r.c == nil {
		return
	}
	if err := r.c.Add(name, delta, labels...); err != nil && r.OnError != nil {
		r.OnError(err)
	}
}

// Login counts a login attempt: ok, or failed with a reason (bounded by LabelValue).
func (r *Recorder) Login(ok bool, reason string) {
	if ok {
		r.add(Logins, 1, registry.Label{Name: "result", Value: "ok"}, registry.Label{Name: "reason", Value: ""})
		return
	}
	r.add(Logins, 1, registry.Label{Name: "result", Value: "failed"}, registry.Label{Name: "reason", Value: cmpOr(LabelValue(reason), "other")})
}

// Transfer counts a finished file transfer and its bytes.
func (r *Recorder) Transfer(upload, complete bool, bytes int64) {
	labels := []registry.Label{{Name: "direction", Value: cond(upload, "upload", "download")},
		{Name: "result", Value: cond(complete, "complete", "incomplete")}}
	r.add(Transfers, 1, labels...)
	if bytes > 0 {
		r.add(TransferBytes, uint64(bytes), labels...)
	}
}

// PasvWait counts a PASV/EPSV that had to wait for a free port.
func (r *Recorder) PasvWait() { r.add(PasvWaits, 1) }

// PasvFailure counts a PASV/EPSV answered 425.
func (r *Recorder) PasvFailure() { r.add(PasvFailures, 1) }

// LimitRefusal counts a connection or login refused by a limit (bounded by LabelValue).
func (r *Recorder) LimitRefusal(limit string) {
	r.add(LimitRefusals, 1, registry.Label{Name: "limit", Value: cmpOr(LabelValue(limit), "other")})
}

// RegistryError counts a session that could not be registered.
func (r *Recorder) RegistryError() { r.add(RegistryErrors, 1) }

// Names lists every metric name this package exports, sorted.
func Names() []string {
	var out []string
	for n := range families {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
