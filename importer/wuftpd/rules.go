package wuftpd

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// How the rules are made. tunnelftpd's [[rules]] are "first match wins" and each rule states
// every verb at its paths, while wu-ftpd decides each verb by a different directive (upload:
// best match on the directory; noretrieve: any match on the file; path-filter: the name;
// delete/rename/overwrite: the kind). So the importer:
//
//  1. collects candidate globs from every directive (an upload directory "D" gives "D" and
//     "D/*", a noretrieve path "P" gives "P" and "P/**", a base name "N" gives "/**/N",
//     "D/N" for each upload directory and "P/**/N" for each noretrieve path, and "/**"
//     catches the rest), ordered most specific
//     first;
//  2. builds sample paths from the same directives (each glob instantiated, names combined),
//     and gives each sample to the first candidate that matches it;
//  3. gives each candidate the verbs wu-ftpd allowed on all of its samples, in every context
//     the rule cannot tell apart (the classes a session of the kind can be in, the kinds the
//     rule's selectors cannot separate, the lines whose home directory the importer cannot
//     know): the intersection, so a rule never allows what wu-ftpd refused to one of them;
//  4. drops candidates that no sample reaches or whose samples the next rule would treat the
//     same.
//
// Where the intersection removed a verb that wu-ftpd allowed somewhere, the directives
// involved are reported as narrowed.

// block is one group of [[rules]] with the same selectors.
type block struct {
	Name  string
	Who   []string
	Kinds []kind // the kinds of wu-ftpd session the selectors may match first
	// Default is what tunnelftpd allows when no rule of the block matches and the users fall
	// through to tunnelftpd's defaults; Guard is set when they would fall through to a later
	// block instead, so the block must end with a catch-all.
	Default verbs
	Guard   bool
	off     string // why the kinds it was made for cannot log in, when none can
}

// rule is one [[rules]] entry to write.
type rule struct {
	Path   string
	Who    []string
	Rights verbs
	Mode   string
	Group  string
	Origin []*directive
	Note   string // comment for the TOML
}

// narrowing is one place where a rule allows less than wu-ftpd did.
type narrowing struct {
	Lines []*directive
	Text  string
	Lost  bool // not a narrowing: something wu-ftpd set could not be kept either way
}

type candidate struct {
	pat     string
	origin  []*directive
	order   int
	samples []string
	removed bool
	rights  verbs
	mode    uint32 // mode of uploaded files, if modeSet
	modeSet bool
	group   string
	groups  map[string]bool
	outs    []sampleOut
}

type sampleOut struct {
	sample string
	c      ctx
	o      outcome
}

func (c *candidate) add(d *directive) {
	for _, o := range c.origin {
		if o == d {
			return
		}
	}
	if d != nil {
		c.origin = append(c.origin, d)
	}
}

// specificity orders candidates: more literal characters first (so "/**" comes last), then
// fewer "**", then more segments, then the order they were found in.
func specificity(pat string) (stars, literal, segs int) {
	for _, s := range splitPath(pat) {
		segs++
		if s == "**" {
			stars++
			continue
		}
		for i := 0; i < len(s); i++ {
			if !strings.ContainsRune("*?[]^\\", rune(s[i])) {
				literal++
			}
		}
	}
	return stars, literal, segs
}

// blockRules makes the rules of one block.
func (p *policy) blockRules(b block, contexts []ctx) ([]rule, []narrowing) {
	cands := map[string]*candidate{}
	var order []*candidate
	addCand := func(pat string, d *directive) {
		if pat == "" {
			return
		}
		c, ok := cands[pat]
		if !ok {
			c = &candidate{pat: pat, order: len(order), groups: map[string]bool{}}
			cands[pat] = c
			order = append(order, c)
		}
		c.add(d)
	}
	dirs := []string{"/", "/x", "/x/x"}
	names := []string{"x"}
	var dirPats []string
	var retPats []string // noretrieve/allow-retrieve paths: "P/**" crossed with the base names
	var basePats []string
	addDir := func(d string) {
		if !contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	addName := func(n string) {
		if n != "" && !strings.Contains(n, "/") && !contains(names, n) {
			names = append(names, n)
		}
	}
	inKinds := func(f func(k kind) bool) bool {
		for _, k := range b.Kinds {
			if f(k) {
				return true
			}
		}
		return false
	}

	for _, u := range p.uploads {
		for _, k := range b.Kinds {
			g := u.Ftp[k]
			if u.Applies[k] == triNo || g.None || g.All {
				continue
			}
			addCand(g.Pat, u.D)
			addCand(strings.TrimSuffix(g.Pat, "/")+"/*", u.D)
			if !contains(dirPats, g.Pat) {
				dirPats = append(dirPats, g.Pat)
			}
			for _, inst := range instantiate(g.Pat) {
				addDir(inst)
			}
		}
	}
	for _, r := range p.retrieves {
		for _, n := range r.Names {
			if n.Bad != "" {
				continue
			}
			if n.Base {
				if !contains(basePats, n.Glob) {
					basePats = append(basePats, n.Glob)
				}
				addCand("/**/"+n.Glob, r.D)
				for _, inst := range instances(n.Glob) {
					addName(inst)
				}
				continue
			}
			for _, k := range b.Kinds {
				g := n.Ftp[k]
				if g.None || g.All || (r.Allow && (g.Anywhere || g.Partial)) {
					continue
				}
				addCand(g.Pat, r.D)
				addCand(strings.TrimSuffix(g.Pat, "/")+"/**", r.D)
				if !contains(retPats, g.Pat) {
					retPats = append(retPats, g.Pat)
				}
				for _, inst := range instantiate(g.Pat) {
					addDir(inst)
					addDir(path.Dir(inst))
					addName(path.Base(inst))
				}
			}
		}
	}
	for _, f := range p.filters {
		if !inKinds(func(k kind) bool {
			return typeMatch(f.Typelist, k, "") || strings.HasPrefix(strings.ToLower(f.Typelist), "class=")
		}) {
			continue
		}
		for _, g := range f.Fail {
			if !contains(basePats, g) {
				basePats = append(basePats, g)
			}
			addCand("/**/"+g, f.D)
			for _, inst := range instances(g) {
				addName(inst)
			}
		}
	}
	for _, d := range dirPats {
		for _, bp := range basePats {
			c := cands["/**/"+bp]
			addCand(strings.TrimSuffix(d, "/")+"/"+bp, nil)
			if c != nil {
				for _, o := range c.origin {
					cands[strings.TrimSuffix(d, "/")+"/"+bp].add(o)
				}
			}
		}
	}
	// Below a retrieve path every name is decided by the retrieve line and the name lines
	// together: without "P/**/N" the rule "P/**" would take the names a path-filter refuses
	// and lose, for every name below P, the verbs the filter takes from those few.
	for _, d := range retPats {
		for _, bp := range basePats {
			pat := strings.TrimSuffix(d, "/") + "/**/" + bp
			addCand(pat, nil)
			for _, o := range cands["/**/"+bp].origin {
				cands[pat].add(o)
			}
			for _, o := range cands[strings.TrimSuffix(d, "/")+"/**"].origin {
				cands[pat].add(o)
			}
		}
	}
	for i := range basePats {
		for j := i + 1; j < len(basePats); j++ {
			for _, n := range combineNames(basePats[i], basePats[j]) {
				addName(n)
			}
		}
	}
	addCand("/**", nil)

	sort.SliceStable(order, func(i, j int) bool {
		si, li, gi := specificity(order[i].pat)
		sj, lj, gj := specificity(order[j].pat)
		if li != lj {
			return li > lj
		}
		if si != sj {
			return si < sj
		}
		if gi != gj {
			return gi > gj
		}
		return order[i].order < order[j].order
	})

	// One level deeper than every directory: what "P/**" covers beyond "P/*".
	for _, d := range append([]string{}, dirs...) {
		addDir(strings.TrimSuffix(d, "/") + "/x")
	}
	// Samples: every directory with every name, and the directories themselves.
	var samples []string
	seen := map[string]bool{}
	addSample := func(s string) {
		if s != "/" && !seen[s] {
			seen[s] = true
			samples = append(samples, s)
		}
	}
	for _, d := range dirs {
		addSample(d)
		for _, n := range names {
			addSample(strings.TrimSuffix(d, "/") + "/" + n)
		}
	}

	first := func(s string, after int) *candidate {
		for i := after; i < len(order); i++ {
			if !order[i].removed && globMatch(order[i].pat, s) {
				return order[i]
			}
		}
		return nil
	}
	for _, s := range samples {
		c := first(s, 0)
		if c == nil {
			continue
		}
		c.samples = append(c.samples, s)
	}
	for _, c := range order {
		c.rights = allVerbs
		mode, uploads := uint32(0o7777), false
		for _, s := range c.samples {
			for _, cx := range contexts {
				o := p.eval(cx, s)
				c.outs = append(c.outs, sampleOut{s, cx, o})
				c.rights &= o.rights
				if o.rights&(vUpload|vMkdir) != 0 {
					mode &= o.mode
					uploads = true
					c.groups[o.group] = true
				}
			}
		}
		if len(c.samples) == 0 {
			c.removed = true
		}
		if len(c.groups) == 1 {
			for g := range c.groups {
				c.group = g
			}
		}
		if uploads && mode != 0o666&^p.umask {
			c.mode, c.modeSet = mode, true // else the umask gives the same mode
		}
	}

	// Drop rules whose samples the next matching rule (or tunnelftpd's default) treats alike.
	same := func(a, b *candidate) bool {
		return a.rights == b.rights && a.modeSet == b.modeSet && a.mode == b.mode && a.group == b.group
	}
	fallback := &candidate{rights: b.Default}
	idx := map[*candidate]int{}
	for i, c := range order {
		idx[c] = i
	}
	for changed := true; changed; {
		changed = false
		for _, c := range order {
			if c.removed || (b.Guard && c.pat == "/**") {
				continue
			}
			ok := true
			for _, s := range c.samples {
				next := first(s, idx[c]+1)
				if next == nil {
					if b.Guard || !same(c, fallback) {
						ok = false
					}
				} else if !same(c, next) {
					ok = false
				}
				if !ok {
					break
				}
			}
			if !ok {
				continue
			}
			c.removed = true
			for _, s := range c.samples {
				if next := first(s, idx[c]+1); next != nil {
					next.samples = append(next.samples, s)
					next.outs = append(next.outs, c.outsOf(s)...)
				}
			}
			changed = true
		}
	}

	var rules []rule
	var events []narrowing
	for _, c := range order {
		if c.removed {
			continue
		}
		r := rule{Path: c.pat, Who: b.Who, Rights: c.rights, Group: c.group, Origin: c.origin}
		if c.modeSet {
			r.Mode = fmt.Sprintf("%04o", c.mode)
		}
		mode := c.mode
		if !c.modeSet {
			mode = 0o666 &^ p.umask
		}
		if len(c.groups) > 1 && mode&0o070 != 0 {
			// With no group bits in the mode, which group a file gets gives nobody access.
			events = append(events, narrowing{Lines: c.origin, Lost: true,
				Text: fmt.Sprintf("the files uploaded under %s (%s) got different groups in wu-ftpd; one rule has one group, so none is set", c.pat, b.Name)})
		}
		events = append(events, c.narrowings(b)...)
		rules = append(rules, r)
	}
	return rules, events
}

func (c *candidate) outsOf(s string) []sampleOut {
	var out []sampleOut
	for _, o := range c.outs {
		if o.sample == s {
			out = append(out, o)
		}
	}
	return out
}

// narrowings reports where the candidate's rights are less than wu-ftpd's for some sample and
// context, and why the rule could not say more.
func (c *candidate) narrowings(b block) []narrowing {
	var out []narrowing
	type key struct {
		lost   verbs
		reason string
	}
	seen := map[key]bool{}
	for _, so := range c.outs {
		if so.o.reason != "" {
			k := key{0, so.o.reason}
			if !seen[k] {
				seen[k] = true
				out = append(out, narrowing{Lines: []*directive{so.o.why}, Text: fmt.Sprintf("at %s (%s): %s; tunnelftpd allows %s there", c.pat, b.Name, so.o.reason, c.rights)})
			}
		}
		lost := so.o.rights &^ c.rights
		if lost == 0 {
			continue
		}
		why := c.whyNarrow(so)
		k := key{lost, why}
		if seen[k] {
			continue
		}
		seen[k] = true
		// Blame the lines that decided differently between this outcome and the poorer ones.
		var lines []*directive
		for _, other := range c.outs {
			if other.o.rights&lost != lost {
				lines = append(lines, symDiff(so.o.used, other.o.used)...)
			}
		}
		if len(lines) == 0 {
			lines = so.o.used
		}
		out = append(out, narrowing{Lines: lines, Text: fmt.Sprintf("at %s (%s) tunnelftpd allows %s; wu-ftpd also allowed %s on %s %s", c.pat, b.Name, c.rights, lost, so.sample, why)})
	}
	return out
}

// whyNarrow says what the rule cannot tell apart for this outcome.
func (c *candidate) whyNarrow(so sampleOut) string {
	for _, other := range c.outs {
		if other.sample != so.sample || other.o.rights == so.o.rights {
			continue
		}
		switch {
		case other.c.k != so.c.k:
			return fmt.Sprintf("to %s sessions (the rule's selectors also match %s sessions, which were refused it)", so.c.k, other.c.k)
		case other.c.class != so.c.class:
			return fmt.Sprintf("in class %s (a rule cannot tell classes apart: they differ by client address; class %s was refused it)", so.c.class, other.c.class)
		default:
			return "for some homes (the importer cannot see which home directories a line's root-dir matched)"
		}
	}
	return "(the rule also covers paths where wu-ftpd refused it)"
}

// instantiate gives concrete paths matching a rule glob: "**" as nothing and as one segment,
// each other segment by its instances (at most a few paths).
func instantiate(pat string) []string {
	out := []string{""}
	for _, seg := range splitPath(pat) {
		var next []string
		opts := instances(seg)
		if seg == "**" {
			opts = []string{"", "x"}
		}
		for _, prefix := range out {
			for _, o := range opts {
				if o == "" {
					next = append(next, prefix)
				} else {
					next = append(next, prefix+"/"+o)
				}
			}
		}
		if len(next) > 8 {
			next = next[:8]
		}
		out = next
	}
	for i, o := range out {
		if o == "" {
			out[i] = "/"
		}
	}
	return out
}

// denyAllRules are the rules that leave users no verb at all: "/" and everything below.
func denyAllRules(who []string, origin []*directive, note string) []rule {
	return []rule{
		{Path: "/", Who: who, Rights: 0, Origin: origin, Note: note},
		{Path: "/**", Who: who, Rights: 0, Origin: origin},
	}
}

// symDiff is the directives in exactly one of a and b.
func symDiff(a, b []*directive) []*directive {
	in := func(l []*directive, d *directive) bool {
		for _, x := range l {
			if x == d {
				return true
			}
		}
		return false
	}
	var out []*directive
	for _, d := range a {
		if !in(b, d) {
			out = append(out, d)
		}
	}
	for _, d := range b {
		if !in(a, d) {
			out = append(out, d)
		}
	}
	return out
}
