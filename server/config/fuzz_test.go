package config

// Fuzz target (issue 6, item 3). `go test` runs the seed corpus in
// testdata/fuzz/FuzzParseConfig/ and the seeds added below; .ci/run fuzzes
// it for a bounded number of inputs:
//
//	go test -run='^$' -fuzz='^FuzzParseConfig$' -fuzztime=150000x -fuzzminimizetime=10x ./server/config/

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParseConfig: Parse never panics, and every error it returns is
// a non-empty Errors whose entries name the file (and a sane line).
// A config it accepts is valid: its derived fields are consistent.
func FuzzParseConfig(f *testing.F) {
	if sample, err := os.ReadFile("../../etc/tunnelftpd.toml"); err == nil {
		f.Add(sample)
	}
	f.Add([]byte(""))
	f.Add([]byte("listen = \"127.0.0.1:2121\"\n[passive]\nports = \"22000-22004\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "/etc/tunnelftpd/fuzz.toml"
		cfg, err := Parse(name, data)
		if err != nil {
			if cfg != nil {
				t.Errorf("both a config and an error: %v", err)
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is %T (%v), want a non-empty Errors", err, err)
			}
			lines := strings.Count(string(data), "\n") + 1
			for _, e := range errs {
				if e.File != name {
					t.Errorf("error %q names file %q, want %q", e.Error(), e.File, name)
				}
				if e.Line < 0 || e.Line > lines {
					t.Errorf("error %q at line %d of a %d-line file", e.Error(), e.Line, lines)
				}
				if e.Msg == "" {
					t.Errorf("error without a message: %+v", e)
				}
			}
			return
		}
		if cfg.File != name || cfg.Passive.First < 1 || cfg.Passive.First > cfg.Passive.Last ||
			cfg.Passive.Last > 65535 || cfg.MaxSessions < 1 {
			t.Errorf("accepted an inconsistent config: %+v", cfg)
		}
		if _, err := cfg.WriteTOML(); err != nil {
			t.Errorf("accepted config cannot be printed: %v", err)
		}
	})
}
