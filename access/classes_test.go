package access

import (
	"net/netip"
	"strings"
	"testing"
)

func TestClasses(t *testing.T) {
	p := compile(t, Input{Classes: []ClassConfig{
		{Name: "anon", Who: []string{"@anonymous"}, MaxSessions: 2, DenyClients: []string{"198.51.100.0/24"}},
		{Name: "partners", Who: []string{"@system"}, Clients: []string{"10.0.0.0/8", "2001:db8::/32"}, MaxSessions: 8},
		{Name: "tunnel", SSHUsers: []string{"ops"}},
		{Name: "rest", DenyClients: []string{"203.0.113.0/24"}},
	}})
	addr := netip.MustParseAddr
	tests := []struct {
		conn  Conn
		user  User
		class string
	}{
		{Conn{Client: addr("192.0.2.1")}, anon, "anon"},
		{Conn{Client: addr("10.1.2.3")}, bob, "partners"},
		{Conn{Client: addr("::ffff:10.1.2.3")}, bob, "partners"}, // mapped form of an IPv4 client
		{Conn{Client: addr("2001:db8::5")}, bob, "partners"},
		{Conn{Client: addr("192.0.2.1")}, bob, "rest"},
		{Conn{Client: addr("192.0.2.1"), SSHUser: "ops"}, alice, "tunnel"},
		{Conn{Client: addr("192.0.2.1"), SSHUser: "other"}, alice, "rest"},
		{Conn{}, alice, "rest"}, // unknown address: only classes without clients
	}
	for _, tt := range tests {
		cl := p.ClassOf(tt.conn, &tt.user)
		got := "<none>"
		if cl != nil {
			got = cl.Name
		}
		if got != tt.class {
			t.Errorf("%v user %s: class %s, want %s", tt.conn, tt.user.Name, got, tt.class)
		}
	}

	if cl, denied := p.DeniedAtConnect(Conn{Client: addr("203.0.113.9")}); !denied || cl.Name != "rest" {
		t.Errorf("203.0.113.9 at connect: %v %v, want refused by rest", cl, denied)
	}
	if _, denied := p.DeniedAtConnect(Conn{Client: addr("::ffff:203.0.113.9")}); !denied {
		t.Errorf("the IPv4-mapped form escaped deny_clients")
	}
	// A class with a who cannot refuse before the user is known...
	if _, denied := p.DeniedAtConnect(Conn{Client: addr("198.51.100.7")}); denied {
		t.Errorf("198.51.100.7 refused at connect by a class with a who")
	}
	// ...but does at login, for the users it selects only.
	if cl, denied := p.DeniedAtLogin(Conn{Client: addr("198.51.100.7")}, &anon); !denied || cl.Name != "anon" {
		t.Errorf("anonymous from 198.51.100.7 at login: %v %v", cl, denied)
	}
	if _, denied := p.DeniedAtLogin(Conn{Client: addr("198.51.100.7")}, &alice); denied {
		t.Errorf("alice from 198.51.100.7 refused by the anonymous class")
	}
	if _, denied := p.DeniedAtConnect(Conn{Client: addr("192.0.2.1")}); denied {
		t.Errorf("192.0.2.1 refused")
	}
}

func TestClassesNoneMatch(t *testing.T) {
	p := compile(t, Input{Classes: []ClassConfig{{Name: "partners", Who: []string{"@system"}}}})
	if cl := p.ClassOf(Conn{Client: netip.MustParseAddr("127.0.0.1")}, &alice); cl != nil {
		t.Errorf("alice is in class %s", cl.Name)
	}
}

func TestParsePrefix(t *testing.T) {
	good := map[string]string{
		"10.0.0.0/8":          "10.0.0.0/8",
		"192.0.2.7":           "192.0.2.7/32",
		"2001:db8::/32":       "2001:db8::/32",
		"::1":                 "::1/128",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"::ffff:192.0.2.7":    "192.0.2.7/32",
	}
	for in, want := range good {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	bad := map[string]string{
		"10.0.0.0/33":  "not a CIDR",
		"10.0.0.1/8":   `write "10.0.0.0/8"`,
		"example.com":  "not a CIDR",
		"fe80::1%eth0": "zone",
		"":             "not a CIDR",
	}
	for in, want := range bad {
		if _, err := ParsePrefix(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePrefix(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}
