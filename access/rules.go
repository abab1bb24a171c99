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

// Decision is everything the policy says about one path for one session: the rights there, and
// how a file or directory created there is made. Computing it is one walk over the session's
// rules; it does not allocate.
type Decision struct {
	Path   string // the clean absolute FTP path decided for
	Rights Rights // what the user may do at Path
	Rule   int    // index in Policy.Rules of the rule that decided, -1 for the default rights
	// FilePerm and DirPerm are the permission bits of a file or directory created at Path: the
	// umask's, and for files the rule's mode if it has one.
	FilePerm, DirPerm fs.FileMode
	// GID is the group to give what is created at Path, -1 to leave the kernel's choice.
	GID int
	// Reserved is set when Path's name is the cwd message file's: nothing may be created,
	// written or renamed to under that name through FTP (the file is shown to every user
	// entering the directory, so it belongs to the operator).
	Reserved bool
}

// reservedVerbs are the verbs refused on the cwd message file's name.
const reservedVerbs = Rights(Upload | Overwrite | Append | Rename | Mkdir)

// At decides for the clean absolute FTP path p.
func (s *Session) At(p string) Decision {
	d := Decision{Path: p, Rights: s.base, Rule: -1, FilePerm: s.umask.FileMode(), DirPerm: s.umask.DirMode(), GID: -1}
	if i := s.match(p); i >= 0 {
		r := s.rules[i]
		d.Rule = s.index[i]
		d.Rights = r.apply(d.Rights)
		if r.HasMode {
			d.FilePerm = r.Mode
		}
		if r.Group != "" {
			d.GID = r.GID
		}
	}
	if s.user.ReadOnly {
		d.Rights &= ReadRights
	}
	if s.cwdMsg != "" && path.Base(p) == s.cwdMsg {
		d.Reserved = true
		d.Rights &^= reservedVerbs
	}
	return d
}

// Check returns nil if d allows verb v, else a *Denied (which wraps fs.ErrPermission) saying
// which verb, where, and which rule decided.
func (d Decision) Check(v Verb) error {
	if d.Rights.Has(v) {
		return nil
	}
	return &Denied{Verb: v, Path: d.Path, Rule: d.Rule, Reserved: d.Reserved && reservedVerbs.Has(v)}
}

// Rights returns the user's rights at the clean absolute FTP path p.
func (s *Session) Rights(p string) Rights { return s.At(p).Rights }

// Check is At(p).Check(v).
func (s *Session) Check(v Verb, p string) error { return s.At(p).Check(v) }

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
