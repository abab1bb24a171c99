package wuftpd

import (
	"fmt"
	"strconv"
	"strings"
)

// behindSSHD is appended to every report line about client addresses.
const behindSSHD = "behind sshd they match the SSH client's real address (tunnel identity, which needs the daemon to run as root); a session whose client cannot be identified is matched as its peer 127.0.0.1"

// globSets reads address globs (class, deny, ftphosts): under is what they surely match,
// over what they may match. A glob that names the loopback address matched every tunnelled
// session behind sshd, so it matches every client here. notes says what could not be read.
func (im *importer) globSets(args []string, depth int) (under, over addrSet, notes []string, loop bool) {
	under, over = noAddrs, noAddrs
	for _, a := range args {
		g := parseAddrGlob(a)
		switch {
		case g.File != "" && depth < 3:
			data, err := im.readFile(g.File)
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s could not be read here (%v): its addresses match no client", g.File, err))
				over = allAddrs
				continue
			}
			u, o, n, l := im.globSets(strings.Fields(string(data)), depth+1)
			if g.Neg {
				u, o = o.complement(), u.complement()
			}
			under, over, notes, loop = under.union(u), over.union(o), append(notes, n...), loop || l
		case !g.OK || g.File != "":
			notes = append(notes, fmt.Sprintf("%s is %s: it matches no client here", a, g.Why))
			over = allAddrs
		case g.namesLoopback():
			under, over, loop = allAddrs, allAddrs, loop || !g.Set.isAll()
		default:
			s := g.Set
			if g.Neg {
				s = s.complement()
			}
			under, over = under.union(s), over.union(s)
		}
	}
	return under, over, notes, loop
}

func (im *importer) readFile(name string) ([]byte, error) {
	if im.in.ReadFile == nil {
		return nil, fmt.Errorf("the importer was not allowed to read files")
	}
	return im.in.ReadFile(name)
}

// classLine is one "class" directive.
type classLine struct {
	d           *directive
	name        string
	kinds       []kind
	under, over addrSet
	notes       []string
	loop        bool
}

// admitText says which clients a set admits, naming the smaller side.
func admitText(admitted addrSet) string {
	switch {
	case admitted.isAll():
		return "every client is admitted"
	case admitted.isEmpty():
		return "every client is refused (deny_clients)"
	}
	if r := admitted.complement(); len(r.cidrs()) < len(admitted.cidrs()) {
		return "clients from " + r.describe() + " are refused (deny_clients)"
	}
	return "only clients from " + admitted.describe() + " are admitted (deny_clients has the rest)"
}

func (s addrSet) describe() string {
	switch {
	case s.isAll():
		return "every client"
	case s.isEmpty():
		return "no client"
	}
	return strings.Join(s.cidrs(), " ")
}

// mapClasses handles class, limit and deny: classes with their limits, and which clients each
// kind may come from.
func (im *importer) mapClasses() {
	var lines []*classLine
	var names []string
	for _, d := range im.byKw["class"] {
		cl := &classLine{d: d, name: d.arg(0), kinds: typeKinds(d.arg(1))}
		if len(d.Args) < 3 {
			im.report(d, Note, "no address: wu-ftpd never put a session in this class")
			continue
		}
		cl.under, cl.over, cl.notes, cl.loop = im.globSets(d.Args[2:], 0)
		lines = append(lines, cl)
		names = appendNewFold(names, cl.name)
	}
	if im.useAccess && len(im.byKw["class"]) == 0 {
		for k := kReal; k < numKinds; k++ {
			if im.kindOff[k] == "" {
				im.kindOff[k] = "no class line"
			}
		}
		im.defaultNote("class", Lost, "no class line: wu-ftpd refused every login (\"ACCESS DENIED (not in any class)\"), so nobody can log in here either; add e.g. \"class all real,guest,anonymous *\" to the ftpaccess and import again")
	}

	// Which classes a session of each kind can land in (first matching line), and from where
	// it is admitted at all.
	admitK := [numKinds]addrSet{allAddrs, allAddrs, allAddrs}
	unclassified := [numKinds]bool{}
	if im.useAccess {
		for k := kReal; k < numKinds; k++ {
			remaining := allAddrs
			admitK[k] = noAddrs
			for _, cl := range lines {
				if !containsKind(cl.kinds, k) || remaining.isEmpty() {
					continue
				}
				if !cl.over.intersect(remaining).isEmpty() {
					im.classesOf[k] = appendNewFold(im.classesOf[k], cl.name)
				}
				admitK[k] = admitK[k].union(cl.under)
				remaining = remaining.intersect(cl.under.complement())
			}
			unclassified[k] = !remaining.isEmpty()
			if len(im.classesOf[k]) == 0 && im.kindOff[k] == "" {
				im.kindOff[k] = "in no class"
			}
		}
	} else {
		for k := kReal; k < numKinds; k++ {
			im.classesOf[k] = []string{""}
		}
	}

	// Client addresses: a session in no class was refused; finish writes a refusal class per
	// kind from these.
	im.admitK = admitK
	for _, cl := range lines {
		var ks []kind
		for _, k := range cl.kinds {
			if im.kindOff[k] == "" {
				ks = append(ks, k)
			}
		}
		reach := false
		for _, k := range ks {
			if containsFold(im.classesOf[k], cl.name) {
				reach = true
			}
		}
		extra := ""
		if len(cl.notes) > 0 {
			extra = "; " + strings.Join(cl.notes, "; ")
		}
		switch {
		case len(cl.kinds) == 0:
			im.report(cl.d, Note, "the typelist %q names no kind (real, guest, anonymous): wu-ftpd never used this line", cl.d.arg(1))
		case len(ks) == 0:
			im.report(cl.d, Note, "its kinds (%s) cannot log in here: %s", kindList(cl.kinds), im.offReason(cl.kinds[0]))
		case !reach:
			im.report(cl.d, Note, "never reached: earlier class lines take every %s session", kindList(ks))
		case cl.loop:
			im.report(cl.d, Mapped, "[[classes]] %s for %s: it names the loopback address, where behind sshd every tunnelled session came from, so it matches every client%s", cl.name, kindList(ks), extra)
		case cl.under.isAll() && len(cl.notes) == 0:
			im.report(cl.d, Mapped, "[[classes]] %s for %s sessions from every client", cl.name, kindList(ks))
		case len(cl.notes) > 0:
			im.report(cl.d, Narrowed, "[[classes]] %s for %s from %s (clients); %s%s", cl.name, kindList(ks), cl.under.describe(), behindSSHD, extra)
		default:
			im.report(cl.d, Mapped, "[[classes]] %s for %s from %s (clients); %s", cl.name, kindList(ks), cl.under.describe(), behindSSHD)
		}
	}
	for k := kReal; k < numKinds; k++ {
		if im.kindOff[k] == "" && unclassified[k] && len(lines) > 0 {
			im.defaultNote("class", Mapped, "%s sessions from some clients were in no class, which wu-ftpd refused: %s at login (a class with deny_clients for %s users); %s", k, admitText(admitK[k]), k, behindSSHD)
		}
	}

	im.mapLimits(lines, names)

	for _, d := range im.byKw["deny"] {
		glob := d.arg(0)
		switch {
		case glob == "":
			im.report(d, Note, "no address: wu-ftpd ignored it")
		case strings.EqualFold(glob, "!nameserved"):
			im.report(d, Lost, "wu-ftpd refused clients without working reverse DNS; tunnelftpd does no DNS lookups (sshd's UseDNS can)")
		default:
			g := parseAddrGlob(glob)
			switch {
			case !g.OK || g.File != "":
				im.report(d, Lost, "%s is %s: those clients are not refused; write their CIDRs in deny_clients", glob, g.Why)
			default:
				s := g.Set
				if g.Neg {
					s = s.complement()
				}
				im.deny = im.deny.union(s)
				im.denyWhy = append(im.denyWhy, d)
				msg := ""
				if d.arg(1) != "" {
					msg = fmt.Sprintf("; the message file %s is not shown (the refusal is a 421)", d.arg(1))
				}
				im.report(d, Mapped, "deny_clients %s: refused at connect; %s%s", s.describe(), behindSSHD, msg)
			}
		}
	}
}

// offReason says why a kind cannot log in.
func (im *importer) offReason(k kind) string {
	switch r := im.kindOff[k]; r {
	case "":
		return "it can"
	case "in no class":
		return "no class line takes " + k.String() + " sessions"
	case "no class line":
		return "the file has no class line"
	default:
		return r
	}
}

func containsKind(ks []kind, k kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func containsFold(l []string, s string) bool {
	for _, v := range l {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func appendNewFold(l []string, s string) []string {
	if containsFold(l, s) {
		return l
	}
	return append(l, s)
}

// whoOf is the selectors of the given kinds.
func (im *importer) whoOf(ks []kind) []string {
	var who []string
	for _, k := range ks {
		switch k {
		case kAnon:
			who = appendNew(who, "@anonymous")
		case kReal:
			who = appendNew(who, "@system")
		case kGuest:
			if im.guests.all || len(im.guests.who) == 0 {
				who = appendNew(who, "@system")
			}
			for _, w := range im.guests.who {
				who = appendNew(who, w)
			}
		}
	}
	if contains(who, "@system") {
		var out []string
		for _, w := range who {
			if w == "@system" || w == "@anonymous" {
				out = append(out, w)
			}
		}
		who = out
	}
	return who
}

// mapLimits turns the classes and their limit lines into [[classes]].
func (im *importer) mapLimits(lines []*classLine, names []string) {
	limits := map[string][]*directive{}
	for _, d := range im.byKw["limit"] {
		name := strings.ToLower(d.arg(0))
		if len(d.Args) < 3 {
			im.report(d, Note, "needs a class, a number and times; wu-ftpd skipped it")
			continue
		}
		if !containsFold(names, d.arg(0)) {
			im.report(d, Note, "no class %s is defined: it limited nothing", d.arg(0))
			continue
		}
		limits[name] = append(limits[name], d)
	}
	for _, name := range names {
		var ks []kind
		for k := kReal; k < numKinds; k++ {
			if im.kindOff[k] == "" && containsFold(im.classesOf[k], name) {
				ks = append(ks, k)
			}
		}
		var mine []*classLine
		clients := noAddrs
		inexact := false
		for _, cl := range lines {
			if strings.EqualFold(cl.name, name) {
				mine = append(mine, cl)
				clients = clients.union(cl.under)
				inexact = inexact || len(cl.notes) > 0
			}
		}
		lims := limits[strings.ToLower(name)]
		if len(ks) == 0 {
			for _, d := range lims {
				im.report(d, Note, "class %s takes no session that can log in here", name)
			}
			continue
		}
		out := classOut{Name: name, Who: im.whoOf(ks)}
		var ds []*directive
		for _, cl := range mine {
			ds = append(ds, cl.d)
		}
		if clients.isEmpty() {
			for _, d := range lims {
				im.report(d, Lost, "class %s matches no client the importer can name (host names, unread files), so it is not written and its limit is not kept", name)
			}
			continue
		}
		if !clients.isAll() {
			out.Clients = clients.cidrs()
		}
		// limit: the first line for the class whose times hold now; a line with "Any" ends the
		// search. tunnelftpd has no time windows: the smallest limit holds at all times.
		minN, timed, seenAny := -1, false, false
		var used []*directive
		for _, d := range lims {
			if seenAny {
				im.report(d, Note, "never used: an earlier limit line for %s holds at Any time", name)
				continue
			}
			used = append(used, d)
			n := atoi(d.arg(1))
			if strings.EqualFold(d.arg(2), "any") {
				seenAny = true
			} else {
				timed = true
			}
			if n >= 0 && (minN < 0 || n < minN) {
				minN = n
			}
			if msg := d.arg(3); msg != "" && out.FullMessage == "" {
				if data, err := im.readFile(msg); err == nil {
					// wu-ftpd sent the file as 530- lines; tunnelftpd's 421 is one line.
					var lines []string
					for _, l := range strings.Split(string(data), "\n") {
						if l = strings.TrimSpace(l); l != "" {
							lines = append(lines, l)
						}
					}
					out.FullMessage = strings.Join(lines, " ")
					if len(lines) > 1 {
						im.report(d, Note, "the %d lines of %s are joined into one full_message (the 421 reply is a single line)", len(lines), msg)
					}
				} else {
					im.report(d, Note, "the message file %s could not be read here (%v): copy its text into full_message", msg, err)
				}
			}
		}
		ds = append(ds, used...)
		out.Comment = "from " + where(ds)
		for _, d := range used {
			n := atoi(d.arg(1))
			switch {
			case minN == 0:
				out.MaxSessions = 1
				im.report(d, Lost, "limit 0 (no session of class %s) cannot be written: tunnelftpd's max_sessions counts from 1, so max_sessions = 1", name)
			case minN < 0:
				im.report(d, Mapped, "no limit (-1) for class %s", name)
			case timed:
				out.MaxSessions = minN
				im.report(d, Narrowed, "class %s: max_sessions = %d at all times; wu-ftpd allowed %s at the times %s and this was the smallest (tunnelftpd has no time windows)", name, minN, limitText(n), d.arg(2))
			case im.noPIDs:
				out.MaxSessions = minN
				im.report(d, Narrowed, "class %s: max_sessions = %d; with -Q wu-ftpd kept no PID files and this limit had no effect", name, minN)
			default:
				out.MaxSessions = minN
				im.report(d, Mapped, "class %s: max_sessions = %d in every launch mode; wu-ftpd refused the next login after PASS with the message as 530- lines, tunnelftpd with a 421 and full_message", name, minN)
			}
		}
		if inexact && out.MaxSessions > 0 {
			im.reportAt(mine[0].d.File, mine[0].d.Line, "class", Lost, "class %s has addresses the importer cannot match, so some of its sessions may count in another class (or none) and escape max_sessions = %d", name, out.MaxSessions)
		}
		im.cfg.classes = append(im.cfg.classes, out)
	}
	im.orderClasses()
}

func limitText(n int) string {
	if n < 0 {
		return "any number"
	}
	return strconv.Itoa(n)
}

// orderClasses moves a class of guests only before a class of real users that precedes it
// (they never competed in wu-ftpd, but "@system" also selects guests).
func (im *importer) orderClasses() {
	cs := im.cfg.classes
	isGuestOnly := func(c classOut) bool {
		return !contains(c.Who, "@system") && !contains(c.Who, "@anonymous") && len(c.Who) > 0
	}
	for changed := true; changed; {
		changed = false
		for i := 0; i+1 < len(cs); i++ {
			if contains(cs[i].Who, "@system") && !contains(cs[i].Who, "@anonymous") && isGuestOnly(cs[i+1]) && im.guests.any() {
				cs[i], cs[i+1] = cs[i+1], cs[i]
				changed = true
			}
		}
	}
}

// mapFtphosts handles ftphosts: per-user client rules.
func (im *importer) mapFtphosts() {
	src := im.in.FtpHosts
	if src == nil {
		return
	}
	rules := parseFtphosts(*src)
	rep := func(r ftphostsRule, st Status, format string, args ...any) {
		kw := "deny"
		if r.Allow {
			kw = "allow"
		}
		if r.Broken != "" {
			kw = "ftphosts"
		}
		im.reportAt(src.Name, r.Line, kw, st, format, args...)
	}
	type line struct {
		r     ftphostsRule
		under addrSet
		notes []string
	}
	var all []line
	broken := false
	for _, r := range rules {
		if r.Broken != "" {
			broken = true
			rep(r, Lost, "%s: with this line wu-ftpd refused every login (rhost_ok failed); the importer ignores the line, which lets logins in", r.Broken)
			continue
		}
		u, _, notes, _ := im.globSets(r.Addrs, 0)
		user := strings.ToLower(r.User)
		if user == "anonymous" {
			user = "ftp"
		}
		r.User = user
		all = append(all, line{r, u, notes})
	}
	_ = broken
	admitted := func(user string) addrSet {
		remaining, in := allAddrs, noAddrs
		seen := false
		for _, l := range all {
			if l.r.User != user && l.r.User != "*" {
				continue
			}
			seen = true
			if l.r.Allow {
				in = in.union(remaining.intersect(l.under))
			}
			remaining = remaining.intersect(l.under.complement())
		}
		if !seen {
			return allAddrs
		}
		return in
	}
	star := admitted("*")
	im.admit = im.admit.intersect(star)
	for _, l := range all {
		if l.r.User == "ftp" && !l.r.Allow && len(l.notes) > 0 {
			im.reportAt(src.Name, l.r.Line, "deny", Lost, "%s: those clients are not refused", strings.Join(l.notes, "; "))
		}
	}
	users := []string{}
	for _, l := range all {
		if l.r.User != "*" {
			users = appendNew(users, l.r.User)
		}
	}
	verdict := map[string]string{}
	for _, u := range users {
		a := admitted(u)
		switch {
		case u == "ftp":
			im.anonAdmit(a)
			verdict[u] = fmt.Sprintf("anonymous logins: %s", admitText(a))
		case star.intersect(a.complement()).isEmpty() && !a.intersect(star.complement()).isEmpty():
			verdict[u] = fmt.Sprintf("narrowed:%s may log in from %s, but the lines for everyone refuse some of those clients at connect, before the user is known", u, a.describe())
		default:
			if r := a.complement().intersect(star); !r.isEmpty() {
				im.userRefuse[u] = refusal{r, fmt.Sprintf("%s: %s", src.Name, admitText(a))}
			}
			verdict[u] = fmt.Sprintf("%s: %s at login (a class with who = [\"%s\"] and deny_clients)", u, admitText(a), u)
		}
	}
	for _, l := range all {
		extra := ""
		if len(l.notes) > 0 {
			extra = "; " + strings.Join(l.notes, "; ")
		}
		if l.r.User == "*" {
			im.reportAt(src.Name, l.r.Line, kwOf(l.r), Mapped, "for every user: %s; %s%s", admitText(star), behindSSHD, extra)
			continue
		}
		v := verdict[l.r.User]
		if after, ok := strings.CutPrefix(v, "narrowed:"); ok {
			im.reportAt(src.Name, l.r.Line, kwOf(l.r), Narrowed, "%s; %s%s", after, behindSSHD, extra)
		} else {
			im.reportAt(src.Name, l.r.Line, kwOf(l.r), Mapped, "%s; %s%s", v, behindSSHD, extra)
		}
	}
}

func kwOf(r ftphostsRule) string {
	if r.Allow {
		return "allow"
	}
	return "deny"
}

// anonAdmit restricts the clients anonymous sessions may come from.
func (im *importer) anonAdmit(a addrSet) {
	im.admitK[kAnon] = im.admitK[kAnon].intersect(a)
}
