package wuftpd

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// This file is wu-ftpd 2.6.2's per-path policy as functions of a session and an FTP path: the
// upload lines' best match (extensions.c upl_check/dir_check), noretrieve and allow-retrieve
// (checknoretrieve/allow_retrieve), path-filter (fn_check) and the delete/rename/overwrite
// switches (del_check, renamecmd, store). rules.go turns it into tunnelftpd [[rules]].

// tri is whether a line applies to a kind of session: yes, no, or cannot tell.
type tri int

const (
	triNo tri = iota
	triYes
	triMaybe
)

// ftpGlob is a wu-ftpd path glob moved into a kind's FTP namespace (the path inside the
// session's root, as tunnelftpd's rules see it).
type ftpGlob struct {
	Pat      string // rule glob (path.Match segments, "**")
	All      bool   // wu-ftpd's "*": every path
	None     bool   // can never match for this kind
	Anywhere bool   // the location inside the root is unknown: Pat is "/**/<last segment>"
	Partial  bool   // Pat holds for some of the kind's roots only
	Why      string // for None, Anywhere and Partial
}

// scope is the options before an upload/noretrieve/allow-retrieve line's arguments.
type scope struct {
	Classes  []string // class= names; none: every class
	Relative bool
}

func (s scope) inClass(class string) bool {
	if len(s.Classes) == 0 {
		return true
	}
	for _, c := range s.Classes {
		if strings.EqualFold(c, class) {
			return true
		}
	}
	return false
}

// parseScope reads the option words as the C loops do: absolute, relative, class=X, and "-"
// which ends the options.
func parseScope(args []string) (scope, []string) {
	var s scope
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.EqualFold(a, "absolute"):
			s.Relative = false
		case strings.EqualFold(a, "relative"):
			s.Relative = true
		case len(a) >= 6 && strings.EqualFold(a[:6], "class="):
			s.Classes = append(s.Classes, a[6:])
		case a == "-":
			return s, args[i+1:]
		default:
			return s, args[i:]
		}
	}
	return s, args[i:]
}

// uploadLine is one "upload" directive.
type uploadLine struct {
	D *directive
	scope
	RootDir, DirGlob string
	Answer           string // yes/no as written
	Yes              bool   // upl_check: uploads allowed ("yes", any case)
	No               bool   // dir_check: "no" (any case) also refuses MKD; other words do not
	Owner, Group     string
	Mode             string // octal, "" = not given
	NoDirs           bool
	DMode            string
	Bad              string // why the line is broken
	Applies          [numKinds]tri
	Ftp              [numKinds]ftpGlob
}

func parseUpload(d *directive, p *policy) *uploadLine {
	u := &uploadLine{D: d}
	var rest []string
	u.scope, rest = parseScope(d.Args)
	arg := func(i int) string {
		if i < len(rest) {
			return rest[i]
		}
		return ""
	}
	u.RootDir, u.DirGlob, u.Answer = arg(0), arg(1), arg(2)
	if u.RootDir == "" || u.DirGlob == "" {
		u.Bad = "needs a root directory and a directory glob; wu-ftpd never matched it"
		return u
	}
	if u.Answer == "" {
		u.Bad = "has no yes/no: wu-ftpd's upl_check read a missing argument (it crashed the session on upload); taken as no"
	}
	u.Yes = strings.EqualFold(u.Answer, "yes")
	u.No = strings.EqualFold(u.Answer, "no")
	owner, group, mode, ap6, dmode := arg(3), arg(4), arg(5), arg(6), arg(7)
	if strings.EqualFold(owner, "nodirs") || strings.EqualFold(ap6, "nodirs") {
		u.NoDirs = true
	}
	if strings.EqualFold(owner, "dirs") || strings.EqualFold(owner, "nodirs") {
		owner = ""
	}
	u.Owner, u.Group, u.Mode, u.DMode = owner, group, mode, dmode
	if u.Mode != "" {
		if _, err := strconv.ParseUint(u.Mode, 8, 32); err != nil {
			u.Bad = fmt.Sprintf("mode %q is not octal: wu-ftpd's sscanf left the mode unset", u.Mode)
			u.Mode = ""
		}
	}
	for k := kReal; k < numKinds; k++ {
		u.Applies[k] = p.rootApplies(u.RootDir, u.Relative, k)
		u.Ftp[k] = p.dirToFTP(u.DirGlob, u.RootDir, k)
		if (u.Ftp[k].Anywhere || u.Ftp[k].Partial) && u.Applies[k] == triYes {
			u.Applies[k] = triMaybe
		}
	}
	return u
}

// assumeKey groups the lines of unknown reach that stand or fall together: those with the same
// root-dir (a session's home matches it or not), while a line whose directory the importer
// cannot place stands alone.
func (u *uploadLine) assumeKey(k kind) string {
	if u.Ftp[k].Anywhere || u.Ftp[k].Partial {
		return fmt.Sprintf("line %d", u.D.Line)
	}
	return fmt.Sprintf("root %v %s", u.Relative, u.RootDir)
}

// fileMode is the mode wu-ftpd gave uploaded files under this line, given the umask.
func (u *uploadLine) fileMode(umask uint32) uint32 {
	if u != nil && u.Yes && u.Mode != "" {
		m, _ := strconv.ParseUint(u.Mode, 8, 32)
		return uint32(m) & 0o7777
	}
	return 0o666 &^ umask
}

// dirMode is the mode wu-ftpd gave directories created under this line: d_mode, or the file
// mode with an x bit for every class that may read or write, or 0777 with the umask.
func (u *uploadLine) dirMode(umask uint32) uint32 {
	if u != nil && u.DMode != "" {
		if m, err := strconv.ParseUint(u.DMode, 8, 32); err == nil {
			return uint32(m) & 0o7777
		}
	}
	if u != nil && u.Mode != "" {
		m64, _ := strconv.ParseUint(u.Mode, 8, 32)
		m := uint32(m64)
		if m&0o600 != 0 {
			m |= 0o100
		}
		if m&0o060 != 0 {
			m |= 0o010
		}
		if m&0o006 != 0 {
			m |= 0o001
		}
		return m & 0o7777
	}
	return 0o777 &^ umask
}

// retrieveLine is one noretrieve or allow-retrieve directive.
type retrieveLine struct {
	D     *directive
	Allow bool
	scope
	Names []retrieveName
}

type retrieveName struct {
	Text string
	Base bool   // no '/': matched against the file's base name anywhere
	Glob string // path.Match form of a base name
	Bad  string
	Ftp  [numKinds]ftpGlob
}

func parseRetrieve(d *directive, p *policy) *retrieveLine {
	r := &retrieveLine{D: d, Allow: d.Keyword == "allow-retrieve"}
	var names []string
	r.scope, names = parseScope(d.Args)
	for _, n := range names {
		rn := retrieveName{Text: n}
		g, ok := fromFnmatch(n)
		if !ok {
			rn.Bad = "not a valid glob"
		}
		if !strings.HasPrefix(n, "/") {
			rn.Base, rn.Glob = true, g
		} else {
			for k := kReal; k < numKinds; k++ {
				rn.Ftp[k] = p.fileToFTP(g, r.Relative, k)
			}
		}
		r.Names = append(r.Names, rn)
	}
	return r
}

// pathFilter is one path-filter directive, with its regular expressions turned into globs of
// the base names it refuses.
type pathFilter struct {
	D        *directive
	Typelist string
	Msg      string
	Regexps  []string // the allowed pattern, then the disallowed ones
	Fail     []string // base-name globs a name must not match
	Exact    bool     // Fail says exactly what the regexps refuse
	Why      string   // why not
}

func parsePathFilter(d *directive) *pathFilter {
	f := &pathFilter{D: d, Typelist: d.arg(0), Msg: d.arg(1)}
	if len(d.Args) < 3 {
		f.Why = "needs a typelist, a message file and an allowed pattern; wu-ftpd skipped it"
		return f
	}
	f.Regexps = d.Args[2:]
	f.Exact = true
	for i, re := range f.Regexps {
		re = strings.ReplaceAll(re, `\#`, `#`) // the escape parseacl left in
		if _, err := regexp.CompilePOSIX(re); err != nil {
			f.Exact, f.Why = false, fmt.Sprintf("%q is not a regular expression tunnelftpd can read (wu-ftpd answered a bad one with 550 on every upload)", re)
			f.Fail = []string{"*"}
			return f
		}
		var g []string
		var ok bool
		if i == 0 {
			g, ok = allowedToFail(re)
		} else {
			g, ok = deniedToFail(re)
		}
		if !ok {
			f.Exact, f.Why = false, fmt.Sprintf("the regular expression %q has no glob equivalent", re)
			f.Fail = []string{"*"}
			return f
		}
		f.Fail = append(f.Fail, g...)
	}
	return f
}

// allowedToFail turns path-filter's allowed pattern into globs of the names it refuses:
// "^[SET]*$" and "^[SET]+$" refuse every name with a character outside SET.
func allowedToFail(re string) ([]string, bool) {
	switch re {
	case "", ".*", "^.*$", "^.*", ".*$":
		return nil, true
	}
	if !strings.HasPrefix(re, "^[") || !(strings.HasSuffix(re, "]*$") || strings.HasSuffix(re, "]+$")) {
		return nil, false
	}
	set := re[2 : len(re)-3]
	if set == "" || strings.Contains(set, "[") || strings.HasPrefix(set, "]") || strings.HasPrefix(set, "^]") {
		return nil, false
	}
	g := "*[^" + goClass(set) + "]*"
	if strings.HasPrefix(set, "^") {
		g = "*[" + goClass(set[1:]) + "]*"
	}
	if _, err := path.Match(g, ""); err != nil {
		return nil, false
	}
	return []string{g}, true
}

// goClass writes the members of a POSIX bracket expression (without its brackets and its
// leading ^) in path.Match syntax: a backslash is itself in POSIX and a '-' first or last is
// itself, which path.Match needs escaped ("[^-A-Z]" is a syntax error there, and a glob that
// never matches would let every name through).
func goClass(set string) string {
	var b strings.Builder
	for i := 0; i < len(set); i++ {
		switch c := set[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '-' && (i == 0 || i == len(set)-1):
			b.WriteString(`\-`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// deniedToFail turns one of path-filter's disallowed patterns into a glob of the names it
// matches: "^LIT", "LIT$", "^LIT$" or "LIT", LIT being literal characters, escaped ones, "."
// and bracket classes.
func deniedToFail(re string) ([]string, bool) {
	start := strings.HasPrefix(re, "^")
	body := strings.TrimPrefix(re, "^")
	end := strings.HasSuffix(body, "$") && !strings.HasSuffix(body, `\$`)
	body = strings.TrimSuffix(body, "$")
	if end && body == "" {
		return nil, false
	}
	var g strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch c {
		case '\\':
			if i+1 == len(body) {
				return nil, false
			}
			i++
			writeLiteral(&g, body[i])
		case '.':
			g.WriteByte('?')
		case '[':
			j := strings.IndexByte(body[i+1:], ']')
			if j <= 0 || strings.Contains(body[i+1:i+1+j], "[") {
				return nil, false
			}
			class := body[i+1 : i+1+j]
			if strings.HasPrefix(class, "^") {
				class = "^" + goClass(class[1:])
			} else {
				class = goClass(class)
			}
			g.WriteString("[" + class + "]")
			i += j + 1
		case '*', '+', '?', '(', ')', '{', '}', '|', '^', '$':
			return nil, false
		default:
			writeLiteral(&g, c)
		}
	}
	glob := g.String()
	if !start {
		glob = "*" + glob
	}
	if !end {
		glob += "*"
	}
	if _, err := path.Match(glob, ""); err != nil {
		return nil, false
	}
	return []string{glob}, true
}

func writeLiteral(b *strings.Builder, c byte) {
	if strings.IndexByte(`*?[\`, c) >= 0 {
		b.WriteByte('\\')
	}
	b.WriteByte(c)
}

// permLine is one of delete/rename/overwrite/chmod/umask yes|no typelist.
type permLine struct {
	D        *directive
	Answer   string
	Typelist string
}

// policy is every path-dependent directive of one ftpaccess, for evaluation.
type policy struct {
	uploads    []*uploadLine
	retrieves  []*retrieveLine
	filters    []*pathFilter
	deletes    []*permLine
	renames    []*permLine
	overwrites []*permLine
	umask      uint32 // tunnelftpd's umask
	anonRoot   string // the anonymous root, "" if unknown
	guestRoot  string // guest-root without uid ranges, "" if none
	// homes of the accounts that may log in, by kind (absolute and relative home as
	// dir_check sees them); known is false when the accounts were not given.
	homes [numKinds][][2]string
	known bool
	// roots are the host directories a kind's FTP "/" is: the anonymous root, the guests'
	// chroots, the real users' homes (when the accounts are known).
	roots [numKinds][]string
}

// rootApplies is whether an upload line's root-dir matches a session's home (wu-ftpd: the
// chroot plus the home inside it, or with "relative" the home inside the chroot).
func (p *policy) rootApplies(rootDir string, relative bool, k kind) tri {
	if rootDir == "*" {
		return triYes
	}
	match := func(home string) tri {
		g, _ := fromFnmatch(rootDir)
		if ok, _ := path.Match(g, home); ok {
			return triYes
		}
		return triNo
	}
	switch k {
	case kAnon:
		if relative {
			return match("/")
		}
		if p.anonRoot == "" {
			return triMaybe
		}
		return match(p.anonRoot)
	}
	if p.known {
		yes, no := 0, 0
		for _, h := range p.homes[k] {
			home := h[0]
			if relative {
				home = h[1]
			}
			if match(home) == triYes {
				yes++
			} else {
				no++
			}
		}
		switch {
		case yes == 0:
			return triNo
		case no == 0:
			return triYes
		}
		return triMaybe
	}
	if k == kGuest {
		if relative {
			return match("/") // a guest whose home ends in /./ starts at / of its chroot
		}
		if p.guestRoot != "" {
			return match(p.guestRoot)
		}
		return triMaybe
	}
	if p.anonRoot != "" && !relative && strings.TrimSuffix(rootDir, "/") == p.anonRoot {
		return triNo // the anonymous root is the ftp account's home, not a real user's
	}
	return triMaybe // a real user's home: tunnelftpd knows no homes
}

// dirToFTP moves an upload dirglob into a kind's FTP namespace. For anonymous and guest
// sessions wu-ftpd compared it with the directory inside the chroot, which is the FTP path;
// for real users with the host path, which holds the home (root-dir) as a prefix.
func (p *policy) dirToFTP(dirGlob, rootDir string, k kind) ftpGlob {
	if dirGlob == "*" {
		return ftpGlob{All: true}
	}
	if !strings.HasPrefix(dirGlob, "/") {
		return ftpGlob{None: true, Why: "wu-ftpd compared it with absolute paths, so it never matched"}
	}
	g, _ := fromFnmatch(dirGlob)
	if k != kReal {
		return ftpGlob{Pat: cleanGlob(g)}
	}
	if rootDir != "*" {
		root, _ := fromFnmatch(strings.TrimSuffix(rootDir, "/"))
		if g == root {
			return ftpGlob{Pat: "/"}
		}
		if strings.HasPrefix(g, root+"/") {
			return ftpGlob{Pat: cleanGlob(g[len(root):])}
		}
	}
	if !p.known {
		return anywhere(g, "a host path the importer cannot place inside a real user's home (no accounts given)")
	}
	var homes []string
	for _, h := range p.roots[kReal] {
		if ok, _ := path.Match(mustGlob(rootDir), h); ok || rootDir == "*" {
			homes = append(homes, h)
		}
	}
	if len(homes) == 0 {
		return ftpGlob{None: true, Why: "its root-dir " + rootDir + " is the home of no real user"}
	}
	return rootsToFTP(g, homes, false)
}

// fileToFTP moves a noretrieve/allow-retrieve path into a kind's FTP namespace: by default
// ("absolute") the path on the host, with "relative" the path inside the chroot.
func (p *policy) fileToFTP(g string, relative bool, k kind) ftpGlob {
	if relative && k != kReal {
		return ftpGlob{Pat: cleanGlob(g)}
	}
	roots := p.roots[k]
	if roots == nil && (k == kAnon || !p.known) {
		return anywhere(g, "a host path; the importer does not know the roots of these sessions")
	}
	return rootsToFTP(g, roots, true)
}

func mustGlob(g string) string {
	out, _ := fromFnmatch(strings.TrimSuffix(g, "/"))
	return out
}

// rootsToFTP moves a host path glob below the given roots: the same FTP path for every root
// (exact), for some of them (Partial), none (None), or different ones (Anywhere). With
// leading, a glob that matches a root or a directory above it covers the whole root.
func rootsToFTP(g string, roots []string, leading bool) ftpGlob {
	pat := splitPath(g)
	var rems []string
	matched := 0
	for _, r := range roots {
		rs := splitPath(r)
		n := min(len(pat), len(rs))
		ok := true
		for i := 0; i < n; i++ {
			if m, _ := path.Match(pat[i], rs[i]); !m {
				ok = false
				break
			}
		}
		switch {
		case !ok:
			continue
		case len(pat) <= len(rs):
			if !leading {
				continue // a directory at or above the home: not inside it
			}
			rems = appendNew(rems, "/")
		default:
			rems = appendNew(rems, "/"+strings.Join(pat[len(rs):], "/"))
		}
		matched++
	}
	switch {
	case matched == 0:
		return ftpGlob{None: true, Why: "outside every root of these sessions (" + strings.Join(roots, " ") + ")"}
	case len(rems) > 1:
		return anywhere(g, "it lies at different places in different homes")
	case rems[0] == "/":
		return ftpGlob{All: true, Partial: matched < len(roots), Why: "it covers the whole root of some of these sessions"}
	}
	return ftpGlob{Pat: rems[0], Partial: matched < len(roots), Why: "it lies inside the root of only some of these sessions"}
}

func anywhere(g, why string) ftpGlob {
	segs := splitPath(g)
	if len(segs) == 0 {
		return ftpGlob{All: true}
	}
	return ftpGlob{Pat: "/**/" + segs[len(segs)-1], Anywhere: true, Why: why}
}

func cleanGlob(g string) string {
	segs := splitPath(g)
	return "/" + strings.Join(segs, "/")
}

// ctx is one kind of session in one class, with a choice for each line that may or may not
// apply to it.
type ctx struct {
	k      kind
	class  string
	assume map[string]bool // by assumeKey: does the line apply to this session?
}

// uploadAt is the upload line that decides for directory dir (best match: the longest
// dirglob, later lines winning ties), nil if none matches.
func (p *policy) uploadAt(c ctx, dir string) *uploadLine {
	best, value := (*uploadLine)(nil), -1
	for _, u := range p.uploads {
		if u.Bad != "" && u.RootDir == "" || !u.inClass(c.class) {
			continue
		}
		switch u.Applies[c.k] {
		case triNo:
			continue
		case triMaybe:
			if !c.assume[u.assumeKey(c.k)] {
				continue
			}
		}
		g := u.Ftp[c.k]
		j := -2
		switch {
		case g.None:
		case g.All:
			j = 1
		case globMatch(g.Pat, dir):
			j = len(u.DirGlob)
		}
		if j >= value {
			best, value = u, j
		}
	}
	return best
}

// retrievable is checknoretrieve: a matching noretrieve name refuses RETR unless a matching
// allow-retrieve name allows it.
func (p *policy) retrievable(c ctx, file string, used *[]*directive) bool {
	match := func(allow bool) *retrieveLine {
		for _, r := range p.retrieves {
			if r.Allow != allow || !r.inClass(c.class) {
				continue
			}
			for _, n := range r.Names {
				if n.Bad != "" {
					continue
				}
				if n.Base {
					if ok, _ := path.Match(n.Glob, path.Base(file)); ok {
						return r
					}
					continue
				}
				g := n.Ftp[c.k]
				if g.None || (allow && (g.Anywhere || g.Partial)) {
					continue
				}
				if g.All || globMatch(g.Pat, file) || globMatch(strings.TrimSuffix(g.Pat, "/")+"/**", file) {
					return r
				}
			}
		}
		return nil
	}
	deny := match(false)
	if deny == nil {
		return true
	}
	*used = append(*used, deny.D)
	if allow := match(true); allow != nil {
		*used = append(*used, allow.D)
		return true
	}
	return false
}

// nameOK is fn_check for a base name: every path-filter of the session's kind passes it.
func (p *policy) nameOK(c ctx, base string, used *[]*directive) bool {
	ok := true
	for _, f := range p.filters {
		if len(f.Regexps) == 0 || !typeMatch(f.Typelist, c.k, c.class) {
			continue
		}
		for _, g := range f.Fail {
			if m, _ := path.Match(g, base); m {
				*used = append(*used, f.D)
				ok = false
				break
			}
		}
	}
	return ok
}

// perm evaluates delete or rename (del_check, renamecmd): anonymous starts without and gains
// it from a matching line starting with y; the others start with it and lose it to one
// starting with n.
func perm(lines []*permLine, c ctx, used *[]*directive) bool {
	allowed := c.k != kAnon
	for _, l := range lines {
		if l.Answer == "" || l.Typelist == "" || !typeMatch(l.Typelist, c.k, c.class) {
			continue
		}
		a := strings.ToLower(l.Answer)
		if c.k == kAnon && a[0] == 'y' {
			allowed = true
			*used = append(*used, l.D)
		} else if c.k != kAnon && a[0] == 'n' {
			allowed = false
			*used = append(*used, l.D)
		}
	}
	return allowed
}

// overwriteOK is store()'s overwrite check: allowed unless a matching line says other than yes.
func overwriteOK(lines []*permLine, c ctx, used *[]*directive) bool {
	ok := true
	for _, l := range lines {
		if l.Answer == "" || l.Typelist == "" || !typeMatch(l.Typelist, c.k, c.class) {
			continue
		}
		if !strings.EqualFold(l.Answer, "yes") {
			ok = false
			*used = append(*used, l.D)
		}
	}
	return ok
}

// outcome is what wu-ftpd allowed on one path in one context, with the lines that decided.
type outcome struct {
	rights verbs
	mode   uint32 // mode of files uploaded here
	group  string // group of files uploaded here, "" = the session's
	used   []*directive
	reason string     // why wu-ftpd's own decision was narrowed (write-only, modes), for the report
	why    *directive // the line the reason is about
}

// eval is wu-ftpd's decision for every verb on target path p (a file or directory inside the
// root; never "/").
func (p *policy) eval(c ctx, target string) outcome {
	var o outcome
	dir, base := path.Dir(target), path.Base(target)
	up := p.uploadAt(c, dir)
	if up != nil {
		o.used = append(o.used, up.D)
	}
	uploadOK := c.k != kAnon
	mkdirOK := c.k != kAnon
	if up != nil {
		uploadOK = up.Yes
		mkdirOK = !up.No && !up.NoDirs
	}
	nameOK := p.nameOK(c, base, &o.used)
	del := perm(p.deletes, c, &o.used)
	ren := perm(p.renames, c, &o.used)
	over := overwriteOK(p.overwrites, c, &o.used)

	o.rights = vList
	if p.retrievable(c, target, &o.used) {
		o.rights |= vRetrieve
	}
	if uploadOK && nameOK {
		o.rights |= vUpload
		if over {
			o.rights |= vOverwrite | vAppend
		}
	}
	if mkdirOK && nameOK {
		o.rights |= vMkdir
	}
	if del {
		o.rights |= vDelete
		if mkdirOK {
			o.rights |= vRmdir
		}
	}
	if ren && nameOK {
		o.rights |= vRename
	}
	o.mode = up.fileMode(p.umask)
	if up != nil && up.Yes && up.Group != "" && up.Group != "*" {
		o.group = strings.TrimPrefix(up.Group, "%")
	}
	if c.k == kAnon && uploadOK && up != nil {
		// Files uploaded here belonged to the upload line's owner with its mode. Every
		// anonymous session of tunnelftpd runs as one account, so only the mode kept one
		// anonymous user from reading or replacing another's upload: keep that.
		if r, w := p.readBack(up); !r || !w {
			if !r {
				o.rights &^= vRetrieve
			}
			if !w {
				o.rights &^= vOverwrite | vAppend
			}
			o.reason, o.why = fmt.Sprintf("files uploaded here belonged to %s with mode %04o", orStar(up.Owner), o.mode), up.D
		}
	}
	if o.rights&vMkdir != 0 && p.dirModeWider(up) {
		o.rights &^= vMkdir
		o.reason, o.why = fmt.Sprintf("wu-ftpd created directories here with mode %04o, tunnelftpd would create %04o", up.dirMode(p.umask), 0o777&^p.umask), up.D
	}
	if c.k == kAnon && (p.writeOnly(c, dir) || p.writeOnly(c, target)) {
		o.rights &^= vList
		if o.reason == "" {
			o.reason = "anonymous may upload here but not retrieve, so listing is refused too (wu-ftpd left that to the directory's mode; allow \"list\" here if the directory was readable)"
			if up := p.uploadAt(c, target); up != nil && p.writeOnly(c, target) {
				o.why = up.D
			} else if up := p.uploadAt(c, dir); up != nil {
				o.why = up.D
			}
		}
	}
	return o
}

// readBack is whether an anonymous session could read and write a file uploaded under u: as
// its owner when the line names ftp (or no owner), else through the group (ftp) or other bits.
func (p *policy) readBack(u *uploadLine) (read, write bool) {
	m := u.fileMode(p.umask)
	if u.Owner == "" || u.Owner == "ftp" {
		return m&0o400 != 0, m&0o200 != 0
	}
	group := u.Group == "ftp"
	read = m&0o004 != 0 || group && m&0o040 != 0
	write = m&0o002 != 0 || group && m&0o020 != 0
	return read, write
}

func orStar(owner string) string {
	if owner == "*" {
		return "the directory's owner"
	}
	return owner
}

// dirModeWider: tunnelftpd's directories (0777 less the umask) would be open to more than
// wu-ftpd's for this upload line.
func (p *policy) dirModeWider(u *uploadLine) bool {
	if u == nil || (u.Mode == "" && u.DMode == "") {
		return false
	}
	return (0o777&^p.umask)&^u.dirMode(p.umask) != 0
}

// writeOnly: anonymous may upload into dir but not retrieve what is there.
func (p *policy) writeOnly(c ctx, dir string) bool {
	if dir == "/" || dir == "." {
		return false
	}
	up := p.uploadAt(c, dir)
	if up == nil || !up.Yes {
		return false
	}
	var used []*directive
	probe := strings.TrimSuffix(dir, "/") + "/x"
	r, _ := p.readBack(up)
	return !r || !p.retrievable(c, probe, &used)
}
