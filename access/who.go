package access

import (
	"fmt"
	"strings"
	"unicode"
)

// Kind is how a user logged in.
type Kind uint8

// The kinds of user, as the @virtual, @system and @anonymous selectors name them.
const (
	Virtual   Kind = iota + 1 // a user of the virtual user file
	System                    // a system account authenticated by PAM
	Anonymous                 // the anonymous login
)

func (k Kind) String() string {
	switch k {
	case Virtual:
		return "virtual"
	case System:
		return "system"
	case Anonymous:
		return "anonymous"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// User is what the policy knows about a logged-in user.
type User struct {
	Name     string   // login name as authenticated
	Kind     Kind     // virtual, system or anonymous
	Groups   []string // names of the system groups of a system user (for @group:NAME); empty otherwise
	ReadOnly bool     // a read_only user: never more than ReadRights
	// Umask, if HasUmask, replaces the policy's umask for this user ([[users]] umask).
	Umask    Umask
	HasUmask bool
}

// DefaultRights are the rights of u where no rule matches: list and retrieve for anonymous and
// read_only users, everything for the others.
func DefaultRights(u *User) Rights {
	if u.Kind == Anonymous || u.ReadOnly {
		return ReadRights
	}
	return AllRights
}

type selKind uint8

const (
	selAll selKind = iota + 1
	selName
	selUserKind
	selGroup
)

type selector struct {
	kind selKind
	user Kind   // for selUserKind
	name string // user name for selName, group name for selGroup
}

// Who is a compiled list of selectors: user names, "@virtual", "@system", "@anonymous",
// "@group:NAME" (a system group) and "*" (everyone). It matches a user if any selector does; an
// empty Who (no who key) matches everyone.
type Who struct {
	sels []selector
	src  []string
}

// selectorHelp lists the selectors for error messages.
const selectorHelp = `a user name, @virtual, @system, @anonymous, @group:NAME or "*"`

// ParseWho compiles a who list. The error names the first bad selector.
func ParseWho(list []string) (Who, error) {
	w := Who{src: list}
	for _, s := range list {
		sel, err := parseSelector(s)
		if err != nil {
			return Who{}, err
		}
		w.sels = append(w.sels, sel)
	}
	return w, nil
}

func parseSelector(s string) (selector, error) {
	switch {
	case s == "*":
		return selector{kind: selAll}, nil
	case s == "":
		return selector{}, fmt.Errorf("empty selector (use %s)", selectorHelp)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return selector{}, fmt.Errorf("selector %q contains a space or control character", s)
	case s == "@virtual":
		return selector{kind: selUserKind, user: Virtual}, nil
	case s == "@system":
		return selector{kind: selUserKind, user: System}, nil
	case s == "@anonymous":
		return selector{kind: selUserKind, user: Anonymous}, nil
	case strings.HasPrefix(s, "@group:"):
		g := strings.TrimPrefix(s, "@group:")
		if g == "" {
			return selector{}, fmt.Errorf("selector %q names no group (example: \"@group:ftpusers\")", s)
		}
		return selector{kind: selGroup, name: g}, nil
	case s[0] == '@':
		return selector{}, fmt.Errorf("unknown selector %q (use %s)", s, selectorHelp)
	}
	return selector{kind: selName, name: s}, nil
}

// Everyone reports whether w matches every user (empty, or holding "*").
func (w Who) Everyone() bool {
	if len(w.sels) == 0 {
		return true
	}
	for _, s := range w.sels {
		if s.kind == selAll {
			return true
		}
	}
	return false
}

// Matches reports whether u is selected by w.
func (w Who) Matches(u *User) bool {
	if len(w.sels) == 0 {
		return true
	}
	for _, s := range w.sels {
		if s.matches(u) {
			return true
		}
	}
	return false
}

func (s selector) matches(u *User) bool {
	switch s.kind {
	case selAll:
		return true
	case selName:
		return u.Name == s.name
	case selUserKind:
		return u.Kind == s.user
	case selGroup:
		if u.Kind != System {
			return false
		}
		for _, g := range u.Groups {
			if g == s.name {
				return true
			}
		}
	}
	return false
}

// Covers reports whether w selects every user v selects, as far as can be told without knowing
// the users: "*" covers everything, and otherwise each selector of v must appear in w.
func (w Who) Covers(v Who) bool {
	if w.Everyone() {
		return true
	}
	if v.Everyone() {
		return false
	}
	for _, t := range v.sels {
		found := false
		for _, s := range w.sels {
			if s == t {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// String returns the selectors as written, "*" for everyone.
func (w Who) String() string {
	if len(w.src) == 0 {
		return "*"
	}
	return strings.Join(w.src, ",")
}
