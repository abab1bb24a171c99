package access

import (
	"fmt"
	"net/netip"
	"slices"
)

// Class is one compiled [[classes]] table: a group of sessions with a common session limit.
//
// A logged-in session belongs to the first class whose Who selects the user, whose Clients hold
// the client address and whose SSHUsers hold the SSH user (an empty list admits everything).
// A session in no class has only the global limits.
type Class struct {
	Name     string
	Who      Who
	Clients  []netip.Prefix // client addresses admitted; empty = any
	SSHUsers []string       // SSH users admitted; empty = any (also a connection with no known SSH user)
	// MaxSessions is the number of sessions the class holds at once, counted across every
	// process of the daemon; 0 means no limit.
	MaxSessions int
	// FullMessage is the text of the 421 reply when the class is full ("" for the default).
	FullMessage string
	// DenyClients are client addresses refused with 421 (see [Policy.DeniedAtConnect] and
	// [Policy.DeniedAtLogin]).
	DenyClients []netip.Prefix
}

// Conn is what is known of a connection before login.
type Conn struct {
	// Client is the real SSH client's address when the tunnel was identified, else the TCP peer.
	Client netip.Addr
	// SSHUser is the SSH user owning the tunnel, "" when not identified.
	SSHUser string
}

// admits reports whether c passes the class's clients and ssh_users lists.
func (cl *Class) admits(c Conn) bool {
	if len(cl.Clients) > 0 && !inPrefixes(cl.Clients, c.Client) {
		return false
	}
	if len(cl.SSHUsers) > 0 && (c.SSHUser == "" || !slices.Contains(cl.SSHUsers, c.SSHUser)) {
		return false
	}
	return true
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClassOf returns the class of a session of user u on connection c, or nil if it is in none.
func (p *Policy) ClassOf(c Conn, u *User) *Class {
	for i := range p.Classes {
		cl := &p.Classes[i]
		if cl.Who.Matches(u) && cl.admits(c) {
			return cl
		}
	}
	return nil
}

// DeniedAtConnect returns the first class that refuses c as soon as it connects: a class
// without who (or with "*") whose clients and ssh_users admit c and whose deny_clients hold its
// address. The user is not known yet, so classes with a who wait for [Policy.DeniedAtLogin].
func (p *Policy) DeniedAtConnect(c Conn) (*Class, bool) {
	for i := range p.Classes {
		cl := &p.Classes[i]
		if cl.Who.Everyone() && cl.admits(c) && inPrefixes(cl.DenyClients, c.Client) {
			return cl, true
		}
	}
	return nil, false
}

// DeniedAtLogin returns the first class with a who selecting u (not everyone: those already
// refused at connect) whose clients and ssh_users admit c and whose deny_clients hold its
// address.
func (p *Policy) DeniedAtLogin(c Conn, u *User) (*Class, bool) {
	for i := range p.Classes {
		cl := &p.Classes[i]
		if !cl.Who.Everyone() && cl.Who.Matches(u) && cl.admits(c) && inPrefixes(cl.DenyClients, c.Client) {
			return cl, true
		}
	}
	return nil, false
}

// ParsePrefix reads a CIDR ("10.0.0.0/8", "2001:db8::/32") or a single address ("192.0.2.7",
// taken as /32 or /128). IPv4-mapped IPv6 forms are stored as IPv4. A prefix with host bits set
// ("10.1.2.3/8") is refused: it usually hides a typo.
func ParsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		if a.Zone() != "" {
			return netip.Prefix{}, errZone(s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errCIDR(s)
	}
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, errCIDR(s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	if p.Masked() != p {
		return netip.Prefix{}, errHostBits(s, p.Masked())
	}
	return p, nil
}

func errCIDR(s string) error {
	return fmt.Errorf("%q is not a CIDR or an address (example: \"203.0.113.0/24\")", s)
}

func errZone(s string) error {
	return fmt.Errorf("%q has a zone: write the address without %%zone", s)
}

func errHostBits(s string, masked netip.Prefix) error {
	return fmt.Errorf("%q has bits set after the prefix length: write %q", s, masked.String())
}
