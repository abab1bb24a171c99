// Package policy owns one session's part in the access policy that package access decides:
// who the policy sees (the logged-in user as an access.User, the connection as an
// access.Conn), the session's class ([[classes]]: deny_clients, and the class's max_sessions,
// counted across every process of the daemon by package classcount), and the messages the
// session is shown (banner_file, [messages] login and cwd, a full class's message), cookies
// expanded (classes.go, messages.go).
//
// It must not write to the client (the session sends what it returns) nor open user files (a
// directory's message is read through the session's driver).
package policy

import (
	"log/slog"
	"os/user"
	"strconv"
	"sync"

	"github.com/tunnelftpd/tunnelftpd/access"
	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/metrics"
	"github.com/tunnelftpd/tunnelftpd/server/classcount"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// Session is one session's part in the policy. Its exported fields are set before first use.
type Session struct {
	// Cfg is the config the session started with.
	Cfg *config.Config
	// Classes counts the sessions of each class.
	Classes *classcount.Counter
	// Conn is what the policy knows of the connection (peer.Conn.Access), and Remote the
	// client's address for the %R cookie (peer.Conn.Host).
	Conn   access.Conn
	Remote string
	// User is the logged-in user's name, "" before login (the %U cookie).
	User func() string
	// Log is the session's logger; Metrics counts the class refusals (nil: none).
	Log     *slog.Logger
	Metrics *metrics.Recorder
	// OnClass is told the class a login was admitted under (the registry).
	OnClass func(name string)

	mu      sync.Mutex
	class   *access.Class
	slot    *classcount.Slot
	visited access.Visited // the directories whose message was shown
	refusal string         // a login refusal to send as 421
}

// AccessUser is what the policy knows of the logged-in user u. Anonymous is its own kind with the
// default rights list and retrieve, not a read_only user: a rule's allow may give it more (a
// write-only /incoming). A system user's groups are named for @group:NAME selectors.
func (p *Session) AccessUser(u *auth.User) access.User {
	au := access.User{Name: u.Name, Kind: access.Virtual, ReadOnly: u.ReadOnly && !u.Anonymous}
	switch {
	case u.Anonymous:
		au.Kind = access.Anonymous
	case u.System:
		au.Kind = access.System
		au.Groups = groupNames(u.GID, u.Groups)
	default:
		au.Umask, au.HasUmask = p.Cfg.UserUmask(u.Name)
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
