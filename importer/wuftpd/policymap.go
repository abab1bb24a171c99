package wuftpd

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// maxAssume caps the lines whose applicability is unknown that the importer tries both ways
// (2^maxAssume combinations).
const maxAssume = 10

// mapPolicy turns upload, noretrieve, allow-retrieve, path-filter and delete/rename/overwrite
// into [[rules]], and reports each of those lines.
func (im *importer) mapPolicy() {
	p := &policy{umask: im.umask, anonRoot: im.anonRoot, guestRoot: im.guestRoot}
	if im.anonRoot != "" {
		p.roots[kAnon] = []string{im.anonRoot}
	}
	if im.guestRoot != "" {
		p.roots[kGuest] = []string{im.guestRoot}
	}
	im.pol = p
	if im.in.Accounts != nil {
		p.known = true
		real, guest := im.loginAccounts()
		for _, a := range real {
			abs, rel := homeDirs(a, false, "")
			p.homes[kReal] = append(p.homes[kReal], [2]string{abs, rel})
			p.roots[kReal] = appendNew(p.roots[kReal], abs)
		}
		for _, a := range guest {
			abs, rel := homeDirs(a, true, im.guestRoot)
			p.homes[kGuest] = append(p.homes[kGuest], [2]string{abs, rel})
			p.roots[kGuest] = appendNew(p.roots[kGuest], chrootOf(a, im.guestRoot))
		}
	}
	for _, d := range im.byKw["upload"] {
		p.uploads = append(p.uploads, parseUpload(d, p))
	}
	for _, d := range im.dirs {
		if d.Keyword == "noretrieve" || d.Keyword == "allow-retrieve" {
			p.retrieves = append(p.retrieves, parseRetrieve(d, p))
		}
	}
	for _, d := range im.byKw["path-filter"] {
		p.filters = append(p.filters, parsePathFilter(d))
	}
	perms := func(kw string) []*permLine {
		var out []*permLine
		for _, d := range im.byKw[kw] {
			out = append(out, &permLine{D: d, Answer: d.arg(0), Typelist: d.arg(1)})
		}
		return out
	}
	p.deletes, p.renames, p.overwrites = perms("delete"), perms("rename"), perms("overwrite")

	im.blocks = im.makeBlocks()
	var rules []rule
	var events []narrowing
	involved := map[*directive][]string{} // rule paths each line shaped
	for _, b := range im.blocks {
		if len(b.Kinds) == 0 && b.Name == "guests" {
			continue // refused at login: refusals writes the class
		}
		if len(b.Kinds) == 0 {
			rules = append(rules, denyAllRules(b.Who, nil, fmt.Sprintf("%s cannot log in with wu-ftpd (%s): every operation is refused", b.Name, b.Note()))...)
			continue
		}
		ctxs := im.contexts(b, p)
		rs, ev := p.blockRules(b, ctxs)
		if len(rs) > 0 {
			rs[0].Note = "rules for " + b.Name
		}
		for _, r := range rs {
			for _, d := range r.Origin {
				involved[d] = appendNew(involved[d], r.Path)
			}
		}
		rules = append(rules, rs...)
		events = append(events, ev...)
	}
	im.cfg.rules = rules

	// Report each policy line: narrowed where a rule allows less than it did, else mapped.
	narrowed := map[*directive][]string{}
	lost := map[*directive][]string{}
	for _, e := range events {
		for _, d := range uniq(e.Lines) {
			if e.Lost {
				lost[d] = appendNew(lost[d], e.Text)
			} else {
				narrowed[d] = appendNew(narrowed[d], e.Text)
			}
		}
	}
	reportPolicy := func(d *directive, mapped string) {
		if why, ok := im.approx[d]; ok {
			narrowed[d] = append([]string{why}, narrowed[d]...)
		}
		paths := ""
		if ps := involved[d]; len(ps) > 0 {
			paths = " (rules: " + quoteList(ps) + ")"
		}
		switch {
		case len(lost[d]) > 0:
			im.report(d, Lost, "%s%s; %s", mapped, paths, lost[d][0])
		case len(narrowed[d]) > 0:
			more := ""
			if n := len(narrowed[d]); n > 1 {
				more = fmt.Sprintf(" (and %d more such %s)", n-1, plural(n-1, "place", "places"))
			}
			im.report(d, Narrowed, "%s%s; %s%s", mapped, paths, narrowed[d][0], more)
		default:
			im.report(d, Mapped, "%s%s", mapped, paths)
		}
	}
	for _, u := range p.uploads {
		im.reportUpload(u, reportPolicy)
	}
	for _, r := range p.retrieves {
		im.reportRetrieve(r, reportPolicy)
	}
	for _, f := range p.filters {
		switch {
		case len(f.Regexps) == 0:
			im.report(f.D, Note, "%s", f.Why)
		case !f.Exact:
			reportPolicy(f.D, fmt.Sprintf("upload names of %s: %s, so those sessions may upload, make directories and rename nothing", f.Typelist, f.Why))
		default:
			reportPolicy(f.D, fmt.Sprintf("%s may not upload, make or rename to names matching %s (the message file %s is not shown)", f.Typelist, quoteList(f.Fail), f.Msg))
		}
	}
	for _, l := range append(append(append([]*permLine{}, p.deletes...), p.renames...), p.overwrites...) {
		switch {
		case l.Answer == "" || l.Typelist == "":
			im.report(l.D, Note, "needs yes|no and a typelist: wu-ftpd skipped it")
		case len(typeKinds(l.Typelist)) == 0 && !strings.HasPrefix(strings.ToLower(l.Typelist), "class="):
			im.report(l.D, Note, "the typelist %q names no kind: it matched no session", l.Typelist)
		default:
			extra := ""
			if len(l.D.Args) > 2 {
				extra = fmt.Sprintf("; wu-ftpd read only the first typelist word, %q: %s had no effect", l.Typelist, strings.Join(l.D.Args[2:], " "))
			}
			reportPolicy(l.D, fmt.Sprintf("%s %s for %s: folded into every rule of those sessions%s", l.D.Keyword, strings.ToLower(l.Answer), l.Typelist, extra))
		}
	}
}

// Note says why a block's users cannot log in.
func (b block) Note() string { return b.off }

func uniq(ds []*directive) []*directive {
	var out []*directive
	seen := map[*directive]bool{}
	for _, d := range ds {
		if d != nil && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// makeBlocks orders the rule blocks so that tunnelftpd's first match picks each user's wu-ftpd
// kind: real users excepted from the guests, the guests, the other system users, anonymous.
func (im *importer) makeBlocks() []block {
	on := func(ks ...kind) ([]kind, string) {
		var out []kind
		why := ""
		for _, k := range ks {
			if im.kindOff[k] == "" {
				out = append(out, k)
			} else {
				why = im.offReason(k)
			}
		}
		return out, why
	}
	sys := im.kindOff[kReal] == "" || im.kindOff[kGuest] == ""
	var bs []block
	add := func(b block, ks ...kind) {
		b.Kinds, b.off = on(ks...)
		bs = append(bs, b)
	}
	if sys && im.guests.any() {
		if len(im.reals.who) > 0 {
			add(block{Name: "real users excepted from the guests (realgroup/realuser)", Who: im.reals.who, Guard: true}, kReal)
		}
		gk := []kind{kGuest}
		if len(im.reals.inexact) > 0 {
			gk = append(gk, kReal)
		}
		switch {
		case im.guests.all:
			add(block{Name: "guests (every system user)", Who: []string{"@system"}, Default: defaultSystem}, gk...)
		case len(im.guests.who) > 0:
			add(block{Name: "guests", Who: im.guests.who, Guard: true}, gk...)
		}
		if !im.guests.all {
			rk := []kind{kReal}
			if len(im.guests.inexact) > 0 || len(im.guests.who) == 0 {
				rk = append(rk, kGuest)
			}
			add(block{Name: "real users", Who: []string{"@system"}, Default: defaultSystem}, rk...)
		}
	} else if sys {
		add(block{Name: "real users", Who: []string{"@system"}, Default: defaultSystem}, kReal)
	}
	if im.kindOff[kAnon] == "" && im.anonRoot != "" {
		add(block{Name: "anonymous", Who: []string{"@anonymous"}, Default: defaultAnon}, kAnon)
	}
	return bs
}

// contexts lists the sessions a block's rules must serve: each kind, each class it can be in,
// each way the lines of unknown applicability can go.
func (im *importer) contexts(b block, p *policy) []ctx {
	var out []ctx
	for _, k := range b.Kinds {
		var keys []string
		for _, u := range p.uploads {
			if u.Applies[k] == triMaybe && !contains(keys, u.assumeKey(k)) {
				keys = append(keys, u.assumeKey(k))
			}
		}
		if len(keys) > maxAssume {
			for _, u := range p.uploads {
				if u.Applies[k] == triMaybe && indexOf(keys, u.assumeKey(k)) >= maxAssume {
					im.report(u.D, Lost, "too many upload root directories of unknown reach for %s sessions: this line is taken to apply to every home", k)
					u.Applies[k] = triYes
				}
			}
			keys = keys[:maxAssume]
		}
		classes := im.classesOf[k]
		if len(classes) == 0 {
			classes = []string{""}
		}
		for _, c := range classes {
			for mask := 0; mask < 1<<len(keys); mask++ {
				a := map[string]bool{}
				for i, key := range keys {
					a[key] = mask&(1<<i) != 0
				}
				out = append(out, ctx{k: k, class: c, assume: a})
			}
		}
	}
	return out
}

// reportUpload describes what one upload line says, for its report line.
func (im *importer) reportUpload(u *uploadLine, rep func(*directive, string)) {
	if u.RootDir == "" || u.DirGlob == "" {
		im.report(u.D, Note, "%s", u.Bad)
		return
	}
	var ks []string
	for k := kReal; k < numKinds; k++ {
		if u.Applies[k] != triNo && !u.Ftp[k].None && im.kindOff[k] == "" && (k != kAnon || im.anonRoot != "") {
			ks = append(ks, k.String())
		}
	}
	if len(ks) == 0 {
		why := "its root-dir " + u.RootDir + " is the root or home of no session that can log in here"
		for k := kReal; k < numKinds; k++ {
			if u.Applies[k] != triNo && u.Ftp[k].None && u.Ftp[k].Why != "" && im.kindOff[k] == "" {
				why = u.Ftp[k].Why
			}
		}
		im.report(u.D, Note, "applies to no session: %s", why)
		return
	}
	what := "uploads refused"
	if u.Yes {
		what = "uploads allowed"
		if u.Mode != "" {
			what += ", files " + u.Mode
		}
		if u.Owner != "" && u.Owner != "*" {
			what += fmt.Sprintf(" (wu-ftpd made them %s's; tunnelftpd's belong to the session's user)", u.Owner)
		}
	}
	if u.NoDirs || u.No {
		what += ", no MKD"
	}
	dir := u.DirGlob
	if u.DirGlob == "*" {
		dir = "every directory"
	}
	msg := fmt.Sprintf("%s in %s for %s", what, dir, strings.Join(ks, ", "))
	if u.Bad != "" {
		msg += "; " + u.Bad
	}
	if len(u.Classes) > 0 {
		msg += " in class " + strings.Join(u.Classes, ", ")
	}
	rep(u.D, msg)
}

func (im *importer) reportRetrieve(r *retrieveLine, rep func(*directive, string)) {
	var parts, notes []string
	for _, n := range r.Names {
		switch {
		case n.Bad != "":
			notes = append(notes, n.Text+" is "+n.Bad)
		case n.Base:
			parts = append(parts, "files named "+n.Text+" anywhere")
		default:
			var where []string
			for k := kReal; k < numKinds; k++ {
				if im.kindOff[k] != "" || !im.scopeReaches(r.scope, k) {
					continue
				}
				g := n.Ftp[k]
				switch {
				case g.None:
					notes = append(notes, fmt.Sprintf("%s is %s for %s sessions", n.Text, g.Why, k))
				case (g.Anywhere || g.Partial) && r.Allow:
					notes = append(notes, fmt.Sprintf("%s: %s, so it allows nothing for %s sessions", n.Text, g.Why, k))
					im.approx[r.D] = fmt.Sprintf("for %s sessions %s: %s, so the exception is not written for them", k, n.Text, g.Why)
				case g.Anywhere:
					where = append(where, fmt.Sprintf("%s: every %s", k, g.Pat))
					im.approx[r.D] = fmt.Sprintf("for %s sessions %s: %s, so every file or directory named %s is refused", k, n.Text, g.Why, path.Base(n.Text))
				case g.Partial:
					where = append(where, fmt.Sprintf("%s: %s", k, orAllPat(g)))
					im.approx[r.D] = fmt.Sprintf("for %s sessions %s: %s; it is refused to all of them", k, n.Text, g.Why)
				case g.All:
					where = append(where, fmt.Sprintf("%s: everything", k))
				default:
					where = append(where, fmt.Sprintf("%s: %s", k, g.Pat))
				}
			}
			if len(where) > 0 {
				parts = append(parts, n.Text+" and below ("+strings.Join(where, "; ")+")")
			}
		}
	}
	verb := "retrieving refused for"
	if r.Allow {
		verb = "retrieving allowed again for"
	}
	msg := verb + " " + strings.Join(parts, ", ")
	if len(parts) == 0 {
		msg = "nothing to map"
	}
	if len(r.Classes) > 0 {
		msg += " in class " + strings.Join(r.Classes, ", ")
	}
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	rep(r.D, msg)
}

// finish writes the keys that follow from everything else: who may log in, the listen
// address, the refused clients.
func (im *importer) finish() {
	c := im.cfg
	sys := im.kindOff[kReal] == "" || im.kindOff[kGuest] == ""
	if sys {
		c.setBool("auth", "system_users", true, "real and guest users: system accounts through PAM, one process per session as the user")
		c.setString("auth", "pam_service", "ftp", "wu-ftpd's PAM service: /etc/pam.d/ftp keeps its ftpusers (pam_listfile) and shell checks")
		c.setBool("auth", "require_shell", true, "wu-ftpd refused accounts whose shell is not in /etc/shells")
		if len(im.byKw["deny-uid"]) == 0 {
			im.defaultNote("deny-uid", Narrowed, "wu-ftpd let every account not in ftpusers log in; tunnelftpd refuses uids below 1000 (auth.min_uid): lower it if system accounts below 1000 used FTP")
		}
		if im.kindOff[kReal] == "" && len(im.byKw["restricted-uid"])+len(im.byKw["restricted-gid"]) == 0 {
			im.defaultNote("restricted-uid", Narrowed, "real users saw the whole file system in wu-ftpd; tunnelftpd confines each system user to its home (or auth.system_root)")
		}
		im.defaultNote("mfmt", Note, "wu-ftpd had no MFMT (setting a file's time): the rules leave the mfmt verb out")
		if im.kindOff[kReal] == "" && len(im.byKw["chmod"]) == 0 {
			im.defaultNote("chmod", Narrowed, "real users could SITE CHMOD and SITE UMASK in wu-ftpd (the default); tunnelftpd has no SITE commands: upload modes come from umask and rules mode")
		}
	}
	for k := kReal; k < numKinds; k++ {
		if r := im.kindOff[k]; r == "in no class" && im.useAccess && (k != kGuest || im.guests.any()) {
			im.defaultNote("class", Mapped, "no class line takes %s sessions: wu-ftpd refused them (\"not in any class\"), so %s", k, map[kind]string{kAnon: "anonymous is off", kGuest: "guests are refused at login", kReal: "real users are refused (system users off unless guests log in)"}[k])
		}
	}
	if d := im.anonRootLine; d != nil {
		if im.kindOff[kAnon] != "" {
			im.report(d, Note, "anonymous cannot log in (%s), so no anonymous root is written", im.offReason(kAnon))
		} else {
			im.report(d, Mapped, "auth.anonymous_root = %q; wu-ftpd started anonymous users in the ftp account's home from %s/etc/passwd, tunnelftpd at the root", im.anonRoot, im.anonRoot)
		}
	}
	switch {
	case im.kindOff[kAnon] != "":
	case im.anonRoot == "":
		im.defaultNote("anonymous-root", Narrowed, "anonymous logins were possible, but neither anonymous-root nor the ftp account's home is known here: anonymous is off; set auth.anonymous_root to ~ftp and add the anonymous rules by hand (import again where the ftp account exists)")
	default:
		if im.anonFromHome {
			im.defaultNote("anonymous-root", Mapped, "auth.anonymous_root = %q, the home of the ftp account (wu-ftpd's anonymous root)", im.anonRoot)
		}
		c.setString("auth", "anonymous_root", im.anonRoot, "anonymous (and ftp) logins, confined here")
		c.setString("", "run_as", "ftp", "wu-ftpd ran anonymous sessions as the ftp account")
	}
	if !sys && (im.kindOff[kAnon] != "" || im.anonRoot == "") {
		im.defaultNote("(login)", Lost, "nobody can log in with this configuration (as with wu-ftpd); tunnelftpd check will say so")
	}
	if _, ok := c.get("", "listen"); !ok {
		c.setString("", "listen", "127.0.0.1:"+im.portOr21(), "sshd forwards the control port to this address")
	}
	im.refusals()
	// Top-level keys come first in TOML; order them as etc/tunnelftpd.toml does.
	order := []string{"listen", "banner", "banner_file", "idle_timeout", "data_timeout", "umask", "shutdown_file", "run_as"}
	sort.SliceStable(c.tables[""], func(i, j int) bool {
		return indexOf(order, c.tables[""][i].key) < indexOf(order, c.tables[""][j].key)
	})
}

func indexOf(l []string, s string) int {
	for i, v := range l {
		if v == s {
			return i
		}
	}
	return len(l)
}

// scopeReaches: a line's class= scope can hold sessions of kind k.
func (im *importer) scopeReaches(s scope, k kind) bool {
	if len(s.Classes) == 0 {
		return true
	}
	for _, c := range im.classesOf[k] {
		if s.inClass(c) {
			return true
		}
	}
	return false
}

func orAllPat(g ftpGlob) string {
	if g.All {
		return "everything"
	}
	return g.Pat
}

// refusals writes the refused clients as classes: at connect, a refusal list (a class of only
// a name and deny_clients) for the clients refused to everyone; at login, a class per kind
// and per user whose who selects them and whose clients and deny_clients are the clients they
// are refused from (the clients list keeps the class from taking anybody's other sessions).
func (im *importer) refusals() {
	c := im.cfg
	global := im.admit.complement().union(im.deny)
	var kinds []kind
	for k := kReal; k < numKinds; k++ {
		if im.kindOff[k] == "" && (k != kAnon || im.anonRoot != "") {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) > 0 {
		every := allAddrs
		for _, k := range kinds {
			every = every.intersect(im.admitK[k].complement())
		}
		global = global.union(every)
	}
	var out []classOut
	if !global.isEmpty() {
		out = append(out, classOut{Name: "refused", DenyClients: global.cidrs(),
			Comment: "clients wu-ftpd refused to everyone (deny, ftphosts, classes, xinetd): 421 at connect\n" + behindSSHD})
	}
	atLogin := func(name string, who []string, r addrSet, why string) {
		// What the refusal list already refuses may be left out; whichever is shorter.
		if rest := r.intersect(global.complement()); len(rest.cidrs()) < len(r.cidrs()) || rest.isEmpty() {
			r = rest
		}
		if r.isEmpty() {
			return
		}
		cidrs := r.cidrs()
		out = append(out, classOut{Name: name, Who: who, Clients: cidrs, DenyClients: cidrs, Comment: why + ": 421 at login"})
	}
	for _, k := range kinds {
		atLogin("refused-"+k.String(), im.whoOf([]kind{k}), im.admitK[k].complement(), fmt.Sprintf("%s sessions from these clients were in no wu-ftpd class", k))
	}
	if im.kindOff[kReal] == "" && im.kindOff[kGuest] == "" && im.guests.any() {
		// "@system" selects the guests too: they are refused where real users are.
		if extra := im.admitK[kGuest].intersect(im.admitK[kReal].complement()).intersect(global.complement()); !extra.isEmpty() {
			im.defaultNote("class", Narrowed, "guests were admitted from %s, where real users were not; the class refusing real users there (who = [\"@system\"]) refuses the guests too", extra.describe())
		}
	}
	if im.kindOff[kGuest] != "" && im.kindOff[kReal] == "" && len(im.guests.who) > 0 && !im.guests.all {
		atLogin("refused-guest", im.guests.who, allAddrs, fmt.Sprintf("guests could not log in with wu-ftpd (%s)", im.offReason(kGuest)))
	}
	var users []string
	for u := range im.userRefuse {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		r := im.userRefuse[u]
		atLogin("refused-"+u, []string{u}, r.set, r.why)
	}
	c.classes = append(out, c.classes...)
}
