package metrics

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tunnelftpd/tunnelftpd/registry"
)

// parse reads the text format with the client library's own parser.
func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("the Prometheus parser refused the output: %v\n%s", err, text)
	}
	return mfs
}

// value is the sample of family name whose labels are exactly want ("k=v" pairs), or -1.
func value(mfs map[string]*dto.MetricFamily, name string, want ...string) float64 {
	mf, ok := mfs[name]
	if !ok {
		return -1
	}
	sort.Strings(want)
	for _, m := range mf.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return -1
}

// fixture is a registry with four sessions and some counted events.
func fixture(t *testing.T) (Source, *registry.Registry) {
	t.Helper()
	dir := t.TempDir()
	reg, err := registry.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	for i, e := range []registry.Entry{
		{Kind: "virtual", Class: "partner", PasvPort: 22001},
		{Kind: "virtual", Class: "partner"},
		{Kind: "anonymous"},
		{}, // not logged in yet
	} {
		e.Session = uint64(i + 1)
		if _, err := reg.Join(e); err != nil {
			t.Fatal(err)
		}
	}
	c, err := registry.OpenCounters(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rec := NewRecorder(c)
	rec.Login(true, "")
	rec.Login(true, "")
	rec.Login(false, "bad_password")
	rec.Login(false, "user alice listed in /etc/ftpusers") // free text: bounded
	rec.Transfer(true, true, 1000)
	rec.Transfer(false, true, 5000)
	rec.Transfer(false, true, 7000)
	rec.Transfer(false, false, 300)
	rec.PasvWait()
	rec.PasvFailure()
	rec.LimitRefusal("class")
	rec.LimitRefusal("max_sessions")
	rec.LimitRefusal("class")
	src := Source{Dir: dir, PassivePorts: 5, Classes: []Class{{"partner", 8}, {"mirror", 0}},
		Shutdown: func() (float64, bool) { return 1.8e9, true }}
	return src, reg
}

func TestWriteTextParsesAndMatches(t *testing.T) {
	src, _ := fixture(t)
	var buf bytes.Buffer
	if err := WriteText(&buf, src); err != nil {
		t.Fatal(err)
	}
	mfs := parse(t, buf.Bytes())
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{Sessions, []string{"kind=virtual", "class=partner"}, 2},
		{Sessions, []string{"kind=anonymous", "class=none"}, 1},
		{Sessions, []string{"kind=none", "class=none"}, 1},
		{Sessions, []string{"kind=none", "class=mirror"}, 0}, // every class has a series
		{ClassMaxSessions, []string{"class=partner"}, 8},
		{ClassMaxSessions, []string{"class=mirror"}, 0},
		{PassivePorts, nil, 5},
		{PassivePortsBusy, nil, 1},
		{Logins, []string{"result=ok", "reason="}, 2},
		{Logins, []string{"result=failed", "reason=bad_password"}, 1},
		{Logins, []string{"result=failed", "reason=other"}, 1},
		{Transfers, []string{"direction=upload", "result=complete"}, 1},
		{Transfers, []string{"direction=download", "result=complete"}, 2},
		{Transfers, []string{"direction=download", "result=incomplete"}, 1},
		{Transfers, []string{"direction=upload", "result=incomplete"}, 0}, // seeded at 0
		{TransferBytes, []string{"direction=download", "result=complete"}, 12000},
		{TransferBytes, []string{"direction=upload", "result=complete"}, 1000},
		{TransferBytes, []string{"direction=download", "result=incomplete"}, 300},
		{PasvWaits, nil, 1},
		{PasvFailures, nil, 1},
		{LimitRefusals, []string{"limit=class"}, 2},
		{LimitRefusals, []string{"limit=max_sessions"}, 1},
		{ShutdownScheduled, nil, 1.8e9},
	} {
		if got := value(mfs, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if mfs[Logins].GetType() != dto.MetricType_COUNTER || mfs[Sessions].GetType() != dto.MetricType_GAUGE {
		t.Errorf("types: logins %v, sessions %v", mfs[Logins].GetType(), mfs[Sessions].GetType())
	}
	problems, err := promlint.New(bytes.NewReader(buf.Bytes())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// A registry where no daemon ever ran still gives well-formed metrics, all at zero.
func TestEmptyRegistry(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, Source{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	mfs := parse(t, buf.Bytes())
	if got := value(mfs, Sessions, "kind=none", "class=none"); got != 0 {
		t.Errorf("sessions = %v, want 0", got)
	}
	if got := value(mfs, Transfers, "direction=upload", "result=complete"); got != 0 {
		t.Errorf("transfers = %v, want 0", got)
	}
	if _, ok := mfs[ShutdownScheduled]; ok {
		t.Error("a shutdown is reported without a shutdown source")
	}
}

// Counters of another version (unknown names, other labels) are left out, not turned into an
// inconsistent family that would make the whole scrape fail.
func TestForeignCountersIgnored(t *testing.T) {
	src := Source{Dir: t.TempDir(), Counters: func() ([]registry.Sample, error) {
		return []registry.Sample{
			{Name: Logins, Labels: []registry.Label{{Name: "result", Value: "ok"}}, Value: 9}, // missing reason
			{Name: "tunnelftpd_something_else", Value: 3},
			{Name: Sessions, Value: 4}, // a gauge name among counters
			{Name: PasvWaits, Value: 2},
		}, nil
	}}
	var buf bytes.Buffer
	if err := WriteText(&buf, src); err != nil {
		t.Fatal(err)
	}
	mfs := parse(t, buf.Bytes())
	if got := value(mfs, PasvWaits); got != 2 {
		t.Errorf("pasv waits = %v, want 2", got)
	}
	if got := value(mfs, Logins, "result=ok"); got != -1 {
		t.Errorf("a logins sample with the wrong labels was exported")
	}
	if _, ok := mfs["tunnelftpd_something_else"]; ok {
		t.Error("an unknown counter was exported")
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"partner": "partner", "bad_password": "bad_password", "": "", "a.b-c_9": "a.b-c_9",
		"two words": "other", "é": "other", strings.Repeat("a", 65): "other", `x"y`: "other",
	} {
		if got := LabelValue(in); got != want {
			t.Errorf("LabelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"", false, true},
		{"127.0.0.1:9121", false, true},
		{"[::1]:9121", false, true},
		{"localhost:9121", false, true},
		{"/run/tunnelftpd/metrics.sock", false, true},
		{"0.0.0.0:9121", false, false},
		{"192.0.2.1:9121", false, false},
		{"192.0.2.1:9121", true, true},
		{":9121", false, false}, // every address
		{"metrics.example:9121", true, false},
		{"127.0.0.1", false, false},
		{"/run/../tmp/m.sock", false, false},
		{"relative.sock", false, false},
	} {
		err := CheckListen(tc.addr, tc.remote)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListen(%q, %v) = %v, want ok %v", tc.addr, tc.remote, err, tc.ok)
		}
	}
}

func scrape(t *testing.T, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v\n%s", url, resp.Status, err, body)
	}
	return parse(t, body)
}

func TestServeTCPAndUnix(t *testing.T) {
	src, reg := fixture(t)
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Serve(l, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := fmt.Sprintf("http://%s/metrics", srv.Addr())
	mfs := scrape(t, http.DefaultClient, url)
	if got := value(mfs, Sessions, "kind=virtual", "class=partner"); got != 2 {
		t.Errorf("sessions{virtual,partner} = %v, want 2", got)
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("the listener does not export the process's Go metrics")
	}
	// The figures are read at each scrape.
	s, err := reg.Join(registry.Entry{Session: 9, Kind: "virtual", Class: "partner"})
	if err != nil {
		t.Fatal(err)
	}
	if got := value(scrape(t, http.DefaultClient, url), Sessions, "kind=virtual", "class=partner"); got != 3 {
		t.Errorf("after a join: %v, want 3", got)
	}
	s.Leave()

	sock := filepath.Join(t.TempDir(), "metrics.sock")
	ul, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	usrv, err := Serve(ul, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	unixClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "unix", sock)
	}}}
	if got := value(scrape(t, unixClient, "http://tunnelftpd/metrics"), PassivePortsBusy); got != 1 {
		t.Errorf("passive ports busy over the unix socket = %v, want 1", got)
	}
	// A second daemon cannot take the socket of a running one.
	if _, err := Listen(sock); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("Listen on a socket in use: %v", err)
	}
	usrv.Close()
	// A stale socket file (the daemon was killed) is replaced; a file that is no socket is not.
	stale := filepath.Join(t.TempDir(), "stale.sock")
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()
	if l, err := Listen(stale); err != nil {
		t.Errorf("Listen over a stale socket: %v", err)
	} else {
		l.Close()
	}
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
}
