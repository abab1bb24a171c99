package peer

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

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

// pair is an accepted loopback TCP connection of this process.
func pair(t *testing.T) net.Conn {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s
}

// TestHeld: Held asks the helper whether the control peer's process holds a data connection's
// peer socket; a helper that does not know that question is asked who the peer is instead, and
// no helper at all is "cannot tell", never "held".
func TestHeld(t *testing.T) {
	c := pair(t)
	// The real helper, in this process (it can read its own descriptors).
	path := filepath.Join(t.TempDir(), "ident.sock")
	l, err := ident.ListenHelper(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	go ident.Serve(l, t.Logf)
	defer l.Close()
	f := &Finder{Helper: path}
	if held, known := f.Held(c, os.Getpid()); !held || !known {
		t.Errorf("helper, our own connection: held %v known %v", held, known)
	}

	// A helper of the version before the held query: it refuses it and
	// answers the lookup (here with a fixed PID).
	old := filepath.Join(t.TempDir(), "old.sock")
	ol, err := ident.ListenHelper(old, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer ol.Close()
	var heldQueries atomic.Int32
	go func() {
		for {
			hc, err := ol.AcceptUnix()
			if err != nil {
				return
			}
			buf, oob := make([]byte, 16), make([]byte, 64)
			n, oobn, _, _, _ := hc.ReadMsgUnix(buf, oob)
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, m := range msgs {
					fds, _ := unix.ParseUnixRights(&m)
					for _, fd := range fds {
						unix.Close(fd)
					}
				}
			}
			if n == 1 && buf[0] == 'L' {
				hc.Write([]byte(`{"uid":1001,"pid":4242,"ssh":true}`))
			} else {
				heldQueries.Add(1)
				hc.Write([]byte(`{"uid":0,"error":"unknown query"}`))
			}
			hc.Close()
		}
	}()
	fo := &Finder{Helper: old}
	if held, known := fo.Held(c, 4242); !held || !known {
		t.Errorf("old helper, the same process: held %v known %v", held, known)
	}
	if held, known := fo.Held(c, 4343); held || !known {
		t.Errorf("old helper, another process: held %v known %v", held, known)
	}
	if n := heldQueries.Load(); n != 1 {
		t.Errorf("the old helper was asked the held question %d times, want once (then not for a minute)", n)
	}

	// No helper: cannot tell, and the next question is not even asked.
	none := &Finder{Helper: filepath.Join(t.TempDir(), "none.sock")}
	if held, known := none.Held(c, os.Getpid()); held || known {
		t.Errorf("no helper: held %v known %v", held, known)
	}
	if !none.helperWasDown() {
		t.Error("a helper that is not there is asked again at once")
	}
}
