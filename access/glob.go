package access

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Glob is a compiled rule path: an absolute FTP path whose segments may be shell patterns
// (path.Match: *, ?, [a-z], \ escapes), or "**".
//
// "**" as a whole segment matches any number of segments, but a trailing "**" matches at least
// one: "/dir/**" matches everything below /dir but not /dir itself, and "/a/**/b" matches /a/b,
// /a/x/b and /a/x/y/b. A "*" never crosses a "/". Matching is case-sensitive, as FTP paths are.
type Glob struct {
	src  string
	segs []segment
}

type segKind uint8

const (
	segLiteral segKind = iota // matched by string comparison
	segAny                    // "*": any one segment
	segPattern                // path.Match pattern on one segment
	segStars                  // "**": zero or more segments
)

type segment struct {
	kind segKind
	text string
}

// maxStars bounds the "**" of one glob, which keeps both matching and the shadowing check
// (which compares globs) cheap.
const maxStars = 4

// maxGlobLen bounds a rule path; longer paths are mistakes.
const maxGlobLen = 1024

// CompileGlob checks and compiles a rule path. Errors say what to write instead.
func CompileGlob(p string) (Glob, error) {
	switch {
	case p == "":
		return Glob{}, errors.New(`is empty (example: "/incoming/**")`)
	case len(p) > maxGlobLen:
		return Glob{}, fmt.Errorf("is longer than %d bytes", maxGlobLen)
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return Glob{}, errors.New("contains a control character")
	case p[0] != '/':
		return Glob{}, fmt.Errorf("%q must start with / (it is an FTP path inside the user's root, e.g. %q)", p, "/"+p)
	}
	if p == "/" {
		return Glob{src: p}, nil
	}
	if c := path.Clean(p); c != p {
		return Glob{}, fmt.Errorf("%q is not a clean path: write %q", p, c)
	}
	parts := strings.Split(p[1:], "/")
	g := Glob{src: p}
	stars := 0
	for i, s := range parts {
		switch {
		case s == "**":
			stars++
			if stars > maxStars {
				return Glob{}, fmt.Errorf("%q has more than %d ** segments", p, maxStars)
			}
			if n := len(g.segs); n > 0 && g.segs[n-1].kind == segStars {
				return Glob{}, fmt.Errorf("%q repeats **: one ** already matches any depth", p)
			}
			if i == len(parts)-1 {
				// A trailing ** needs at least one segment: "*" then "zero or more".
				g.segs = append(g.segs, segment{kind: segAny, text: "*"})
			}
			g.segs = append(g.segs, segment{kind: segStars, text: s})
		case strings.Contains(s, "**"):
			return Glob{}, fmt.Errorf("bad glob %q: ** must be a whole path segment, as in /dir/** or /a/**/b", p)
		case s == "*":
			g.segs = append(g.segs, segment{kind: segAny, text: s})
		case strings.ContainsAny(s, `*?[\`):
			if _, err := path.Match(s, ""); err != nil {
				return Glob{}, fmt.Errorf("bad glob %q: segment %q: %w", p, s, err)
			}
			g.segs = append(g.segs, segment{kind: segPattern, text: s})
		default:
			g.segs = append(g.segs, segment{kind: segLiteral, text: s})
		}
	}
	return g, nil
}

// String returns the path as written in the config.
func (g Glob) String() string { return g.src }

// Match reports whether the clean absolute FTP path p matches. It does not allocate; with "**"
// it backtracks only to the last "**" seen, so a match costs at most (segments of p) × (segments
// of g) segment comparisons.
func (g Glob) Match(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	rest := p[1:] // "" is the root: no segments
	pi := 0
	starPi, starRest := -1, ""
	for rest != "" {
		if pi < len(g.segs) && g.segs[pi].kind == segStars {
			starPi, starRest = pi, rest
			pi++
			continue
		}
		name, tail, _ := strings.Cut(rest, "/")
		if pi < len(g.segs) && g.segs[pi].match(name) {
			pi++
			rest = tail
			continue
		}
		if starPi < 0 {
			return false
		}
		// Let the last ** absorb one more segment and retry from there.
		_, starRest, _ = strings.Cut(starRest, "/")
		pi, rest = starPi+1, starRest
		if rest == "" {
			break
		}
	}
	for pi < len(g.segs) && g.segs[pi].kind == segStars {
		pi++
	}
	return pi == len(g.segs) && rest == ""
}

func (s segment) match(name string) bool {
	switch s.kind {
	case segLiteral:
		return s.text == name
	case segAny:
		return true
	case segPattern:
		ok, _ := path.Match(s.text, name)
		return ok
	}
	return false
}

// Covers reports whether every path h matches is also matched by g. It answers true only when
// it is sure (a false answer may still be a cover it could not prove); the shadowing check uses
// it to report rules that can never match.
func (g Glob) Covers(h Glob) bool { return coverSegs(g.segs, h.segs) }

func coverSegs(a, b []segment) bool {
	if len(a) == 0 {
		return len(b) == 0
	}
	if a[0].kind == segStars {
		for k := 0; k <= len(b); k++ {
			if coverSegs(a[1:], b[k:]) {
				return true
			}
		}
		return false
	}
	if len(b) == 0 {
		return false
	}
	if b[0].kind == segStars {
		// b is "** rest": a must cover rest alone (** taking no segment), and, for ** taking
		// one segment or more, a's first segment must take any name and a's rest cover b again.
		return coverSegs(a, b[1:]) && a[0].kind == segAny && coverSegs(a[1:], b)
	}
	if !a[0].coversSeg(b[0]) {
		return false
	}
	return coverSegs(a[1:], b[1:])
}

// coversSeg reports whether every name t matches is matched by s (both single segments).
func (s segment) coversSeg(t segment) bool {
	switch {
	case s.kind == segAny:
		return true
	case t.kind == segLiteral:
		return s.match(t.text)
	default:
		return s.kind == t.kind && s.text == t.text
	}
}
