package access

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
)

// WriteEffective prints the policy as `tunnelftpd check` shows it: the umask and the modes it
// gives, every rule in the order it is tried with the rights it leaves each kind of user, the
// classes in order, and the cwd message name.
func (p *Policy) WriteEffective(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "umask %s: files %04o, directories %04o\n", p.Umask, p.Umask.FileMode(), p.Umask.DirMode())
	if len(p.Rules) == 0 {
		fmt.Fprintf(tw, "rules: none (anonymous and read_only users: %s; others: %s)\n", ReadRights, AllRights)
	} else {
		fmt.Fprintf(tw, "rules (first match wins; where none matches, anonymous and read_only users: %s; others: %s):\n", ReadRights, AllRights)
		for i := range p.Rules {
			r := &p.Rules[i]
			fmt.Fprintf(tw, "  %d\t%s\twho %s\t%s\t%s\n", i+1, r.Path, r.Who, r.change(), r.effective())
		}
	}
	if len(p.Classes) == 0 {
		fmt.Fprintln(tw, "classes: none")
	} else {
		fmt.Fprintln(tw, "classes (a session is in the first that fits):")
		for i := range p.Classes {
			c := &p.Classes[i]
			limit := "no limit"
			if c.MaxSessions > 0 {
				limit = fmt.Sprintf("max_sessions %d", c.MaxSessions)
			}
			fmt.Fprintf(tw, "  %d\t%s\twho %s\tclients %s\tssh_users %s\t%s\tdeny_clients %s\n",
				i+1, c.Name, c.Who, prefixList(c.Clients, "any"), orWord(c.SSHUsers, "any"), limit, prefixList(c.DenyClients, "none"))
		}
	}
	if p.CwdMessage != "" {
		fmt.Fprintf(tw, "cwd message: %q, shown once per directory (the name is reserved: clients cannot write it)\n", p.CwdMessage)
	}
	return tw.Flush()
}

// change describes what the rule does, as written.
func (r *Rule) change() string {
	var parts []string
	if r.HasAllow {
		parts = append(parts, "allow "+r.Allow.String())
	}
	if r.Deny != 0 {
		parts = append(parts, "deny "+r.Deny.String())
	}
	if r.HasMode {
		parts = append(parts, fmt.Sprintf("mode %04o", r.Mode))
	}
	if r.Group != "" {
		parts = append(parts, "group "+r.Group)
	}
	if len(parts) == 0 {
		return "default rights"
	}
	return strings.Join(parts, ", ")
}

// effective lists the rights the rule leaves, per kind of user its who can select: "others"
// (virtual and system users), anonymous, and read_only (virtual) users. A user name may be any
// of them.
func (r *Rule) effective() string {
	others, anon, ro := r.Who.Everyone(), r.Who.Everyone(), r.Who.Everyone()
	for _, s := range r.Who.sels {
		switch {
		case s.kind == selName:
			others, anon, ro = true, true, true
		case s.kind == selGroup || s.kind == selUserKind && s.user == System:
			others = true
		case s.kind == selUserKind && s.user == Virtual:
			others, ro = true, true
		case s.kind == selUserKind && s.user == Anonymous:
			anon = true
		}
	}
	var parts []string
	if others {
		parts = append(parts, "others: "+r.apply(AllRights).String())
	}
	a, o := r.apply(ReadRights), r.apply(ReadRights)&ReadRights
	switch {
	case anon && ro && a == o:
		parts = append(parts, "anonymous, read_only: "+a.String())
	default:
		if anon {
			parts = append(parts, "anonymous: "+a.String())
		}
		if ro {
			parts = append(parts, "read_only: "+o.String())
		}
	}
	return "→ " + strings.Join(parts, "; ")
}

func prefixList(ps []netip.Prefix, empty string) string {
	if len(ps) == 0 {
		return empty
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func orWord(list []string, empty string) string {
	if len(list) == 0 {
		return empty
	}
	return strings.Join(list, ",")
}
