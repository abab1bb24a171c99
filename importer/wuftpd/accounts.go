package wuftpd

import (
	"path"
	"strconv"
	"strings"
)

// Account is one system account of the host wu-ftpd ran on, from /etc/passwd and /etc/group.
// The importer uses the accounts to decide which upload lines reach which users (wu-ftpd
// matched an upload line's root-dir against each user's home) and who is a guest.
type Account struct {
	Name     string
	UID, GID int
	Home     string
	Groups   []string // names of the primary and supplementary groups
	GIDs     []int
}

// ParseAccounts reads passwd(5) and group(5) text. Malformed lines are skipped.
func ParseAccounts(passwd, group []byte) []Account {
	type grp struct {
		name    string
		gid     int
		members []string
	}
	var groups []grp
	for _, l := range strings.Split(string(group), "\n") {
		f := strings.Split(strings.TrimSpace(l), ":")
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		var members []string
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				members = append(members, m)
			}
		}
		groups = append(groups, grp{f[0], gid, members})
	}
	var out []Account
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(strings.TrimSpace(l), ":")
		if len(f) < 7 || strings.HasPrefix(f[0], "#") || f[0] == "" {
			continue
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		a := Account{Name: f[0], UID: uid, GID: gid, Home: f[5]}
		for _, g := range groups {
			if g.gid == gid || contains(g.members, a.Name) {
				a.Groups = appendNew(a.Groups, g.name)
				a.GIDs = append(a.GIDs, g.gid)
			}
		}
		if len(a.GIDs) == 0 || a.GIDs[0] != gid {
			a.GIDs = append([]int{gid}, a.GIDs...)
		}
		out = append(out, a)
	}
	return out
}

// idMatch is whether an account matches one guestgroup/guestuser/realgroup/realuser entry.
func idMatch(entry string, a Account, group bool) bool {
	if entry == "*" {
		return true
	}
	if strings.HasPrefix(entry, "%") {
		r, ok := parseIDRange(entry)
		if !ok {
			return false
		}
		in := func(id int) bool { return id >= r.lo && (r.hi < 0 || id <= r.hi) }
		if !group {
			return in(a.UID)
		}
		for _, g := range a.GIDs {
			if in(g) {
				return true
			}
		}
		return false
	}
	if group {
		return contains(a.Groups, entry)
	}
	return a.Name == entry
}

// isGuest is wu-ftpd's decision for a real account: a guest by guestgroup/guestuser unless
// realgroup/realuser names it.
func (im *importer) isGuest(a Account) bool {
	match := func(s selectors) bool {
		for _, d := range s.lines {
			for _, e := range d.Args {
				if idMatch(e, a, d.Keyword == "guestgroup" || d.Keyword == "realgroup") {
					return true
				}
			}
		}
		return false
	}
	return match(im.guests) && !match(im.reals)
}

// loginAccounts are the accounts tunnelftpd would let log in as system users, with their
// wu-ftpd kind.
func (im *importer) loginAccounts() (real, guest []Account) {
	min := 1000
	if v, ok := im.cfg.get("auth", "min_uid"); ok {
		min = atoi(v)
	}
	for _, a := range im.in.Accounts {
		if a.UID == 0 || a.UID < min || a.Name == "ftp" {
			continue
		}
		if im.isGuest(a) {
			guest = append(guest, a)
		} else {
			real = append(real, a)
		}
	}
	return real, guest
}

// homeDirs is what wu-ftpd compared an upload root-dir with for an account: the chroot plus
// the home inside it (absolute) or the home inside the chroot (relative). A guest's home is
// split at "/./" (guest-root, when set, is the chroot and the start is unknown: "/").
func homeDirs(a Account, guest bool, guestRoot string) (abs, rel string) {
	if !guest {
		return path.Clean(a.Home), path.Clean(a.Home)
	}
	if guestRoot != "" {
		return path.Clean(guestRoot), "/"
	}
	root, inside, ok := strings.Cut(a.Home, "/./")
	if !ok {
		return path.Clean(a.Home), "/"
	}
	inside = path.Clean("/" + inside)
	return path.Clean(path.Join(root, inside)), inside
}

// chrootOf is the directory wu-ftpd chrooted a guest to.
func chrootOf(a Account, guestRoot string) string {
	if guestRoot != "" {
		return path.Clean(guestRoot)
	}
	if root, _, ok := strings.Cut(a.Home, "/./"); ok {
		return path.Clean(root)
	}
	return path.Clean(a.Home)
}
