package wuftpd

import (
	"fmt"
	"strconv"
	"strings"
)

// selectors is who a set of guestgroup/guestuser (or realgroup/realuser) lines names, as
// tunnelftpd rule selectors.
type selectors struct {
	who      []string // "@group:NAME" and user names
	all      bool     // "*": every system user
	inexact  []string // entries no selector can name (numeric ids, ranges)
	resolved []string // such entries, turned into user names from the accounts given
	lines    []*directive
}

// resolve turns numeric entries into the names of the accounts they match.
func (s *selectors) resolve(accounts []Account) {
	if accounts == nil || len(s.inexact) == 0 {
		return
	}
	for _, d := range s.lines {
		group := d.Keyword == "guestgroup" || d.Keyword == "realgroup"
		for _, e := range d.Args {
			if !strings.HasPrefix(e, "%") {
				continue
			}
			for _, a := range accounts {
				if a.UID != 0 && idMatch(e, a, group) {
					s.who = appendNew(s.who, a.Name)
				}
			}
		}
	}
	s.resolved, s.inexact = s.inexact, nil
}

// resolvedNames are the accounts the numeric entries of d stand for.
func resolvedNames(d *directive, accounts []Account) []string {
	group := d.Keyword == "guestgroup" || d.Keyword == "realgroup"
	var out []string
	for _, e := range d.Args {
		if !strings.HasPrefix(e, "%") {
			continue
		}
		for _, a := range accounts {
			if a.UID != 0 && idMatch(e, a, group) {
				out = appendNew(out, a.Name)
			}
		}
	}
	return out
}

func (s selectors) any() bool { return s.all || len(s.who) > 0 || len(s.inexact) > 0 }

// add reads the arguments of one line.
func (s *selectors) add(d *directive, group bool) {
	s.lines = append(s.lines, d)
	for _, a := range d.Args {
		switch {
		case !group && (a == "ftp" || a == "anonymous"):
			// the anonymous account: "realuser ftp" kept anonymous out of "guestuser *"
		case a == "*":
			s.all = true
		case strings.HasPrefix(a, "%"):
			s.inexact = append(s.inexact, a)
		case group:
			s.who = appendNew(s.who, "@group:"+a)
		default:
			s.who = appendNew(s.who, a)
		}
	}
}

func appendNew(l []string, s string) []string {
	if contains(l, s) {
		return l
	}
	return append(l, s)
}

// mapIdentity handles the directives that decide who logs in as what kind, and where.
func (im *importer) mapIdentity() {
	for _, d := range im.byKw["guestgroup"] {
		im.guests.add(d, true)
	}
	for _, d := range im.byKw["guestuser"] {
		im.guests.add(d, false)
	}
	for _, d := range im.byKw["realgroup"] {
		im.reals.add(d, true)
	}
	for _, d := range im.byKw["realuser"] {
		im.reals.add(d, false)
	}
	if im.reals.all {
		im.guests = selectors{lines: im.guests.lines} // realuser *: nobody is a guest
	}
	im.guests.resolve(im.in.Accounts)
	im.reals.resolve(im.in.Accounts)
	guestWho := func() string {
		switch {
		case im.guests.all:
			return "every system user (@system)"
		case len(im.guests.who) > 0:
			return quoteList(im.guests.who)
		}
		return "nobody a rule can name"
	}
	for _, d := range im.guests.lines {
		switch {
		case im.reals.all:
			im.report(d, Note, "realuser * makes every user real: no guests")
		case len(d.Args) == 0:
			im.report(d, Note, "names nobody")
		case hasInexact(d) && len(im.guests.resolved) > 0:
			im.report(d, Mapped, "guests are %s: %s stand for the accounts %s of the passwd and group given; their rules come before the real users'", guestWho(), strings.Join(inexactArgs(d), " "), orNobody(resolvedNames(d, im.in.Accounts)))
		case hasInexact(d):
			im.report(d, Narrowed, "guests are %s; numeric ids and ranges (%s) cannot be selectors, so such guests fall under the real users' rules, which are cut to what guests may do too; name them with @group:NAME or user names instead", guestWho(), strings.Join(inexactArgs(d), " "))
		default:
			im.report(d, Mapped, "guests (wu-ftpd kind guest) are %s: their rules come before the real users'; tunnelftpd confines every system user to its home, the same as a guest whose home ends in /./ (a /./ in the middle of a home chroots wu-ftpd to the part before it, tunnelftpd to the whole home: narrower)", guestWho())
		}
		if d.Keyword == "guestuser" && contains(d.Args, "*") {
			im.report(d, Note, "in wu-ftpd 2.6.2 guestuser * also made anonymous sessions match guest typelists unless realuser ftp; the import treats anonymous sessions by the anonymous typelists only")
		}
	}
	for _, d := range im.reals.lines {
		switch {
		case d.Keyword == "realuser" && len(d.Args) == 1 && (d.Args[0] == "ftp" || d.Args[0] == "anonymous"):
			im.report(d, Mapped, "keeps anonymous sessions out of the guests (wu-ftpd 2.6.2 needed it with guestuser *); tunnelftpd's anonymous sessions are never guests")
		case !im.guests.any():
			im.report(d, Note, "no guestgroup/guestuser: every user is real anyway")
		case hasInexact(d) && len(im.reals.resolved) > 0:
			im.report(d, Mapped, "exceptions to the guests: %s (%s stand for %s in the accounts given) get the real users' rights, in rules placed before the guests'", quoteList(im.reals.who), strings.Join(inexactArgs(d), " "), orNobody(resolvedNames(d, im.in.Accounts)))
		case hasInexact(d):
			im.report(d, Narrowed, "numeric ids and ranges (%s) cannot be selectors: those users get the guests' rules as well as the real users'", strings.Join(inexactArgs(d), " "))
		default:
			im.report(d, Mapped, "exceptions to the guests: %s get the real users' rights, in rules placed before the guests'", quoteList(im.reals.who))
		}
	}

	// The anonymous root.
	var perClass []*directive
	for _, d := range im.byKw["anonymous-root"] {
		switch {
		case d.arg(0) == "":
			im.report(d, Note, "no directory: wu-ftpd ignored it")
		case len(d.Args) == 1 && im.anonRoot == "":
			im.anonRoot = strings.TrimSuffix(d.arg(0), "/")
			if im.anonRoot == "" {
				im.anonRoot = "/"
			}
			im.anonRootLine = d // reported by finish, once it is known whether anonymous is on
		case len(d.Args) == 1:
			im.report(d, Note, "a second anonymous-root without a class: wu-ftpd used the first")
		default:
			perClass = append(perClass, d)
		}
	}
	if im.anonRoot == "" && im.in.FTPHome != "" {
		im.anonRoot = strings.TrimSuffix(im.in.FTPHome, "/")
		im.anonFromHome = true
	}
	for _, d := range perClass {
		im.report(d, Lost, "anonymous sessions of class %s were chrooted to %s; tunnelftpd has one anonymous root (%s) for everyone: make a second tunnelftpd instance if the trees must stay apart", strings.Join(d.Args[1:], ", "), d.arg(0), orNone(im.anonRoot))
	}

	guestRoot := ""
	defer func() { im.guestRoot = guestRoot }()
	for _, d := range im.byKw["guest-root"] {
		switch {
		case d.arg(0) == "":
			im.report(d, Note, "no directory: wu-ftpd ignored it")
		case len(d.Args) > 1:
			im.report(d, Lost, "guests in %s were chrooted to %s; tunnelftpd roots every system user at its home (or auth.system_root for all of them): those guests now see their home instead", strings.Join(d.Args[1:], " "), d.arg(0))
		case guestRoot != "":
			im.report(d, Note, "a second guest-root without uid ranges: wu-ftpd used the first")
		case im.guests.all && !im.reals.any():
			guestRoot = d.arg(0)
			im.cfg.setString("auth", "system_root", guestRoot, fmt.Sprintf("%s:%d guest-root (every system user is a guest)", d.File, d.Line))
			im.report(d, Mapped, "auth.system_root = %q: every system user is a guest and was chrooted there; wu-ftpd started each in the home from %s/etc/passwd, tunnelftpd at the root", guestRoot, guestRoot)
		default:
			guestRoot = d.arg(0)
			im.report(d, Lost, "guests were chrooted to %s; tunnelftpd's auth.system_root would apply to the real users too, so it is not set: guests see their home directory instead of %s", guestRoot, guestRoot)
		}
	}

	for _, d := range append(append([]*directive{}, im.byKw["restricted-uid"]...), im.byKw["restricted-gid"]...) {
		im.report(d, Mapped, "tunnelftpd confines every system user to its root (os.Root): no path or symlink leaves it")
	}
	for _, d := range append(append([]*directive{}, im.byKw["unrestricted-uid"]...), im.byKw["unrestricted-gid"]...) {
		im.report(d, Narrowed, "these users could leave their home in wu-ftpd; tunnelftpd confines every system user to its root (set auth.system_root to widen it for everyone)")
	}

	im.mapDenyIDs()

	for _, d := range im.byKw["guestserver"] {
		if len(d.Args) == 0 {
			im.kindOff[kAnon] = fmt.Sprintf("%s:%d guestserver", d.File, d.Line)
			im.kindOff[kGuest] = im.kindOff[kAnon]
			im.report(d, Mapped, "no guest or anonymous logins on this server: anonymous is off, guests are refused every operation")
		} else {
			im.report(d, Lost, "guests and anonymous were allowed only on %s; behind sshd every session arrives on 127.0.0.1 and tunnelftpd serves one host: if this is not one of them, set auth.anonymous_root = \"\"", strings.Join(d.Args, " "))
		}
	}
	for _, d := range im.byKw["defaultserver"] {
		switch strings.ToLower(d.arg(0)) {
		case "private":
			im.kindOff[kAnon] = fmt.Sprintf("%s:%d defaultserver private", d.File, d.Line)
			im.report(d, Mapped, "no anonymous logins: auth.anonymous_root = \"\"")
		case "deny":
			im.report(d, Lost, "users %s were refused on the default server; add them to the ftpusers file (auth.ftpusers)", strings.Join(d.Args[1:], " "))
		case "allow":
			im.report(d, Lost, "users %s were allowed again after defaultserver deny; tunnelftpd's ftpusers has no exceptions: list exactly the refused users there", strings.Join(d.Args[1:], " "))
		case "incmail", "mailfrom":
			im.report(d, Narrowed, "mail about anonymous uploads: tunnelftpd sends none (the xferlog records each upload)")
		default:
			im.report(d, Note, "not a defaultserver form wu-ftpd knows; it had no effect")
		}
	}
	for _, d := range im.byKw["autogroup"] {
		im.report(d, Narrowed, "anonymous sessions of class %s ran with group %s to read group-only files; tunnelftpd's anonymous sessions have run_as's groups only", strings.Join(d.Args[1:], ", "), d.arg(0))
	}
	enforce := false
	for _, d := range im.byKw["passwd-check"] {
		level, mode := strings.ToLower(d.arg(0)), strings.ToLower(d.arg(1))
		switch {
		case level == "none" || level == "":
			im.report(d, Mapped, "anonymous may give any password, as in tunnelftpd")
		case mode == "enforce":
			enforce = true
			im.report(d, Lost, "anonymous passwords had to look like an e-mail address (%s); tunnelftpd accepts any password for anonymous", level)
		default:
			im.report(d, Note, "wu-ftpd only warned about passwords that did not look like an e-mail address; tunnelftpd gives no such warning")
		}
	}
	for _, d := range im.byKw["deny-email"] {
		if enforce {
			im.report(d, Lost, "anonymous users giving %s as password were refused; tunnelftpd accepts any password", d.arg(0))
		} else {
			im.report(d, Note, "without passwd-check ... enforce it only warned")
		}
	}
	for _, d := range im.byKw["private"] {
		if strings.EqualFold(d.arg(0), "yes") {
			im.report(d, Narrowed, "SITE GROUP/SITE GPASS (ftpgroups) are gone: tunnelftpd has no SITE commands")
		} else {
			im.report(d, Mapped, "no SITE GROUP, as in tunnelftpd (no SITE commands)")
		}
	}
}

func hasInexact(d *directive) bool { return len(inexactArgs(d)) > 0 }

func inexactArgs(d *directive) []string {
	var out []string
	for _, a := range d.Args {
		if strings.HasPrefix(a, "%") {
			out = append(out, a)
		}
	}
	return out
}

func orNobody(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return quoteList(l)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// idRange is one uid/gid item of deny-uid and its kin: "%n", "%n-m", "%-m", "%n-", "%n+",
// a name, or "*".
type idRange struct {
	lo, hi int // inclusive; hi < 0: no upper bound
	name   string
	all    bool
}

func parseIDRange(s string) (idRange, bool) {
	if s == "*" {
		return idRange{all: true}, true
	}
	if !strings.HasPrefix(s, "%") {
		return idRange{name: s}, true
	}
	t := s[1:]
	num := func(x string) (int, bool) {
		n, err := strconv.Atoi(x)
		return n, err == nil && n >= 0
	}
	if lo, hi, ok := strings.Cut(t, "-"); ok {
		r := idRange{lo: 0, hi: -1}
		if lo != "" {
			n, ok := num(lo)
			if !ok {
				return r, false
			}
			r.lo = n
		}
		if hi != "" {
			n, ok := num(hi)
			if !ok {
				return r, false
			}
			r.hi = n
		}
		return r, true
	}
	if lo, ok := strings.CutSuffix(t, "+"); ok {
		n, ok := num(lo)
		return idRange{lo: n, hi: -1}, ok
	}
	n, ok := num(t)
	return idRange{lo: n, hi: n}, ok
}

// mapDenyIDs handles deny-uid/deny-gid/allow-uid/allow-gid: tunnelftpd has auth.min_uid.
func (im *importer) mapDenyIDs() {
	minUID := 0
	var minFrom *directive
	for _, d := range im.byKw["deny-uid"] {
		var lost []string
		for _, a := range d.Args {
			r, ok := parseIDRange(a)
			switch {
			case !ok:
				lost = append(lost, a+" (not a uid range wu-ftpd reads)")
			case r.all:
				im.kindOff[kReal] = fmt.Sprintf("%s:%d deny-uid *", d.File, d.Line)
				im.kindOff[kGuest] = im.kindOff[kReal]
			case r.name == "" && r.lo == 0 && r.hi >= 0:
				if r.hi+1 > minUID {
					minUID, minFrom = r.hi+1, d
				}
			default:
				lost = append(lost, a)
			}
		}
		switch {
		case im.kindOff[kReal] != "" && strings.HasSuffix(im.kindOff[kReal], "deny-uid *"):
			im.report(d, Mapped, "every uid is refused: no system users (auth.system_users = false); allow-uid exceptions are not kept")
		case len(lost) > 0:
			im.report(d, Lost, "tunnelftpd can refuse only uids below auth.min_uid; %s may log in: put those accounts in the ftpusers file", strings.Join(lost, " "))
		default:
			im.report(d, Mapped, "auth.min_uid = %d", minUID)
		}
	}
	if minFrom != nil {
		im.cfg.setInt("auth", "min_uid", max(1, minUID), fmt.Sprintf("%s:%d deny-uid", minFrom.File, minFrom.Line))
	}
	for _, d := range im.byKw["deny-gid"] {
		im.report(d, Lost, "tunnelftpd cannot refuse users by group (%s): put the members in the ftpusers file, or write [[rules]] with who = [\"@group:NAME\"] and every verb denied", strings.Join(d.Args, " "))
	}
	for _, d := range append(append([]*directive{}, im.byKw["allow-uid"]...), im.byKw["allow-gid"]...) {
		low := false
		for _, a := range d.Args {
			if r, ok := parseIDRange(a); ok && r.name == "" && !r.all && r.lo < max(minUID, 1000) {
				low = true
			}
			if r, ok := parseIDRange(a); ok && r.name != "" {
				low = true
			}
		}
		if low {
			im.report(d, Narrowed, "exceptions to deny-uid/deny-gid (%s): accounts below auth.min_uid stay refused in tunnelftpd (the anonymous ftp account needs no exception)", strings.Join(d.Args, " "))
		} else {
			im.report(d, Mapped, "exceptions above auth.min_uid: allowed anyway")
		}
	}
}

// mapFtpusers reads ftpusers as wu-ftpd did and says what tunnelftpd does with each line.
func (im *importer) mapFtpusers() {
	src := im.in.FtpUsers
	if src == nil {
		im.defaultNote("ftpusers", Note, "no --ftpusers given: auth.ftpusers stays \"/etc/ftpusers\"; wu-ftpd also refused anonymous logins when that file lists ftp or anonymous, check it")
		return
	}
	im.cfg.setString("auth", "ftpusers", src.Name, "wu-ftpd's ftpusers (same format)")
	rep := func(e ftpusersEntry, st Status, format string, args ...any) {
		im.reportAt(src.Name, e.Line, "ftpusers", st, format, args...)
	}
	for _, e := range parseFtpusers(*src) {
		name := strings.TrimSpace(e.Name)
		switch {
		case e.Unended && !e.Comment && !e.Blank:
			rep(e, Narrowed, "%q: the last line has no newline, so wu-ftpd skipped it; tunnelftpd refuses the user", name)
		case e.Comment:
			rep(e, Note, "comment")
		case e.Blank:
			rep(e, Note, "blank line")
		case strings.HasPrefix(name, "#"):
			rep(e, Note, "wu-ftpd read %q as a user name (a comment needs '#' in column 1), tunnelftpd as a comment: no account is called that", e.Name)
		case e.Trailing:
			rep(e, Narrowed, "%q has blanks around the name: wu-ftpd compared the whole line and never matched it; tunnelftpd trims it and refuses the user", e.Name)
		case strings.EqualFold(name, "ftp") || strings.EqualFold(name, "anonymous"):
			if im.kindOff[kAnon] == "" {
				im.kindOff[kAnon] = fmt.Sprintf("%s:%d", src.Name, e.Line)
			}
			rep(e, Mapped, "%s listed: wu-ftpd refused anonymous logins, so anonymous is off (auth.anonymous_root = \"\")", name)
		case strings.EqualFold(name, "root"):
			rep(e, Mapped, "root: tunnelftpd refuses root always")
		case strings.ToLower(name) != name:
			lower := strings.ToLower(name)
			im.userRefuse[lower] = refusal{allAddrs, fmt.Sprintf("%s:%d lists %s: wu-ftpd refused %s too (it ignored case)", src.Name, e.Line, name, lower)}
			rep(e, Mapped, "%q: wu-ftpd compared names ignoring case and refused %q too; tunnelftpd's ftpusers is exact, so a class refuses %q's login from every client", name, lower, lower)
		default:
			rep(e, Mapped, "%s is refused (auth.ftpusers)", name)
		}
	}
}
