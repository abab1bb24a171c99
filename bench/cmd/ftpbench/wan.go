package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/tunnelftpd/tunnelftpd/bench"
)

// cmdWANClient is `ftpbench wanclient`: one client figure of the WAN phase,
// run by the phase inside a client namespace; it prints a
// bench.WANClientResult as JSON on stdout.
func cmdWANClient(args []string) error {
	var server, kind string
	var n, sessions int
	cfg, _, err := loadFlags("wanclient", args, func(fs *flag.FlagSet) {
		fs.StringVar(&server, "server", "", "server name from the config, or \"limit\" for the raw stream")
		fs.StringVar(&kind, "kind", "", "conc, retr, stor, rawretr, rawstor or stages")
		fs.IntVar(&n, "n", 1, "clients (conc) or files per session (stages)")
		fs.IntVar(&sessions, "sessions", 1, "sessions at once (stages)")
	})
	if err != nil {
		return err
	}
	r := bench.WANClient(cfg, server, kind, n, sessions)
	return json.NewEncoder(os.Stdout).Encode(r)
}

// cmdChartData is `ftpbench chartdata`: the panels of bench/tools' chart
// (one per figure of the table, one bar per server) as JSON.
func cmdChartData(args []string) error {
	var in, out string
	cfg, _, err := loadFlags("chartdata", args, func(fs *flag.FlagSet) {
		fs.StringVar(&in, "in", "results.jsonl", "JSON-lines results")
		fs.StringVar(&out, "out", "panels.json", "panels JSON to write")
	})
	if err != nil {
		return err
	}
	results, err := bench.ReadResults(in)
	if err != nil {
		return err
	}
	spec := bench.Chart(results, cfg)
	if len(spec.Panels) == 0 {
		return fmt.Errorf("chartdata: no figures in %s", in)
	}
	b, err := json.MarshalIndent(spec, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}
