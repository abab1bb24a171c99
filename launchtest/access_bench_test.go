package launchtest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// tenRules are ten [[rules]] that all apply to alice and that every operation walks to the end
// (the last matches every path): the cost of a policy on transfers.
func tenRules() string {
	var b strings.Builder
	for i := range 9 {
		fmt.Fprintf(&b, "\n[[rules]]\npath = \"/area%d/**\"\ndeny = [\"delete\", \"rename\"]\n", i)
	}
	b.WriteString("\n[[rules]]\npath = \"/**\"\ndeny = [\"mfmt\"]\n")
	return b.String()
}

// BenchmarkTenRules compares two daemons run side by side, in pairs (each operation on one,
// then at once on the other, the order alternating) so that the drift of a busy machine cancels
// out: the base, without rules, and this build with ten rules. The base is the binary named by
// TUNNELFTPD_BENCH_BASE (build it from the commit to compare with, e.g. main), else this build.
// Operations: RETR and STOR of a 256 MiB file (the sendfile and splice paths), and 500 small
// files up and down. It reports the median ratio of each pair's times (rules / base: 1.00 is no
// cost) and each side's median rate. Run it on tmpfs, so the disk stays out:
//
//	TMPDIR=/dev/shm go test -run '^$' -bench TenRules -benchtime 15x ./launchtest/
func BenchmarkTenRules(b *testing.B) {
	base := os.Getenv("TUNNELFTPD_BENCH_BASE")
	if base == "" {
		base = binary
	}
	big := make([]byte, 256<<20)
	rand.Read(big)
	small := bytes.Repeat([]byte("small file line\n"), 256) // 4 KiB
	var conns [2]*testutil.RawConn
	for i, side := range []struct{ bin, extra string }{{base, ""}, {binary, tenRules()}} {
		f := testutil.NewDaemon(b, side.bin, testutil.DaemonOptions{})
		f.WriteConfig(f.ConfigText() + side.extra)
		if err := os.WriteFile(filepath.Join(f.Root, "big.bin"), big, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(f.Root, "small"), 0o755); err != nil {
			b.Fatal(err)
		}
		f.Serve()
		conns[i] = f.Client()
	}
	ops := []struct {
		name  string
		bytes int64
		run   func(rc *testutil.RawConn)
	}{
		{"retr-256MiB", int64(len(big)), func(rc *testutil.RawConn) {
			if n := retrDiscard(b, rc, "big.bin"); n != int64(len(big)) {
				b.Fatalf("RETR got %d bytes", n)
			}
		}},
		{"stor-256MiB", int64(len(big)), func(rc *testutil.RawConn) { rc.Stor("up.bin", big) }},
		{"500-small-up-down", 2 * 500 * int64(len(small)), func(rc *testutil.RawConn) {
			for i := range 500 {
				rc.Stor(fmt.Sprintf("small/%d.txt", i), small)
			}
			for i := range 500 {
				retrDiscard(b, rc, fmt.Sprintf("small/%d.txt", i))
			}
		}},
	}
	times := make([][2][]time.Duration, len(ops))
	round := 0
	for b.Loop() {
		for k, op := range ops {
			for j := range 2 {
				i := (j + round) % 2 // alternate which side goes first
				began := time.Now()
				op.run(conns[i])
				times[k][i] = append(times[k][i], time.Since(began))
			}
		}
		round++
	}
	for k, op := range ops {
		var ratios []float64
		for r := range times[k][0] {
			ratios = append(ratios, float64(times[k][1][r])/float64(times[k][0][r]))
		}
		b.ReportMetric(median(ratios), op.name+"-rules/base")
		for i, side := range []string{"base", "rules"} {
			var rates []float64
			for _, d := range times[k][i] {
				rates = append(rates, float64(op.bytes)/(1<<20)/d.Seconds())
			}
			b.ReportMetric(median(rates), op.name+"-"+side+"-MiB/s")
		}
	}
}

// retrDiscard downloads name into io.Discard (the client's copy stays out of the figure) and
// returns the bytes received.
func retrDiscard(b *testing.B, rc *testutil.RawConn, name string) int64 {
	b.Helper()
	data := rc.OpenData()
	defer data.Close()
	rc.Expect(150, "RETR %s", name)
	n, err := io.Copy(io.Discard, data)
	if err != nil {
		b.Fatal(err)
	}
	if code, msg := rc.Reply(); code != 226 {
		b.Fatalf("RETR: %d %s", code, msg)
	}
	return n
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
