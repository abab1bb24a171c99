package access

import "testing"

// tenRules is a realistic policy of ten rules; the paths benchmarked below match the last one or
// none, so every decision walks all ten.
var tenRules = Input{Rules: []RuleConfig{
	{Path: "/incoming", Who: []string{"@anonymous"}, Deny: []string{"list"}},
	{Path: "/incoming/**", Who: []string{"@anonymous"}, Allow: []string{"upload", "mkdir"}, Mode: "0600"},
	{Path: "/pub/private/**", Deny: []string{"retrieve"}},
	{Path: "/pub/*.iso", Deny: []string{"overwrite", "delete"}},
	{Path: "/pub/**/README", Deny: []string{"delete", "rename", "overwrite"}},
	{Path: "/partners/*/in/**", Who: []string{"@group:partners"}, Allow: []string{"upload", "list"}},
	{Path: "/partners/*/out/**", Who: []string{"@group:partners"}, Allow: []string{"retrieve", "list"}},
	{Path: "/logs/**", Who: []string{"alice", "bob", "@virtual"}, Deny: []string{"delete"}},
	{Path: "/tmp/[a-z]*", Allow: []string{"upload", "overwrite", "delete", "list", "retrieve"}},
	{Path: "/data/**/archive/**", Deny: []string{"delete", "rename", "overwrite", "append"}},
}}

// BenchmarkDecision is the cost of one access decision (Session.Check) with ten rules, which the
// driver pays once per operation: never per byte of a transfer.
func BenchmarkDecision(b *testing.B) {
	p := compile(b, tenRules)
	s := p.Session(User{Name: "carol", Kind: Virtual})
	for _, bc := range []struct{ name, path string }{
		{"last-rule", "/data/2024/q3/archive/report.csv"},
		{"no-rule", "/home/carol/projects/tunnelftpd/file.bin"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Check(Retrieve, bc.path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecisionDoesNotAllocate keeps a decision free of allocations, so thousands of small-file
// operations add no garbage.
func TestDecisionDoesNotAllocate(t *testing.T) {
	s := compile(t, tenRules).Session(User{Name: "carol", Kind: Virtual})
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.Check(Upload, "/data/2024/q3/archive/new.csv"); err != nil {
			t.Fatal(err)
		}
		_ = s.At("/data/x")
	})
	if allocs != 0 {
		t.Errorf("an allowed decision allocates %v times", allocs)
	}
}
