package access

import (
	"math/rand/v2"
	"path"
	"strings"
	"testing"
)

func mustGlob(t testing.TB, p string) Glob {
	t.Helper()
	g, err := CompileGlob(p)
	if err != nil {
		t.Fatalf("CompileGlob(%q): %v", p, err)
	}
	return g
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		glob string
		yes  []string
		no   []string
	}{
		{"/", []string{"/"}, []string{"/a", "/a/b"}},
		{"/incoming", []string{"/incoming"}, []string{"/", "/incoming/x", "/incomingx", "/Incoming"}},
		{"/incoming/**", []string{"/incoming/x", "/incoming/x/y", "/incoming/.message"},
			[]string{"/incoming", "/", "/incomingx/y", "/pub/incoming/x"}},
		{"/**", []string{"/a", "/a/b/c"}, []string{"/"}},
		{"/a/**/b", []string{"/a/b", "/a/x/b", "/a/x/y/b"}, []string{"/a", "/a/x", "/a/b/c", "/b", "/x/a/b"}},
		{"/**/b", []string{"/b", "/a/b", "/x/y/b"}, []string{"/", "/b/c", "/ab"}},
		{"/**/b/**", []string{"/b/x", "/a/b/x", "/a/b/b/x", "/a/b/x/y"}, []string{"/b", "/a/b", "/a/c/d"}},
		{"/pub/*", []string{"/pub/a", "/pub/.x"}, []string{"/pub", "/pub/a/b"}},
		{"/pub/*.txt", []string{"/pub/a.txt", "/pub/.txt"}, []string{"/pub/a.txt/b", "/pub/a.TXT", "/pub/x/a.txt"}},
		{"/pub/?", []string{"/pub/a"}, []string{"/pub/ab", "/pub"}},
		{"/pub/[a-c]*", []string{"/pub/apple", "/pub/cat"}, []string{"/pub/dog"}},
		{`/pub/\*`, []string{"/pub/*"}, []string{"/pub/a"}},
		{"/*/incoming/**", []string{"/x/incoming/f"}, []string{"/incoming/f", "/x/incoming", "/x/y/incoming/f"}},
		{"/a/**/b/**/c", []string{"/a/b/c", "/a/1/b/2/c", "/a/b/b/c/c", "/a/1/2/b/c"}, []string{"/a/c", "/a/b", "/a/b/c/d"}},
	}
	for _, tt := range tests {
		g := mustGlob(t, tt.glob)
		for _, p := range tt.yes {
			if !g.Match(p) {
				t.Errorf("%q should match %q", tt.glob, p)
			}
		}
		for _, p := range tt.no {
			if g.Match(p) {
				t.Errorf("%q should not match %q", tt.glob, p)
			}
		}
	}
}

// refMatch is a plain recursive matcher of the documented semantics, to check the backtracking
// one against.
func refMatch(pat, p []string) bool {
	if len(pat) == 0 {
		return len(p) == 0
	}
	if pat[0] == "**" {
		min := 0
		if len(pat) == 1 {
			min = 1 // a trailing ** needs a segment
		}
		for k := min; k <= len(p); k++ {
			if refMatch(pat[1:], p[k:]) {
				return true
			}
		}
		return false
	}
	if len(p) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], p[0])
	return ok && refMatch(pat[1:], p[1:])
}

func splitPath(p string) []string {
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

func TestGlobMatchAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	patSegs := []string{"a", "b", "*", "**", "?", "[ab]", "a*"}
	pathSegs := []string{"a", "b", "c", "ab", "ba"}
	var checked int
	for range 20000 {
		var pat []string
		stars := 0
		for n := rng.IntN(5) + 1; len(pat) < n; {
			s := patSegs[rng.IntN(len(patSegs))]
			if s == "**" && (stars == maxStars || len(pat) > 0 && pat[len(pat)-1] == "**") {
				continue
			}
			if s == "**" {
				stars++
			}
			pat = append(pat, s)
		}
		g := mustGlob(t, "/"+strings.Join(pat, "/"))
		p := "/"
		for i, n := 0, rng.IntN(6); i < n; i++ {
			p = path.Join(p, pathSegs[rng.IntN(len(pathSegs))])
		}
		want := refMatch(pat, splitPath(p))
		if got := g.Match(p); got != want {
			t.Fatalf("%q.Match(%q) = %v, reference says %v", g, p, got, want)
		}
		checked++
	}
	t.Logf("%d random glob/path pairs agree with the reference matcher", checked)
}

func TestGlobMatchDeepPathIsCheap(t *testing.T) {
	g := mustGlob(t, "/**/a/**/a/**/a/**/x")
	deep := strings.Repeat("/a", 2000)
	allocs := testing.AllocsPerRun(10, func() {
		if g.Match(deep) {
			t.Fatal("matched a path without x")
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times", allocs)
	}
}

func TestCompileGlobErrors(t *testing.T) {
	tests := map[string]string{
		"":                        "is empty",
		"incoming/**":             `must start with /`,
		"/incoming/":              `write "/incoming"`,
		"/a//b":                   `write "/a/b"`,
		"/a/../b":                 `write "/b"`,
		"/a/./b":                  `write "/a/b"`,
		"/a**":                    "** must be a whole path segment",
		"/a/**b/c":                "** must be a whole path segment",
		"/a/[b":                   "bad glob",
		"/a/**/**":                "repeats **",
		"/a\n":                    "control character",
		"/**/a/**/b/**/c/**/d/**": "more than 4 **",
	}
	for in, want := range tests {
		_, err := CompileGlob(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CompileGlob(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestGlobCovers(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"/**", "/pub/**", true},
		{"/**", "/pub", true},
		{"/**", "/", false},
		{"/pub/**", "/pub/x", true},
		{"/pub/**", "/pub", false},
		{"/pub/**", "/pub/*/x", true},
		{"/pub/**", "/pub/**/x", true},
		{"/pub/*", "/pub/x", true},
		{"/pub/*", "/pub/**", false},
		{"/pub/*", "/pub/[ab]", true},
		{"/pub/*.txt", "/pub/a.txt", true},
		{"/pub/*.txt", "/pub/*.txt", true},
		{"/pub/*.txt", "/pub/a*.txt", false}, // true in fact, but not provable segment by segment
		{"/pub/x", "/pub/*", false},
		{"/a/**/b", "/a/b", true},
		{"/a/**/b", "/a/x/y/b", true},
		{"/a/**/b", "/a/**/b", true},
		{"/a/**/b", "/a/**", false},
		{"/incoming", "/incoming/**", false},
		{"/incoming/**", "/incoming", false},
	}
	for _, tt := range tests {
		if got := mustGlob(t, tt.a).Covers(mustGlob(t, tt.b)); got != tt.want {
			t.Errorf("%q.Covers(%q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestGlobCoversIsSound checks on random paths that whenever Covers says yes, every path the
// covered glob matches is matched by the covering one.
func TestGlobCoversIsSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	globs := []string{"/", "/**", "/a", "/a/**", "/a/*", "/*/b", "/a/**/b", "/**/b", "/a/b", "/[ab]/**", "/a*", "/a/**/b/**", "/*"}
	segs := []string{"a", "b", "ab", "c"}
	pairs := 0
	for _, as := range globs {
		for _, bs := range globs {
			a, b := mustGlob(t, as), mustGlob(t, bs)
			if !a.Covers(b) {
				continue
			}
			pairs++
			for range 500 {
				p := "/"
				for i, n := 0, rng.IntN(5); i < n; i++ {
					p = path.Join(p, segs[rng.IntN(len(segs))])
				}
				if b.Match(p) && !a.Match(p) {
					t.Fatalf("%q.Covers(%q), but %q matches only the second", as, bs, p)
				}
			}
		}
	}
	if pairs < 20 {
		t.Errorf("only %d covering pairs were checked", pairs)
	}
}
