package access

import (
	"fmt"
	"io/fs"
	"path"
)

// Rule is one compiled [[rules]] table.
type Rule struct {
	Path Glob // matched against the FTP path of the operation's target
	Who  Who  // users the rule applies to; empty = everyone
	// Allow, if HasAllow, replaces the user's rights at a matching path with exactly these verbs.
	Allow    Rights
	HasAllow bool
	Deny     Rights // removed from the rights (after Allow)
	// Mode, if HasMode, is the exact mode of regular files created at a matching path (the
	// umask is not applied to it). Directories keep the umask's mode.
	Mode    fs.FileMode
	HasMode bool
	// Group, if not "", is the group given to files and directories created at a matching path;
	// GID is its id (-1 if the policy was compiled without a group lookup).
	Group string
	GID   int
}

// apply returns the rights at a path this rule matches, for a user whose rights elsewhere are base.
func (r *Rule) apply(base Rights) Rights {
	if r.HasAllow {
		base = r.Allow
	}
	return base &^ r.Deny
}

// Policy is the whole compiled access configuration. It is immutable and safe for concurrent use.
type Policy struct {
	Rules   []Rule
	Classes []Class
	Umask   Umask // the default umask (top-level umask key)
	// CwdMessage is the file name shown on CWD ([messages] cwd, e.g. ".message"); "" for none.
	CwdMessage string
}

// Session is the policy as it applies to one logged-in user: the rules whose who selects the
// user, in order. Decisions cost one walk over those rules and no allocation.
type Session struct {
	user   User
	base   Rights
	rules  []*Rule
	index  []int // index in Policy.Rules of each of rules, for Denied.Rule
	umask  Umask
	cwdMsg string
}

// Session returns the policy for user u.
func (p *Policy) Session(u User) *Session {
	s := &Session{user: u, base: DefaultRights(&u), umask: p.Umask, cwdMsg: p.CwdMessage}
	if u.HasUmask {
		s.umask = u.Umask
	}
	for i := range p.Rules {
		if p.Rules[i].Who.Matches(&u) {
			s.rules = append(s.rules, &p.Rules[i])
			s.index = append(s.index, i)
		}
	}
	return s
}

// User returns the user the session decides for.
func (s *Session) User() User { return s.user }

// Umask returns the umask of the session's user.
func (s *Session) Umask() Umask { return s.umask }

// match returns the position (in s.rules) of the first rule matching p, or -1.
func (s *Session) match(p string) int {
	for i, r := range s.rules {
		if r.Path.Match(p) {
			return i
		}
	}
	return -1
}

// Rights returns the user's rights at the clean absolute FTP path p.
func (s *Session) Rights(p string) Rights {
	r, _ := s.rights(p)
	return r
}

func (s *Session) rights(p string) (Rights, int) {
	rights := s.base
	i := s.match(p)
	if i >= 0 {
		rights = s.rules[i].apply(rights)
	}
	if s.user.ReadOnly {
		rights &= ReadRights
	}
	return rights, i
}

// Check returns nil if verb v may be applied to the clean absolute FTP path p, else a *Denied
// (which wraps fs.ErrPermission) saying which verb and which rule.
//
// Names equal to the [messages] cwd file (".message") cannot be created, written or renamed to
// through FTP by anyone: those files are shown to every user entering the directory, so they
// belong to the operator.
func (s *Session) Check(v Verb, p string) error {
	rights, i := s.rights(p)
	rule := -1
	if i >= 0 {
		rule = s.index[i]
	}
	if s.cwdMsg != "" && v&(Upload|Overwrite|Append|Rename|Mkdir) != 0 && path.Base(p) == s.cwdMsg {
		return &Denied{Verb: v, Path: p, Rule: rule, Reserved: true}
	}
	if !rights.Has(v) {
		return &Denied{Verb: v, Path: p, Rule: rule}
	}
	return nil
}

// Create returns the permission bits and group id (-1: leave the group alone) for a file (dir
// false) or directory created at the clean absolute FTP path p: the umask's mode, replaced for
// files by the first matching rule's mode, and that rule's group.
func (s *Session) Create(p string, dir bool) (perm fs.FileMode, gid int) {
	perm, gid = s.umask.FileMode(), -1
	if dir {
		perm = s.umask.DirMode()
	}
	if i := s.match(p); i >= 0 {
		r := s.rules[i]
		if r.HasMode && !dir {
			perm = r.Mode
		}
		if r.Group != "" {
			gid = r.GID
		}
	}
	return perm, gid
}

// Denied is the error of a refused operation.
type Denied struct {
	Verb     Verb
	Path     string // the FTP path checked
	Rule     int    // index in Policy.Rules of the rule that decided, -1 for the default rights
	Reserved bool   // refused because the name is the cwd message file's
}

func (d *Denied) Error() string {
	if d.Reserved {
		return fmt.Sprintf("%s: the name %q is reserved for directory messages", d.Verb, path.Base(d.Path))
	}
	return fmt.Sprintf("%s is not allowed here", d.Verb)
}

// Is makes errors.Is(err, fs.ErrPermission) true, which the driver and ftpserverlib map to 550.
func (d *Denied) Is(target error) bool { return target == fs.ErrPermission }
