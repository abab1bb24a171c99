package server

import (
	"os/user"
	"strconv"

	"github.com/tunnelftpd/tunnelftpd/access"
	"github.com/tunnelftpd/tunnelftpd/auth"
)

// The access policy of a session (package access decides; this file only says who the user is
// and where the connection comes from).

// accessUser is what the policy knows of the logged-in user u. Anonymous is its own kind with
// the default rights list and retrieve, not a read_only user: a rule's allow may give it more
// (a write-only /incoming). A system user's groups are named for @group:NAME selectors.
func (s *session) accessUser(u *auth.User) access.User {
	au := access.User{Name: u.Name, Kind: access.Virtual, ReadOnly: u.ReadOnly && !u.Anonymous}
	switch {
	case u.Anonymous:
		au.Kind = access.Anonymous
	case u.System:
		au.Kind = access.System
		au.Groups = groupNames(u.GID, u.Groups)
	default:
		au.Umask, au.HasUmask = s.live.cfg.UserUmask(u.Name)
	}
	return au
}

// groupNames names the groups gid and groups (the primary first); ids without a name are left
// out (no @group:NAME can select them).
func groupNames(gid int, groups []int) []string {
	var names []string
	seen := map[int]bool{}
	for _, id := range append([]int{gid}, groups...) {
		if seen[id] {
			continue
		}
		seen[id] = true
		if g, err := user.LookupGroupId(strconv.Itoa(id)); err == nil {
			names = append(names, g.Name)
		}
	}
	return names
}
