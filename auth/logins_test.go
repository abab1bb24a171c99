package auth

import (
	"errors"
	"strings"
	"testing"
)

// fakeSystem is a SystemLogin that accepts one account and records calls.
type fakeSystem struct {
	calls []string // name@rhost
}

func (f *fakeSystem) Authenticate(name, password, rhost string) (*User, error) {
	f.calls = append(f.calls, name+"@"+rhost)
	if name == "sam" && password == "sam-pass" {
		return &User{Name: name, Root: "/home/sam", System: true, UID: 1001}, nil
	}
	return nil, &Refusal{Reason: "no such system user"}
}

// TestRequireSSHUser: a virtual account bound to an SSH user logs in only
// through that user's verified tunnel; the refusal names the user the
// account wants. (server TestRequireSSHUser checks the same over FTP, from a
// real peer socket.)
func TestRequireSSHUser(t *testing.T) {
	l, err := NewLogins(LoginOptions{
		Accounts: []Account{
			{Name: "alice", Hash: testBcrypt(t, "pw", "$2a$"), Root: "/srv/alice"},
			{Name: "bob", Hash: testBcrypt(t, "pw", "$2a$"), Root: "/srv/bob"},
			{Name: "carol", Hash: testBcrypt(t, "pw", "$2a$"), Root: "/srv/carol"},
		},
		SSHUsers: map[string]string{"alice": "alice", "bob": "tunnels"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user string
		tunnel     Tunnel
		refusal    string // "" = logged in
	}{
		{"own verified tunnel", "alice", Tunnel{SSHUser: "alice", Verified: true}, ""},
		{"another user's tunnel", "alice", Tunnel{SSHUser: "mallory", Verified: true}, "not tunnelled by SSH user alice (require_ssh_user)"},
		{"right user, not sshd", "alice", Tunnel{SSHUser: "alice", Verified: false}, "not tunnelled by SSH user alice"},
		{"unidentified peer", "alice", Tunnel{}, "not tunnelled by SSH user alice"},
		{"bound to another name", "bob", Tunnel{SSHUser: "tunnels", Verified: true}, ""},
		{"bound account, its own name", "bob", Tunnel{SSHUser: "bob", Verified: true}, "not tunnelled by SSH user tunnels"},
		{"unbound account, any peer", "carol", Tunnel{}, ""},
		{"unbound account, other tunnel", "carol", Tunnel{SSHUser: "mallory", Verified: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := l.Authenticate(tc.user, "pw", tc.tunnel)
			if tc.refusal == "" {
				if err != nil || u == nil || u.Name != tc.user {
					t.Fatalf("got %v, %v; want %s logged in", u, err, tc.user)
				}
				return
			}
			var r *Refusal
			if u != nil || !errors.As(err, &r) || !strings.Contains(r.Reason, tc.refusal) {
				t.Fatalf("got %v, %v; want a refusal naming %q", u, err, tc.refusal)
			}
			if !errors.Is(err, ErrAuthFailed) {
				t.Errorf("refusal %v does not match ErrAuthFailed", err)
			}
		})
	}
	// The wrong password is refused before the tunnel is looked at.
	if _, err := l.Authenticate("alice", "wrong", Tunnel{SSHUser: "alice", Verified: true}); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("wrong password: %v", err)
	}
}

// TestLoginOrder: virtual accounts first, then anonymous, then system
// accounts (with the client's host); the kinds are told apart.
func TestLoginOrder(t *testing.T) {
	sys := &fakeSystem{}
	l, err := NewLogins(LoginOptions{
		Accounts:      []Account{{Name: "ftp", Hash: testBcrypt(t, "pw", "$2a$"), Root: "/srv/ftp"}, {Name: "sam", Hash: testBcrypt(t, "virtual", "$2a$"), Root: "/srv/sam"}},
		AnonymousRoot: "/srv/pub",
		System:        sys,
	})
	if err != nil {
		t.Fatal(err)
	}
	tun := Tunnel{Host: "203.0.113.9"}
	for _, tc := range []struct {
		user, pass string
		kind, root string // "" = refused
	}{
		{"ftp", "pw", "virtual", "/srv/ftp"},         // a virtual account named ftp wins over anonymous
		{"ftp", "anything", "anonymous", "/srv/pub"}, // its wrong password falls through to anonymous
		{"anonymous", "", "anonymous", "/srv/pub"},
		{"sam", "virtual", "virtual", "/srv/sam"}, // virtual first
		{"sam", "sam-pass", "system", "/home/sam"},
		{"nobody", "x", "", ""},
	} {
		u, err := l.Authenticate(tc.user, tc.pass, tun)
		switch {
		case tc.kind == "" && (err == nil || !errors.Is(err, ErrAuthFailed)):
			t.Errorf("%s/%s: got %v, %v; want refused", tc.user, tc.pass, u, err)
		case tc.kind != "" && (err != nil || u.Kind() != tc.kind || u.Root != tc.root):
			t.Errorf("%s/%s: got %+v, %v; want a %s login at %s", tc.user, tc.pass, u, err, tc.kind, tc.root)
		}
	}
	if u, _ := l.Authenticate("anonymous", "", tun); !u.ReadOnly {
		t.Error("anonymous login is not read-only")
	}
	want := []string{"sam@203.0.113.9", "nobody@203.0.113.9"}
	if strings.Join(sys.calls, " ") != strings.Join(want, " ") {
		t.Errorf("system accounts asked %v, want %v", sys.calls, want)
	}

	// Without anonymous_root or system accounts, those names just fail.
	l, _ = NewLogins(LoginOptions{})
	for _, name := range []string{"anonymous", "ftp", "sam"} {
		if _, err := l.Authenticate(name, "x", tun); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s with no source: %v", name, err)
		}
	}
}
