package access

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// RuleConfig is one [[rules]] table as the config file spells it. The server decodes the file
// into these and hands them to [Compile]; the toml tags are the contract's key names.
type RuleConfig struct {
	Path  string   `toml:"path"`
	Who   []string `toml:"who"`
	Allow []string `toml:"allow"` // nil: not given (rights unchanged); empty: nothing allowed
	Deny  []string `toml:"deny"`
	Mode  string   `toml:"mode"`
	Group string   `toml:"group"`
}

// ClassConfig is one [[classes]] table as the config file spells it.
type ClassConfig struct {
	Name        string   `toml:"name"`
	Who         []string `toml:"who"`
	Clients     []string `toml:"clients"`
	SSHUsers    []string `toml:"ssh_users"`
	MaxSessions int      `toml:"max_sessions"`
	FullMessage string   `toml:"full_message"`
	DenyClients []string `toml:"deny_clients"`
}

// MessagesConfig is the [messages] table.
type MessagesConfig struct {
	Login string `toml:"login"` // file shown after login as 230- lines
	Cwd   string `toml:"cwd"`   // file name shown once per directory on CWD
}

// Input is everything [Compile] reads.
type Input struct {
	Umask    string // top-level umask; "" means DefaultUmask
	Rules    []RuleConfig
	Classes  []ClassConfig
	Messages MessagesConfig
}

// CompileOptions are the outside facts Compile may need.
type CompileOptions struct {
	// LookupGroup resolves a rule's group name to its id. If nil, groups are only checked for
	// syntax and Rule.GID is -1.
	LookupGroup func(name string) (gid int, err error)
}

// Problem is one error in the access configuration, placed the way the server's config errors
// are: Key is the dotted key ("rules.path"), Entry the 0-based index of the [[rules]] or
// [[classes]] table it is in (0 for plain keys).
type Problem struct {
	Key   string
	Entry int
	Msg   string
}

func (p Problem) Error() string { return p.Key + ": " + p.Msg }

// Problems is every problem found, in the order of the tables.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// Compile checks in and builds the policy. On any problem it returns them all and a nil policy.
func Compile(in Input, opt CompileOptions) (*Policy, Problems) {
	var probs Problems
	bad := func(key string, entry int, format string, args ...any) {
		probs = append(probs, Problem{Key: key, Entry: entry, Msg: fmt.Sprintf(format, args...)})
	}
	p := &Policy{Umask: DefaultUmask}
	if in.Umask != "" {
		u, err := ParseUmask(in.Umask)
		if err != nil {
			bad("umask", 0, "%v", err)
		}
		p.Umask = u
	}
	if err := checkMessageName(in.Messages.Cwd); err != nil {
		bad("messages.cwd", 0, "%v", err)
	}
	p.CwdMessage = in.Messages.Cwd

	for i, rc := range in.Rules {
		r, ok := compileRule(rc, i, opt, bad)
		if ok {
			p.Rules = append(p.Rules, r)
		}
	}
	if len(probs) == 0 {
		for j := range p.Rules {
			for i := range j {
				if p.Rules[i].Path.Covers(p.Rules[j].Path) && p.Rules[i].Who.Covers(p.Rules[j].Who) {
					bad("rules.path", j, "rule %d (path %q, who %s) can never match: rule %d (path %q, who %s) comes first and matches every path and user it does (first match wins: move it up or remove it)",
						j+1, p.Rules[j].Path, p.Rules[j].Who, i+1, p.Rules[i].Path, p.Rules[i].Who)
					break
				}
			}
		}
	}

	names := map[string]int{}
	for i, cc := range in.Classes {
		cl, ok := compileClass(cc, i, bad)
		if first, dup := names[cc.Name]; dup && cc.Name != "" {
			bad("classes.name", i, "class %q is already defined by class %d", cc.Name, first+1)
			ok = false
		}
		names[cc.Name] = i
		if ok {
			p.Classes = append(p.Classes, cl)
		}
	}
	if len(probs) == 0 {
		for j := range p.Classes {
			for i := range j {
				if p.Classes[i].covers(&p.Classes[j]) {
					bad("classes.name", j, "class %q can never be chosen: class %q comes first and takes every session it would (the first class that fits wins)",
						p.Classes[j].Name, p.Classes[i].Name)
					break
				}
			}
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return p, nil
}

func compileRule(rc RuleConfig, i int, opt CompileOptions, bad func(string, int, string, ...any)) (Rule, bool) {
	ok := true
	r := Rule{GID: -1}
	var err error
	if r.Path, err = CompileGlob(rc.Path); err != nil {
		bad("rules.path", i, "%v", err)
		ok = false
	}
	if r.Who, err = ParseWho(rc.Who); err != nil {
		bad("rules.who", i, "%v", err)
		ok = false
	}
	if rc.Allow != nil {
		r.HasAllow = true
		if r.Allow, err = ParseRights(rc.Allow); err != nil {
			bad("rules.allow", i, "%v", err)
			ok = false
		}
	}
	if r.Deny, err = ParseRights(rc.Deny); err != nil {
		bad("rules.deny", i, "%v", err)
		ok = false
	}
	if both := r.Allow & r.Deny; ok && r.HasAllow && both != 0 {
		bad("rules.deny", i, "%s both allowed and denied: a verb is in allow or in deny, not both", both)
		ok = false
	}
	if rc.Mode != "" {
		if r.Mode, err = ParseMode(rc.Mode); err != nil {
			bad("rules.mode", i, "%v", err)
			ok = false
		}
		r.HasMode = true
	}
	if rc.Group != "" {
		r.Group = rc.Group
		switch {
		case strings.ContainsFunc(rc.Group, func(c rune) bool { return c <= ' ' || c == 0x7f || c == ':' }):
			bad("rules.group", i, "%q is not a group name", rc.Group)
			ok = false
		case opt.LookupGroup != nil:
			if r.GID, err = opt.LookupGroup(rc.Group); err != nil {
				bad("rules.group", i, "group %q: %v", rc.Group, err)
				ok = false
			}
		}
	}
	return r, ok
}

func compileClass(cc ClassConfig, i int, bad func(string, int, string, ...any)) (Class, bool) {
	ok := true
	cl := Class{Name: cc.Name, SSHUsers: cc.SSHUsers, MaxSessions: cc.MaxSessions, FullMessage: cc.FullMessage}
	if cc.Name == "" {
		bad("classes.name", i, `is missing (example: name = "partners")`)
		ok = false
	} else if strings.ContainsFunc(cc.Name, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		bad("classes.name", i, "%q must be one word without spaces or control characters", cc.Name)
		ok = false
	}
	var err error
	if cl.Who, err = ParseWho(cc.Who); err != nil {
		bad("classes.who", i, "%v", err)
		ok = false
	}
	prefixes := func(key string, list []string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range list {
			pf, err := ParsePrefix(s)
			if err != nil {
				bad(key, i, "%v", err)
				ok = false
				continue
			}
			out = append(out, pf)
		}
		return out
	}
	cl.Clients = prefixes("classes.clients", cc.Clients)
	cl.DenyClients = prefixes("classes.deny_clients", cc.DenyClients)
	for _, u := range cc.SSHUsers {
		if u == "" || strings.ContainsFunc(u, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			bad("classes.ssh_users", i, "%q is not a user name", u)
			ok = false
		}
	}
	if cc.MaxSessions < 0 {
		bad("classes.max_sessions", i, "must be 0 (no limit) or more")
		ok = false
	}
	if strings.ContainsAny(cc.FullMessage, "\r\n") {
		bad("classes.full_message", i, "must be a single line")
		ok = false
	}
	return cl, ok
}

// covers reports whether class c takes every session d would (so d is never chosen).
func (c *Class) covers(d *Class) bool {
	if !c.Who.Covers(d.Who) {
		return false
	}
	if len(c.SSHUsers) > 0 {
		if len(d.SSHUsers) == 0 {
			return false
		}
		for _, u := range d.SSHUsers {
			if !slices.Contains(c.SSHUsers, u) {
				return false
			}
		}
	}
	if len(c.Clients) > 0 {
		if len(d.Clients) == 0 {
			return false
		}
		for _, q := range d.Clients {
			if !prefixesCover(c.Clients, q) {
				return false
			}
		}
	}
	return true
}

func prefixesCover(ps []netip.Prefix, q netip.Prefix) bool {
	for _, p := range ps {
		if p.Bits() <= q.Bits() && p.Contains(q.Addr()) {
			return true
		}
	}
	return false
}

// checkMessageName checks the [messages] cwd value: a plain file name, looked up in each
// directory entered.
func checkMessageName(name string) error {
	switch {
	case name == "":
		return nil
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a file name (example: \".message\")", name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("%q must be a file name without / (it is looked up in each directory entered, e.g. \".message\")", name)
	case strings.ContainsFunc(name, func(c rune) bool { return c < ' ' || c == 0x7f }):
		return errors.New("contains a control character")
	}
	return nil
}
