package launchtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// The admin tools (issue 15) through the real binary, against a daemon in each launch mode:
// who and count see the sessions of every process and none once they end or are killed; the
// shutdown command works on running daemons without a signal; the metrics match the
// transfers done.

// admin runs `tunnelftpd ARGS -c CONFIG` and returns its standard output; it fails the test
// unless the exit code is 0.
func admin(t *testing.T, f *testutil.Daemon, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append(args, "-c", f.Config)...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("tunnelftpd %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errs.String())
	}
	return out.String()
}

// whoSession is what the tests read of `who --json`.
type whoSession struct {
	PID     int    `json:"pid"`
	User    string `json:"user"`
	Kind    string `json:"kind"`
	Command string `json:"command"`
	Path    string `json:"path"`
	Bytes   int64  `json:"bytes"`
}

func who(t *testing.T, f *testutil.Daemon) []whoSession {
	t.Helper()
	var ss []whoSession
	out := admin(t, f, "who", "--json")
	if err := json.Unmarshal([]byte(out), &ss); err != nil {
		t.Fatalf("who --json: %v\n%s", err, out)
	}
	return ss
}

// waitWho waits until who lists n sessions, and returns them.
func waitWho(t *testing.T, f *testutil.Daemon, n int) []whoSession {
	t.Helper()
	var ss []whoSession
	testutil.WaitFor(t, 10*time.Second, 20*time.Millisecond, fmt.Sprintf("who to list %d sessions", n), func() bool {
		ss = who(t, f)
		return len(ss) == n
	})
	return ss
}

func TestWhoAndCount(t *testing.T) {
	for _, mode := range []string{"standalone", "inetd-nowait", "systemd-accept"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testutil.DaemonOptions{LogLevel: "debug"})
			var daemon *testutil.Process
			switch mode {
			case "standalone":
				daemon = serveStandalone(t, f)
			case "inetd-nowait":
				daemon = socketActivate(t, f, nil, []string{"--accept", "--inetd"}, binary, "serve", "--inetd", "-c", f.Config)
			case "systemd-accept":
				daemon = socketActivate(t, f, nil, []string{"--accept"}, binary, "serve", "-c", f.Config)
			}
			a := testutil.DialRaw(t, f.Addr)
			a.Login(testutil.DaemonUser, testutil.DaemonPassword)
			a.Expect(250, "CWD /")
			if got := a.Retr(testutil.HelloName); string(got) != testutil.HelloText {
				t.Fatalf("RETR: %q", got)
			}
			b := testutil.DialRaw(t, f.Addr)
			b.Login(testutil.DaemonUser, testutil.DaemonPassword)
			b.Expect(257, "PWD")

			ss := waitWho(t, f, 2)
			pids := map[int]bool{}
			for _, s := range ss {
				pids[s.PID] = true
				if s.User != testutil.DaemonUser || s.Kind != "virtual" || s.Path != "/" {
					t.Errorf("session %+v", s)
				}
			}
			if got := ss[0].Bytes; got != int64(len(testutil.HelloText)) || ss[0].Command != "RETR "+testutil.HelloName {
				t.Errorf("first session: bytes %d, command %q", got, ss[0].Command)
			}
			if mode == "standalone" {
				if len(pids) != 1 || !pids[daemon.Pid()] {
					t.Errorf("sessions in processes %v, want the daemon %d", pids, daemon.Pid())
				}
			} else if len(pids) != 2 || pids[daemon.Pid()] {
				t.Errorf("sessions in processes %v: want one process each, not the superserver's", pids)
			}
			table := admin(t, f, "who")
			if !regexp.MustCompile(`(?m)^\d+ +\d+ +alice +virtual .* PWD +/ `).MatchString(table) || !strings.HasSuffix(table, "2 sessions\n") {
				t.Errorf("who table:\n%s", table)
			}
			count := admin(t, f, "count")
			wantPorts := fmt.Sprintf("Passive ports %d-%d: 0 of %d busy", f.First, f.Last, f.Last-f.First+1)
			if !strings.Contains(count, "Service class (no class)           -   2 users (no maximum)") ||
				!strings.Contains(count, "Total                              -   2 users") || !strings.Contains(count, wantPorts) {
				t.Errorf("count:\n%s", count)
			}
			b.Epsv()
			if count := admin(t, f, "count"); !strings.Contains(count, ": 1 of ") {
				t.Errorf("count after an EPSV:\n%s", count)
			}

			a.Expect(221, "QUIT")
			ss = waitWho(t, f, 1)
			// Killed, the process leaves no session behind.
			if mode == "standalone" {
				daemon.Signal(syscall.SIGKILL)
			} else if err := syscall.Kill(ss[0].PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitGone(t, ss[0].PID, 10*time.Second)
			if ss := who(t, f); len(ss) != 0 {
				t.Errorf("after SIGKILL, who lists %+v", ss)
			}
			if count := admin(t, f, "count"); !strings.Contains(count, "Total                              -   0 users") {
				t.Errorf("count after SIGKILL:\n%s", count)
			}
		})
	}
}

// tunnelftpd shutdown +1 -l 1 -d 1 on a running daemon: the file's minute makes both the deny
// and the disconnect time the current minute, so they are in effect at once; the idle session
// is closed with the message, a new connection is refused with it, and --cancel admits logins
// again. (The minute-by-minute timeline is TestPlannedShutdownTimeline in package server, on
// an injected clock.)
func TestShutdownCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.DaemonOptions{})
	serveStandalone(t, f)
	idle := testutil.DialRaw(t, f.Addr)
	idle.Login(testutil.DaemonUser, testutil.DaemonPassword)

	out := admin(t, f, "shutdown", "+1", "-l", "1", "-d", "1", "Disk swap at %s, back soon")
	if !strings.Contains(out, "wrote "+f.RegistryDir()+"/shutmsg") {
		t.Errorf("shutdown said:\n%s", out)
	}
	code, msg, err := idle.TryReply() // unasked: the daemon closes the idle session
	if err != nil || code != 421 || !strings.Contains(msg, "421-Disk swap at ") || !strings.Contains(msg, "back soon") {
		t.Fatalf("idle session: %d %q %v", code, msg, err)
	}
	_, err = testutil.TryDialRaw(nil, f.Addr)
	if err == nil || !strings.Contains(err.Error(), "421") || !strings.Contains(err.Error(), "Disk swap at") {
		t.Fatalf("new connection during the shutdown: %v", err)
	}
	f.WaitLog(regexp.MustCompile(`msg="planned shutdown announced"`), 5*time.Second)

	if out := admin(t, f, "shutdown", "--cancel"); !strings.Contains(out, "removed; logins are accepted again") {
		t.Errorf("shutdown --cancel said:\n%s", out)
	}
	testutil.WaitFor(t, 5*time.Second, 20*time.Millisecond, "logins accepted again", func() bool {
		rc, err := testutil.TryDialRaw(nil, f.Addr)
		if err != nil {
			return false
		}
		defer rc.Close()
		return rc.TryLogin(testutil.DaemonUser, testutil.DaemonPassword) == nil
	})
}

func parseMetrics(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("the Prometheus parser refused the metrics: %v\n%s", err, text)
	}
	return mfs
}

// sample is the value of name with exactly labels ("k=v"), or -1.
func sample(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf, ok := mfs[name]
	if !ok {
		return -1
	}
	for _, m := range mf.Metric {
		var got []string
		for _, l := range m.Label {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(got, ",") != strings.Join(labels, ",") {
			continue
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	return -1
}

// The metrics endpoint of a standalone daemon and `tunnelftpd metrics` of an inetd one, scraped
// and parsed by Prometheus's own parser, count exactly the transfers and logins done.
func TestMetricsMatchTransfers(t *testing.T) {
	for _, mode := range []string{"standalone", "inetd-nowait"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testutil.DaemonOptions{LogLevel: "debug"})
			listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
			f.WriteConfig(f.ConfigText() + fmt.Sprintf("[metrics]\nlisten = %q\n", listen))
			if mode == "standalone" {
				serveStandalone(t, f)
				f.WaitLog(regexp.MustCompile(`msg="metrics endpoint listening"`), 5*time.Second)
			} else {
				socketActivate(t, f, nil, []string{"--accept", "--inetd"}, binary, "serve", "--inetd", "-c", f.Config)
			}
			upload := bytes.Repeat([]byte("u"), 12345)
			for range 2 {
				rc := testutil.DialRaw(t, f.Addr)
				rc.Login(testutil.DaemonUser, testutil.DaemonPassword)
				rc.Retr(testutil.HelloName)
				rc.Stor("up.bin", upload)
				rc.Expect(221, "QUIT")
			}
			bad := testutil.DialRaw(t, f.Addr)
			bad.Expect(331, "USER %s", testutil.DaemonUser)
			bad.Expect(530, "PASS not-the-password")
			bad.Close()
			waitWho(t, f, 0)

			var text []byte
			if mode == "standalone" {
				resp, err := http.Get("http://" + listen + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				text, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("scrape: %s %v", resp.Status, err)
				}
			} else {
				text = []byte(admin(t, f, "metrics"))
			}
			mfs := parseMetrics(t, text)
			hello := float64(len(testutil.HelloText))
			for _, c := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"tunnelftpd_transfers_total", []string{"direction=download", "result=complete"}, 2},
				{"tunnelftpd_transfers_total", []string{"direction=upload", "result=complete"}, 2},
				{"tunnelftpd_transfers_total", []string{"direction=download", "result=incomplete"}, 0},
				{"tunnelftpd_transfer_bytes_total", []string{"direction=download", "result=complete"}, 2 * hello},
				{"tunnelftpd_transfer_bytes_total", []string{"direction=upload", "result=complete"}, 2 * float64(len(upload))},
				{"tunnelftpd_logins_total", []string{"reason=", "result=ok"}, 2},
				{"tunnelftpd_logins_total", []string{"reason=bad_login", "result=failed"}, 1},
				{"tunnelftpd_sessions", []string{"class=none", "kind=none"}, 0},
				{"tunnelftpd_passive_ports", nil, float64(f.Last - f.First + 1)},
				{"tunnelftpd_passive_ports_busy", nil, 0},
			} {
				if got := sample(mfs, c.name, c.labels...); got != c.want {
					t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
				}
			}
			if mode == "standalone" {
				if _, ok := mfs["process_open_fds"]; !ok {
					t.Error("the endpoint lacks the process metrics")
				}
				// The text for the textfile collector has the same counts.
				if got := sample(parseMetrics(t, []byte(admin(t, f, "metrics"))), "tunnelftpd_transfers_total", "direction=upload", "result=complete"); got != 2 {
					t.Errorf("tunnelftpd metrics: uploads %v, want 2", got)
				}
			}
		})
	}
}
