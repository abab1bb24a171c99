package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/tunnelftpd/tunnelftpd/metrics"
)

const metricsUsage = `Usage: tunnelftpd metrics [-c FILE] [-o FILE]

Prints the daemon's Prometheus metrics in the text exposition format, read from
the registry directory of the config (registry_dir): the same figures as the
[metrics] listen endpoint, for every process of the daemon, so that they also
exist in per-connection modes (inetd, systemd Accept=yes) where nothing listens.
For node_exporter's textfile collector, run it from a timer or cron with -o:

  tunnelftpd metrics -o /var/lib/prometheus/node-exporter/tunnelftpd.prom

Flags:
`

func cmdMetrics(args []string, stdout, stderr io.Writer) int {
	sc, path := adminCommand("metrics", metricsUsage, stdout, stderr)
	out := sc.String("o", "", "write to this file (replaced atomically, mode 0644) instead of standard output")
	cfg, code, done := adminSetup(sc, path, args)
	if done {
		return code
	}
	var buf bytes.Buffer
	if err := metrics.WriteText(&buf, metricsSource(cfg)); err != nil {
		fmt.Fprintln(stderr, "tunnelftpd metrics:", err)
		return 1
	}
	if *out == "" {
		stdout.Write(buf.Bytes()) //nolint:errcheck // nothing to do about a closed stdout
		return 0
	}
	if err := writeFileAtomic(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(stderr, "tunnelftpd metrics:", err)
		return 1
	}
	return 0
}
