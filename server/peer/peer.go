// Package peer owns who is behind a control connection: the sshd session found through
// package ident (or, when this process cannot see other users' processes, through the identity
// helper, which is not asked again for a minute after it failed to answer), and what the
// server derives from it: the log attributes (ssh_user=, client=), the SSH user and its key for
// the per-SSH-user limits, the client's address for logs, and what auth and access are told of
// the tunnel.
//
// It must not admit or refuse anyone (packages admission, auth and access decide on what it
// says), nor read or write on the connection.
package peer

import (
	"cmp"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tunnelftpd/tunnelftpd/access"
	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/ident"
)

// Finder identifies the peers of control connections. Its exported fields are set before
// first use.
type Finder struct {
	// Helper is the identity helper's socket; "" is ident.HelperSocket.
	Helper string
	// Log receives the lookups that found nothing and the one line on not seeing sshd.
	Log *slog.Logger
	// WarnOnce logs a warning the first time its key is seen in the process.
	WarnOnce func(key, msg string, args ...any)
	// TunnelOnly says tunnel_only is in force (not seeing sshd then refuses everyone).
	TunnelOnly func() bool

	helper     ident.Client // asks the helper, over connections kept between queries
	helperPath sync.Once    // sets helper.Path from Helper at first use
	helperDown atomic.Int64 // when the helper last failed to answer (UnixNano; 0: it did not)
	helperOld  atomic.Int64 // when the helper last refused the held query (UnixNano; 0: never)
	blindInfo  sync.Once
}

// Identify finds who is behind a loopback control connection (nil if the peer is not on
// loopback or cannot be identified; the reason is logged once). Without the privilege to see
// the process holding the peer socket (the sshd session, and through it the SSH client's
// address), it asks the identity helper.
func (f *Finder) Identify(c net.Conn) *ident.Peer {
	ra, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok || !ra.IP.IsLoopback() {
		return nil
	}
	p, err := ident.Lookup(c.LocalAddr(), c.RemoteAddr())
	if errors.Is(err, ident.ErrGone) || errors.Is(err, ident.ErrNotFound) {
		// The client has already gone (or its socket is in another network
		// namespace): unidentified, which says nothing about the host.
		f.Log.Debug("peer of the control connection not found", "peer", c.RemoteAddr().String(), "err", err)
		return nil
	}
	if err != nil {
		f.WarnOnce("ident", "cannot identify the owner of loopback peers; options that need it (tunnel_only, require_ssh_user, max_sessions_per_ssh_user, passive.same_owner) refuse or fall back as documented", "err", err)
		return nil
	}
	if p.PID != 0 || ident.CanReadOthersFDs() {
		return p // found, or gone (its process ended)
	}
	hp, err := f.Ask(c)
	if err == nil {
		return hp
	}
	if !errors.Is(err, ident.ErrNotFound) {
		f.blind(err)
	}
	return p
}

// Ask asks the identity helper about c's peer. A helper that is not there (no socket, nobody
// listening, no permission) is not asked again for a minute: connections do not each pay for a
// failed connect.
func (f *Finder) Ask(c net.Conn) (*ident.Peer, error) {
	if f.helperWasDown() {
		return nil, errHelperDown
	}
	p, err := f.client().Ask(c)
	f.noteHelper(err)
	return p, err
}

// Held reports whether process pid (the sshd session of a control connection) holds the peer
// socket of c (a data connection), asking the identity helper, which reads that one process's
// descriptors; a helper older than that question is asked who the peer is instead (Ask). known
// is false when neither can tell.
func (f *Finder) Held(c net.Conn, pid int) (held, known bool) {
	if f.helperWasDown() {
		return false, false
	}
	if !withinMinute(&f.helperOld) {
		held, err := f.client().AskHeld(c, pid)
		if !errors.Is(err, ident.ErrUnknownQuery) {
			f.noteHelper(err)
			return held, err == nil
		}
		// A helper started before the daemon's upgrade: not asked the held
		// question again for a minute (until it is restarted).
		f.helperOld.Store(time.Now().UnixNano())
	}
	if p, err := f.Ask(c); err == nil && p.PID != 0 {
		return p.PID == pid, true
	}
	return false, false
}

// client is the helper's client, its socket set from Helper.
func (f *Finder) client() *ident.Client {
	f.helperPath.Do(func() { f.helper.Path = cmp.Or(f.Helper, ident.HelperSocket) })
	return &f.helper
}

// helperWasDown reports whether the helper failed to answer less than a minute ago.
func (f *Finder) helperWasDown() bool { return withinMinute(&f.helperDown) }

// withinMinute reports whether the time stored in t (UnixNano; 0: never) was less than a minute
// ago: how long the helper is left alone after it failed or refused a question.
func withinMinute(t *atomic.Int64) bool {
	at := t.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < time.Minute
}

// noteHelper records a helper that is not there (no socket, nobody listening, no permission,
// no answer) after a query that ended with err.
func (f *Finder) noteHelper(err error) {
	if err == nil || errors.Is(err, ident.ErrNotFound) {
		return
	}
	var ne net.Error
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrPermission) || (errors.As(err, &ne) && ne.Timeout()) {
		f.helperDown.Store(time.Now().UnixNano())
	}
}

var errHelperDown = errors.New("the identity helper did not answer a moment ago")

// blind says, once, what not seeing the sshd sessions costs under the options in force: with
// tunnel_only every connection is refused (a warning); otherwise log lines lack client=
// (fail2ban cannot ban the SSH client) and sshd is not told from other processes of the same
// user.
func (f *Finder) blind(err error) {
	const fix = "enable the identity helper (systemctl enable --now tunnelftpd-ident.socket) or run as root"
	if f.TunnelOnly() {
		f.WarnOnce("ident-blind", "cannot see the sshd session behind connections: tunnel_only refuses every connection; "+fix, "err", err)
		return
	}
	f.blindInfo.Do(func() {
		f.Log.Info("cannot see the sshd session behind connections: log lines carry ssh_user= but no client= (fail2ban then has no address to ban); "+fix, "err", err)
	})
}

// Conn is the peer of one control connection.
type Conn struct {
	// Peer is who is behind it (nil: unknown).
	Peer *ident.Peer
	// Remote is the connection's remote address.
	Remote net.Addr
}

// Attrs are the log attributes naming the tunnel user and, when known, the SSH client's real
// address (what fail2ban should ban).
func (p Conn) Attrs() []any {
	if p.Peer == nil {
		return nil
	}
	attrs := []any{"ssh_user", p.OwnerName()}
	if p.Peer.Client != "" {
		attrs = append(attrs, "client", p.Peer.Client)
	}
	return attrs
}

// OwnerName names the owner of the peer socket ("unknown" if not identified).
func (p Conn) OwnerName() string {
	switch {
	case p.Peer == nil:
		return "unknown"
	case p.Peer.User != "":
		return p.Peer.User
	}
	return strconv.Itoa(p.Peer.UID)
}

// OwnerKey groups sessions by tunnel user for the per-SSH-user limits; unidentified peers
// share one group (-1).
func (p Conn) OwnerKey() int {
	if p.Peer == nil {
		return -1
	}
	return p.Peer.UID
}

// SSHUser is the SSH user for the registry ("" when the tunnel was not identified).
func (p Conn) SSHUser() string {
	if p.Peer == nil {
		return ""
	}
	return p.OwnerName()
}

// Host is the client's address for logs: the SSH client's real address when known, else the
// control connection's peer.
func (p Conn) Host() string {
	if p.Peer != nil && p.Peer.Client != "" {
		host, _, _ := net.SplitHostPort(p.Peer.Client)
		return host
	}
	if a, ok := p.Remote.(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return p.Remote.String()
}

// Tunnel is what auth needs to know of the session's tunnel.
func (p Conn) Tunnel() auth.Tunnel {
	t := auth.Tunnel{Host: p.Host()}
	if p.Peer != nil {
		// A process that could not be seen (no privilege to list others'
		// fds) is taken as sshd; one that was seen must be sshd.
		t.SSHUser, t.Verified = p.Peer.User, sshdOrUnseen(p.Peer)
	}
	return t
}

// ViaSSHD reports whether the connection comes through an SSH tunnel as far as can be told: its
// peer is on loopback, and the process holding the peer socket is an sshd session or could not
// be seen (no privilege, no identity helper: on a tunnel host that is sshd). A loopback peer seen
// to be another process, or a peer off loopback, is a client that reads the data connection
// itself.
func (p Conn) ViaSSHD() bool {
	a, ok := p.Remote.(*net.TCPAddr)
	if !ok || !a.IP.IsLoopback() {
		return false
	}
	return p.Peer == nil || sshdOrUnseen(p.Peer)
}

// sshdOrUnseen is how a peer's process counts as sshd: it was seen to be an sshd session, or
// could not be seen at all (no privilege to list others' descriptors, no helper).
func sshdOrUnseen(p *ident.Peer) bool { return p.PID == 0 || p.SSH }

// Access is what the access policy knows of the connection before login: the real SSH
// client's address when the tunnel was identified, else the TCP peer's, and the SSH user when
// verified.
func (p Conn) Access() access.Conn {
	c := access.Conn{}
	if a, err := netip.ParseAddr(p.Host()); err == nil {
		c.Client = a.WithZone("").Unmap()
	}
	if t := p.Tunnel(); t.Verified {
		c.SSHUser = t.SSHUser
	}
	return c
}
