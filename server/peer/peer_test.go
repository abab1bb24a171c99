package peer

import (
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/ident"
)

// TestConnNames: what the server derives from a peer, for an unknown peer, an sshd session
// seen with its client, a process that could not be seen, and one seen not to be sshd.
// Guards: fail2ban's client= (the real SSH client), the per-SSH-user grouping, and that only a
// peer seen to be sshd (or not seen at all) counts as a verified tunnel.
func TestConnNames(t *testing.T) {
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	for _, tc := range []struct {
		name      string
		peer      *ident.Peer
		attrs     []any
		owner     string
		key       int
		host      string
		tunnel    auth.Tunnel
		sshClient string // access.Conn.Client
		sshUser   string // access.Conn.SSHUser
	}{
		{"unknown", nil, nil, "unknown", -1, "127.0.0.1", auth.Tunnel{Host: "127.0.0.1"}, "127.0.0.1", ""},
		{"sshd with client", &ident.Peer{UID: 1001, User: "alice", PID: 42, SSH: true, Client: "192.0.2.7:51000"},
			[]any{"ssh_user", "alice", "client", "192.0.2.7:51000"}, "alice", 1001, "192.0.2.7",
			auth.Tunnel{Host: "192.0.2.7", SSHUser: "alice", Verified: true}, "192.0.2.7", "alice"},
		{"not seen", &ident.Peer{UID: 1002}, []any{"ssh_user", "1002"}, "1002", 1002, "127.0.0.1",
			auth.Tunnel{Host: "127.0.0.1", Verified: true}, "127.0.0.1", ""},
		{"seen, not sshd", &ident.Peer{UID: 1003, User: "bob", PID: 7}, []any{"ssh_user", "bob"}, "bob", 1003, "127.0.0.1",
			auth.Tunnel{Host: "127.0.0.1", SSHUser: "bob"}, "127.0.0.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Conn{Peer: tc.peer, Remote: remote}
			if got := p.Attrs(); !reflect.DeepEqual(got, tc.attrs) {
				t.Errorf("Attrs = %v, want %v", got, tc.attrs)
			}
			if got := p.OwnerName(); got != tc.owner {
				t.Errorf("OwnerName = %q, want %q", got, tc.owner)
			}
			if got := p.OwnerKey(); got != tc.key {
				t.Errorf("OwnerKey = %d, want %d", got, tc.key)
			}
			if got := p.Host(); got != tc.host {
				t.Errorf("Host = %q, want %q", got, tc.host)
			}
			if got := p.Tunnel(); got != tc.tunnel {
				t.Errorf("Tunnel = %+v, want %+v", got, tc.tunnel)
			}
			a := p.Access()
			if a.Client != netip.MustParseAddr(tc.sshClient) || a.SSHUser != tc.sshUser {
				t.Errorf("Access = %+v, want client %s, SSH user %q", a, tc.sshClient, tc.sshUser)
			}
		})
	}
}

// TestViaSSHD: only a loopback peer that is sshd, or that could not be seen, counts as coming
// through a tunnel (retr_sendfile = "auto" copies for those); a process seen not to be sshd, or
// a peer off loopback, reads the data connection itself.
func TestViaSSHD(t *testing.T) {
	lo := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	lo6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 40000}
	lan := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
	sshd := &ident.Peer{UID: 1001, User: "alice", PID: 42, SSH: true}
	unseen := &ident.Peer{UID: 1002}
	other := &ident.Peer{UID: 1003, User: "bob", PID: 7, Comm: "curl"}
	for _, tc := range []struct {
		name   string
		remote net.Addr
		peer   *ident.Peer
		want   bool
	}{
		{"loopback, unidentified", lo, nil, true},
		{"loopback, sshd", lo, sshd, true},
		{"::1, sshd", lo6, sshd, true},
		{"loopback, not seen", lo, unseen, true},
		{"loopback, another process", lo, other, false},
		{"off loopback", lan, nil, false},
		{"off loopback, peer somehow set", lan, sshd, false},
		{"not TCP", &net.UnixAddr{Name: "@x", Net: "unix"}, nil, false},
	} {
		if got := (Conn{Peer: tc.peer, Remote: tc.remote}).ViaSSHD(); got != tc.want {
			t.Errorf("%s: ViaSSHD() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
