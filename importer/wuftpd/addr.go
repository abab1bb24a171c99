package wuftpd

import (
	"fmt"
	"math/bits"
	"net/netip"
	"path"
	"sort"
	"strings"
)

// addrSet is a set of client addresses: IPv4 ranges, and either all or none of IPv6 (wu-ftpd
// 2.6 knew no IPv6; an IPv6 client can only be meant by "*").
type addrSet struct {
	v4 []ipRange // sorted, disjoint, not adjacent
	v6 bool
}

type ipRange struct{ lo, hi uint32 }

var (
	allAddrs = addrSet{v4: []ipRange{{0, ^uint32(0)}}, v6: true}
	noAddrs  = addrSet{}
)

func (s addrSet) isAll() bool {
	return s.v6 && len(s.v4) == 1 && s.v4[0] == ipRange{0, ^uint32(0)}
}

func (s addrSet) isEmpty() bool { return !s.v6 && len(s.v4) == 0 }

func (s addrSet) contains(ip uint32) bool {
	for _, r := range s.v4 {
		if ip >= r.lo && ip <= r.hi {
			return true
		}
	}
	return false
}

func normalize(rs []ipRange) []ipRange {
	sort.Slice(rs, func(i, j int) bool { return rs[i].lo < rs[j].lo })
	var out []ipRange
	for _, r := range rs {
		if n := len(out); n > 0 && (r.lo <= out[n-1].hi || r.lo == out[n-1].hi+1) {
			if r.hi > out[n-1].hi {
				out[n-1].hi = r.hi
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

func (s addrSet) union(t addrSet) addrSet {
	return addrSet{v4: normalize(append(append([]ipRange{}, s.v4...), t.v4...)), v6: s.v6 || t.v6}
}

func (s addrSet) complement() addrSet {
	var out []ipRange
	next := uint64(0)
	for _, r := range s.v4 {
		if uint64(r.lo) > next {
			out = append(out, ipRange{uint32(next), r.lo - 1})
		}
		next = uint64(r.hi) + 1
	}
	if next <= uint64(^uint32(0)) {
		out = append(out, ipRange{uint32(next), ^uint32(0)})
	}
	return addrSet{v4: out, v6: !s.v6}
}

func (s addrSet) intersect(t addrSet) addrSet {
	return s.complement().union(t.complement()).complement()
}

// cidrs writes the set as CIDR blocks, IPv4 first, then "::/0" if it holds IPv6.
func (s addrSet) cidrs() []string {
	var out []string
	for _, r := range s.v4 {
		lo := uint64(r.lo)
		for lo <= uint64(r.hi) {
			// the largest block that starts at lo and stays inside the range
			size := 32
			if lo != 0 {
				size = bits.TrailingZeros32(uint32(lo))
			}
			for size > 0 && lo+(uint64(1)<<size)-1 > uint64(r.hi) {
				size--
			}
			a := uint32(lo)
			out = append(out, fmt.Sprintf("%d.%d.%d.%d/%d", a>>24, a>>16&255, a>>8&255, a&255, 32-size))
			lo += uint64(1) << size
		}
	}
	if s.v6 {
		out = append(out, "::/0")
	}
	return out
}

func cidrSet(ip uint32, prefix int) addrSet {
	if prefix <= 0 {
		return addrSet{v4: []ipRange{{0, ^uint32(0)}}}
	}
	mask := ^uint32(0) << (32 - prefix)
	return addrSet{v4: []ipRange{{ip & mask, ip&mask | ^mask}}}
}

const loopbackIP = 127<<24 | 1

// addrGlob is one wu-ftpd address glob (class, deny, ftphosts), read as hostmatch() in 2.6.2's
// access.c reads it: through a chain of sscanf formats, so "10.*", "10.1" and even "3com.com"
// are prefixes of one, two and one octets.
type addrGlob struct {
	Text string
	Neg  bool
	Set  addrSet // the addresses it matches (before Neg), when expressible
	OK   bool    // Set is exact
	Host string  // a host-name glob: matched against reverse DNS, which tunnelftpd has not
	File string  // "/path": a file of more globs
	Why  string  // why it is not expressible
}

// parseAddrGlob reads one address glob.
func parseAddrGlob(text string) addrGlob {
	g := addrGlob{Text: text}
	s := text
	if strings.HasPrefix(s, "!") {
		g.Neg, s = true, s[1:]
	}
	ints, rest := scanDotted(s)
	if len(ints) == 4 && strings.HasPrefix(rest, "/") {
		if n, r := scanInt(rest[1:]); r != rest[1:] {
			return g.prefix(ints, max(0, min(32, n)))
		}
	}
	if len(ints) == 4 && strings.HasPrefix(rest, ":") {
		if m, _ := scanDotted(rest[1:]); len(m) == 4 {
			ip, ok1 := octets(ints)
			mask, ok2 := octets(m)
			ones := bits.LeadingZeros32(^mask)
			if !ok1 || !ok2 || (ones < 32 && mask<<ones != 0) {
				g.Why = "the netmask is not contiguous (or an octet is out of range); tunnelftpd takes CIDRs"
				return g
			}
			g.Set, g.OK = cidrSet(ip, ones), true
			return g
		}
	}
	switch {
	case len(ints) >= 1:
		// Four numbers are one address; three, two, one are that many leading octets.
		n := len(ints)
		for len(ints) < 4 {
			ints = append(ints, 0)
		}
		return g.prefix(ints, 8*n)
	case strings.HasPrefix(s, "/"):
		g.File = s
		g.Why = "a file of address globs"
		return g
	case s == "*":
		g.Set, g.OK = allAddrs, true
		return g
	}
	g.Host = s
	if ok, _ := path.Match(strings.ToLower(s), "localhost"); ok {
		// Behind sshd every peer is 127.0.0.1, whose name is localhost.
		g.Set, g.OK = cidrSet(loopbackIP, 32), true
		return g
	}
	g.Why = "a host-name glob; tunnelftpd does not look up names"
	return g
}

// prefix sets g to the block of the first bits of the address ints.
func (g addrGlob) prefix(ints []int, bits int) addrGlob {
	ip, ok := octets(ints)
	g.OK = true
	if !ok {
		g.Why = "an octet is out of range 0-255: it matched no address"
		return g
	}
	g.Set = cidrSet(ip, bits)
	return g
}

// namesLoopback: the glob names the loopback address (127.0.0.1, localhost, 127.*, *), which
// behind sshd is where every tunnelled session came from.
func (g addrGlob) namesLoopback() bool {
	return g.OK && !g.Neg && g.Set.contains(loopbackIP)
}

// scanInt is sscanf's %d: optional blanks and sign, then digits.
func scanInt(s string) (int, string) {
	t := strings.TrimLeft(s, " \t")
	i := 0
	if i < len(t) && (t[i] == '+' || t[i] == '-') {
		i++
	}
	j := i
	for j < len(t) && t[j] >= '0' && t[j] <= '9' {
		j++
	}
	if j == i {
		return 0, s
	}
	n := 0
	for _, c := range t[i:j] {
		if n < 1<<20 {
			n = n*10 + int(c-'0')
		}
	}
	if t[0] == '-' {
		n = -n
	}
	return n, t[j:]
}

// scanDotted reads up to four "%d" separated by '.', as far as sscanf gets.
func scanDotted(s string) ([]int, string) {
	var out []int
	rest := s
	for len(out) < 4 {
		if len(out) > 0 {
			if !strings.HasPrefix(rest, ".") {
				break
			}
			n, r := scanInt(rest[1:])
			if r == rest[1:] {
				break
			}
			out, rest = append(out, n), r
			continue
		}
		n, r := scanInt(rest)
		if r == rest {
			break
		}
		out, rest = append(out, n), r
	}
	return out, rest
}

func octets(v []int) (uint32, bool) {
	var ip uint32
	for _, o := range v {
		if o < 0 || o > 255 {
			return 0, false
		}
		ip = ip<<8 | uint32(o)
	}
	return ip, true
}

// parseCIDR reads "a.b.c.d/n" or an address, as the passive directives write them.
func parseCIDR(s string) (addrSet, bool) {
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
		b := p.Masked().Addr().As4()
		return cidrSet(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]), p.Bits()), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		b := a.As4()
		return cidrSet(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]), 32), true
	}
	return noAddrs, false
}
