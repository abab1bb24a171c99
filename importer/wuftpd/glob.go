package wuftpd

import (
	"path"
	"strings"
)

// Path globs of the rules the importer writes, as issue 14 describes tunnelftpd's [[rules]]
// path: an absolute FTP path inside the user's root, each segment a glob in Go's path.Match
// syntax ("*", "?", "[a-z]", "[^x]", "\" escapes), and a segment "**" for any number of
// segments, except that a trailing "/**" needs at least one ("/dir/**" matches everything
// below /dir, not /dir itself). The importer decides what a rule covers with this same matcher.

// splitPath splits "/a/b" into ["a", "b"]; "/" is no segment.
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// globMatch reports whether the FTP path p matches the rule glob pattern.
func globMatch(pattern, p string) bool {
	return segMatch(splitPath(pattern), splitPath(p))
}

func segMatch(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		if len(pat) == 1 {
			return len(segs) >= 1
		}
		for i := 0; i <= len(segs); i++ {
			if segMatch(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	if ok, err := path.Match(pat[0], segs[0]); err != nil || !ok {
		return false
	}
	return segMatch(pat[1:], segs[1:])
}

// fromFnmatch converts a wu-ftpd fnmatch(3) glob to path.Match syntax: a class opened with
// "[!" is negated with "[^". It reports whether the result is a valid pattern.
func fromFnmatch(g string) (string, bool) {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c == '\\' && i+1 < len(g):
			b.WriteByte(c)
			i++
			b.WriteByte(g[i])
			continue
		case c == '[' && !inClass:
			inClass = true
			b.WriteByte(c)
			if i+1 < len(g) && g[i+1] == '!' {
				b.WriteByte('^')
				i++
			}
			continue
		case c == ']' && inClass:
			inClass = false
		}
		b.WriteByte(c)
	}
	out := b.String()
	for _, seg := range strings.Split(out, "/") {
		if _, err := path.Match(seg, ""); err != nil {
			return out, false
		}
	}
	return out, true
}

// hasMeta reports whether a glob segment has any wildcard.
func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[\\") }

// instances returns concrete names matching the glob segment g: "*" taken as nothing and as
// "x", "?" as "x", a class as a character of it. Names that do not match are left out.
func instances(g string) []string {
	var outs []string
	for _, star := range []string{"", "x"} {
		var b strings.Builder
		for i := 0; i < len(g); i++ {
			c := g[i]
			switch c {
			case '*':
				b.WriteString(star)
			case '?':
				b.WriteByte('x')
			case '\\':
				if i+1 < len(g) {
					i++
					b.WriteByte(g[i])
				}
			case '[':
				j := strings.IndexByte(g[i+1:], ']')
				if j < 0 {
					b.WriteByte(c)
					continue
				}
				class := g[i+1 : i+1+j]
				if j == 0 { // "[]...]": ']' is the first member
					if k := strings.IndexByte(g[i+2:], ']'); k >= 0 {
						class, j = g[i+1:i+2+k], k+1
					}
				}
				b.WriteByte(classMember(class))
				i += j + 1
			default:
				b.WriteByte(c)
			}
		}
		s := b.String()
		if ok, _ := path.Match(g, s); ok && s != "" && !contains(outs, s) {
			outs = append(outs, s)
		}
	}
	if len(outs) == 0 {
		outs = append(outs, "x")
	}
	return outs
}

// classMember picks a byte that the bracket class (without its brackets) matches.
func classMember(class string) byte {
	neg := strings.HasPrefix(class, "^") || strings.HasPrefix(class, "!")
	if neg {
		for _, c := range []byte("x_Q7~@") {
			if ok, _ := path.Match("["+class+"]", string(c)); ok {
				return c
			}
		}
		return '~'
	}
	c := class[0]
	if c == '\\' && len(class) > 1 {
		c = class[1]
	}
	return c
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// combineNames builds names that match two segment globs at once, by putting an instance of
// one where the other has a "*" ("*.gz" and "a*" give "ax.gz" and "a.gz"), so that the sample
// paths also cover the overlap of two name patterns.
func combineNames(a, b string) []string {
	var out []string
	for _, pair := range [][2]string{{a, b}, {b, a}} {
		i := strings.IndexByte(pair[0], '*')
		if i < 0 {
			continue
		}
		for _, inst := range instances(pair[1]) {
			for _, cand := range instances(pair[0][:i] + strings.ReplaceAll(inst, "*", "") + pair[0][i+1:]) {
				ma, _ := path.Match(a, cand)
				mb, _ := path.Match(b, cand)
				if ma && mb && !contains(out, cand) {
					out = append(out, cand)
				}
			}
		}
	}
	return out
}
