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
