package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/driver"
	"github.com/tunnelftpd/tunnelftpd/ident"
	"github.com/tunnelftpd/tunnelftpd/privsep"
)

// session is one control connection. It is the ftpserverlib MainDriver of a
// one-connection FtpServer, so everything it holds (config snapshot, passive
// state, user) belongs to that connection alone.
type session struct {
	srv  *Server
	rt   *liveConfig // config in force when the session started
	id   uint64
	peer *ident.Peer // who is behind a loopback control connection (nil = unknown)
	// single is set when this process serves only this session, so it may
	// switch to the user's identity after login.
	single bool

	conn *ctrlConn
	log  *slog.Logger
	ftp  *ftpserver.FtpServer
	ln   *oneShotListener

	// For a session run by a child process (SpawnSessions), guarded by
	// Server.mu: the process, and whether it was asked to stop.
	child    *exec.Cmd
	stopping bool

	mu   sync.Mutex
	cc   ftpserver.ClientContext
	user *auth.User
	fs   *driver.Fs

	failedLogins int // on this connection (AuthUser runs on its one command goroutine)

	// awaitReply is set when a transfer's file is closed and cleared when
	// the transfer's final reply (226, or an error) is written: a draining
	// shutdown must not cut the session in between.
	awaitReply atomic.Bool

	// Passive state. The library calls FetchNext, binds, then calls
	// WrapPassiveListener, all on this session's command goroutine.
	pasvMu      sync.Mutex
	pasvCands   []int         // ports reserved for this PASV, in the order handed out
	pasvNext    int           // next of pasvCands to hand out; 0 = not handing out
	pasvCurrent *pasvListener // latest passive listener
}

// pasvSpares is how many free ports a PASV offers the library besides the
// one it reserved, in case that one is held by another program.
const pasvSpares = 2

var (
	_ ftpserver.MainDriver                         = (*session)(nil)
	_ ftpserver.MainDriverExtensionPassiveWrapper  = (*session)(nil)
	_ ftpserver.MainDriverExtensionPostAuthMessage = (*session)(nil)
	_ ftpserver.PasvPortGetter                     = (*session)(nil)
)

// GetSettings gives the library this session's settings, with the safe
// defaults set explicitly (see DESIGN.md point 4).
func (s *session) GetSettings() (*ftpserver.Settings, error) {
	cfg := s.rt.cfg
	st := &ftpserver.Settings{
		Listener:                 s.ln,
		Banner:                   cfg.Banner,
		PassiveTransferPortRange: s,
		IdleTimeout:              int(max(cfg.IdleTimeout.Seconds(), 1)),
		ConnectionTimeout:        int(max(cfg.Passive.AcceptTimeout.Seconds(), 1)),
		DisableActiveMode:        true,
		DisableSite:              true,
		DefaultTransferType:      ftpserver.TransferTypeBinary,
		DisableASCIIConversion:   true,
		PasvConnectionsCheck:     ftpserver.IPMatchRequired,
		ActiveConnectionsCheck:   ftpserver.IPMatchRequired,
	}
	if cfg.Passive.Address == "control" {
		st.PublicIPResolver = s.controlAddress
	} else {
		st.PublicHost = cfg.Passive.Address
	}
	return st, nil
}

// controlAddress is the PASV address in "control" mode: the local address the
// client reached us on.
func (s *session) controlAddress(ftpserver.ClientContext) (string, error) {
	if a, ok := s.conn.LocalAddr().(*net.TCPAddr); ok {
		if ip4 := a.IP.To4(); ip4 != nil {
			return ip4.String(), nil
		}
	}
	return "", fmt.Errorf("the control connection is IPv6 (%s); PASV needs IPv4, use EPSV", s.conn.LocalAddr())
}

// GetTLSConfig: TLS is not offered; the SSH tunnel encrypts.
func (s *session) GetTLSConfig() (*tls.Config, error) {
	return nil, errors.New("TLS is not supported: tunnelftpd runs behind an SSH tunnel")
}

// ClientConnected returns the banner.
func (s *session) ClientConnected(cc ftpserver.ClientContext) (_ string, err error) {
	defer s.contain("ClientConnected", &err)
	s.mu.Lock()
	s.cc = cc
	s.mu.Unlock()
	s.log.Info("session started", "from", s.conn.RemoteAddr().String())
	return s.rt.cfg.Banner, nil
}

// ClientDisconnected ends the session: passive ports are released, and once
// open files are closed (the library calls this before an interrupted
// transfer's file is closed) the root is released.
func (s *session) ClientDisconnected(ftpserver.ClientContext) {
	defer s.contain("ClientDisconnected", nil)
	s.pasvMu.Lock()
	s.releaseReservedLocked(nil)
	if s.pasvCurrent != nil {
		s.pasvCurrent.Close()
	}
	s.pasvMu.Unlock()
	s.ln.Close()
}

// finish waits for the session's files and logs its end; it runs after the
// one-connection server has stopped.
func (s *session) finish() {
	s.mu.Lock()
	fs, user := s.fs, s.user
	s.mu.Unlock()
	if user != nil && user.Logout != nil {
		defer func() {
			if err := user.Logout(); err != nil {
				s.log.Warn("closing the PAM session", "err", err)
			}
		}()
	}
	if fs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := fs.Wait(ctx); err != nil {
			s.log.Warn("open files did not close in time", "err", err)
		}
		cancel()
		fs.Close()
	}
	attrs := []any{}
	if user != nil {
		attrs = append(attrs, "user", user.Name)
	}
	s.log.Info("session ended", attrs...)
}

// AuthUser checks a login. A failure waits auth.fail_delay, is logged with the
// user and peer (never the password), and gets a generic 530.
func (s *session) AuthUser(_ ftpserver.ClientContext, name, pass string) (_ ftpserver.ClientDriver, err error) {
	defer s.contain("AuthUser", &err)
	maybePanic("AuthUser")
	from := s.conn.RemoteAddr().String()
	s.mu.Lock()
	already := s.user != nil
	s.mu.Unlock()
	if already {
		// The library accepts USER/PASS again after a login; a second
		// identity in the same process (perhaps already switched to the
		// first user) must never be taken. The library then disconnects.
		s.log.Warn("second login on one connection refused", "user", logSafe(name), "from", from)
		return nil, errors.New("already logged in")
	}
	u, err := s.authenticate(name, pass)
	if err != nil {
		time.Sleep(s.rt.cfg.Auth.FailDelay.Duration)
		// Fixed field order (user, from first) for fail2ban; see etc/fail2ban.
		attrs := append([]any{"user", logSafe(name), "from", from}, append(s.peerAttrs(), "session", s.id)...)
		var r *auth.Refusal
		if errors.As(err, &r) {
			attrs = append(attrs, "reason", r.Reason)
		} else if !errors.Is(err, auth.ErrAuthFailed) {
			attrs = append(attrs, "err", err.Error())
		}
		s.failedLogins++
		if s.failedLogins < s.rt.cfg.Auth.MaxLoginAttempts {
			s.conn.keepOpenOnce()
		} else {
			s.conn.closeAfterNextReply()
			attrs = append(attrs, "disconnect", "max_login_attempts reached")
		}
		s.srv.log.Warn("login failed", attrs...)
		return nil, auth.ErrAuthFailed
	}
	// From here on the session runs as the account it serves, before it
	// touches any file.
	if err := s.switchIdentity(u); err != nil {
		if u.Logout != nil {
			u.Logout()
		}
		s.log.Error("login refused: cannot run the session as the user", "user", u.Name, "err", err)
		return nil, errors.New("cannot start your session; the administrator has been told")
	}
	fs, err := driver.New(u.Root, driver.Options{ReadOnly: u.ReadOnly, OnTransfer: s.transferDone})
	if err != nil {
		if u.Logout != nil {
			u.Logout()
		}
		s.log.Error("login refused: cannot open the user's root", "user", u.Name, "err", err)
		return nil, errors.New("home directory unavailable")
	}
	s.mu.Lock()
	s.user, s.fs = u, fs
	s.mu.Unlock()
	s.srv.log.Info("login", append([]any{"user", u.Name, "from", from},
		append(s.peerAttrs(), "session", s.id, "kind", userKind(u), "read_only", u.ReadOnly)...)...)
	return fs, nil
}

// authenticate tries, in order: virtual users, anonymous, system accounts.
func (s *session) authenticate(name, pass string) (*auth.User, error) {
	cfg := s.rt.cfg
	u, err := s.rt.users.Authenticate(name, pass)
	switch {
	case err == nil:
		if uc := s.rt.byName[u.Name]; uc.RequireSSHUser {
			want := uc.SSHUser
			if want == "" {
				want = uc.Name
			}
			if s.peer == nil || s.peer.User != want || (s.peer.PID != 0 && !s.peer.SSH) {
				return nil, &auth.Refusal{Reason: "not tunnelled by SSH user " + want + " (require_ssh_user)"}
			}
		}
		return u, nil
	case cfg.Auth.AnonymousRoot != "" && (name == "anonymous" || name == "ftp"):
		return &auth.User{Name: name, Root: cfg.Auth.AnonymousRoot, ReadOnly: true, Anonymous: true}, nil
	case s.rt.system != nil:
		if !s.single {
			return nil, errors.New("system account login refused: this process serves several sessions (bug: system_users sessions must each have a process)")
		}
		return s.rt.system.Authenticate(name, pass, s.remoteHost())
	}
	return nil, err
}

// switchIdentity makes a per-session process run as the account it serves:
// a system user as themselves, a virtual or anonymous user as run_as.
// Sessions sharing the daemon's process keep its identity.
func (s *session) switchIdentity(u *auth.User) error {
	if !s.single || !privsep.IsRoot() {
		if u.System && os.Geteuid() != u.UID {
			return fmt.Errorf("the daemon does not run as root and cannot switch to uid %d", u.UID)
		}
		return nil
	}
	if u.System {
		return privsep.Drop(privsep.Identity{Name: u.Name, UID: u.UID, GID: u.GID, Groups: u.Groups})
	}
	if s.rt.cfg.RunAs == "" {
		s.srv.warnOnce("run_as-session", "virtual and anonymous sessions run as root: set run_as to an unprivileged account")
		return nil
	}
	id, err := privsep.Lookup(s.rt.cfg.RunAs)
	if err != nil {
		return err
	}
	return privsep.Drop(id)
}

// userKind names the kind of account for the log.
func userKind(u *auth.User) string {
	switch {
	case u.System:
		return "system"
	case u.Anonymous:
		return "anonymous"
	}
	return "virtual"
}

// PostAuthMessage keeps driver error text out of the 530 reply.
func (s *session) PostAuthMessage(_ ftpserver.ClientContext, _ string, err error) string {
	if err == nil {
		return "Login successful"
	}
	if errors.Is(err, auth.ErrAuthFailed) {
		return "Login incorrect"
	}
	return "Login refused: " + err.Error()
}

// transferDone logs a finished transfer and writes its xferlog line.
func (s *session) transferDone(t driver.Transfer) {
	defer s.contain("transferDone", nil)
	s.awaitReply.Store(true)
	s.mu.Lock()
	user := s.user
	s.mu.Unlock()
	status := "complete"
	attrs := []any{"user", user.Name, "path", logSafe(t.Path), "bytes", t.Bytes,
		"seconds", fmt.Sprintf("%.3f", t.Duration.Seconds())}
	if t.Err != nil {
		status = "incomplete"
		attrs = append(attrs, "err", t.Err.Error())
	}
	dir := "download"
	if t.Upload {
		dir = "upload"
	}
	s.log.Info("transfer "+status, append([]any{"direction", dir}, attrs...)...)
	if s.rt.xferlog != nil {
		mode := byte('r')
		if user.Anonymous {
			mode = 'a'
		}
		s.rt.xferlog.write(t, s.remoteHost(), user.Name, mode)
	}
}

// FetchNext is the session's PasvPortGetter. The library calls it in a loop
// to collect candidates, then binds the first it can. We answer each PASV
// with a reserved free port (waiting passive.wait for one), then up to
// pasvSpares more that were free at once, then end the loop with ok=false.
func (s *session) FetchNext() (_, _ int, ok bool) {
	defer s.contain("FetchNext", nil) // ok stays false on a panic
	s.pasvMu.Lock()
	defer s.pasvMu.Unlock()
	if s.pasvNext > 0 {
		if s.pasvNext == len(s.pasvCands) {
			s.pasvNext = 0
			return 0, 0, false
		}
		port := s.pasvCands[s.pasvNext]
		s.pasvNext++
		return port, port, true
	}
	// One passive port per session: a new PASV gives up the previous,
	// unused one before waiting for a port (with a one-port range it is
	// the very port this session will get).
	s.releaseReservedLocked(nil)
	if s.pasvCurrent != nil && s.pasvCurrent.pending() {
		s.pasvCurrent.Close()
	}
	start := time.Now()
	cands, err := s.rt.pool.candidates(s.rt.cfg.Passive.Wait.Duration, pasvSpares)
	switch {
	case errors.Is(err, errRangeExhausted):
		s.log.Warn("passive port range exhausted", "range", s.rt.cfg.Passive.Ports,
			"waited", time.Since(start).Round(time.Millisecond).String())
		s.conn.expectPasvFailure(fmt.Sprintf("No free passive port in range %s after waiting %s; try again",
			s.rt.cfg.Passive.Ports, s.rt.cfg.Passive.Wait))
		return 0, 0, false
	case err != nil:
		// Out of file descriptors, or the like: not the range's fault.
		s.log.Error("cannot open a passive port", "range", s.rt.cfg.Passive.Ports, "err", err)
		s.conn.expectPasvFailure("Cannot open a data connection right now (server resources exhausted); try again")
		return 0, 0, false
	}
	s.pasvCands, s.pasvNext = append(s.pasvCands[:0], cands...), 1
	return cands[0], cands[0], true
}

// NumberAttempts: see FetchNext.
func (s *session) NumberAttempts() int { return 1 + pasvSpares }

// releaseReservedLocked frees the ports FetchNext reserved for a PASV that
// are still in pasvCands (WrapPassiveListener takes the bound one out
// first), marking those in foreign as held by another program, and ends the
// PASV's hand-out. pasvMu must be held.
func (s *session) releaseReservedLocked(foreign []int) {
	if len(s.pasvCands) > 0 {
		s.rt.pool.releaseMarking(s.pasvCands, foreign)
	}
	s.pasvCands, s.pasvNext = s.pasvCands[:0], 0
}

// pasvFailed is called when the library reports a PASV failure. When it
// could bind none of the candidates, it returns the reason for the client:
// the library does not say why, so each candidate gets a trial bind, and
// only those another program holds are marked as such.
func (s *session) pasvFailed() string {
	s.pasvMu.Lock()
	defer s.pasvMu.Unlock()
	if s.pasvCurrent != nil && s.pasvCurrent.pending() {
		// Failed after binding (no address to advertise): give the port back.
		s.pasvCurrent.Close()
	}
	cands := append([]int(nil), s.pasvCands...)
	var held []int
	var other error
	for _, p := range cands {
		switch err := probeBind(p); {
		case isAddrInUse(err):
			held = append(held, p)
		case err != nil:
			other = err
		}
	}
	// Candidates are still reserved only if the library bound none of them.
	s.releaseReservedLocked(held)
	switch {
	case len(cands) == 0:
		return ""
	case other != nil:
		s.log.Error("cannot open a passive port", "ports", fmt.Sprint(cands), "err", other)
		return "Cannot open a data connection right now (server resources exhausted); try again"
	case len(held) > 0:
		s.log.Warn("passive ports in use by another program", "ports", fmt.Sprint(held))
		return fmt.Sprintf("Cannot listen on passive port(s) %s: in use by another program; try again",
			strings.Trim(fmt.Sprint(held), "[]"))
	default:
		return "Cannot listen on a passive port right now; try again"
	}
}

// WrapPassiveListener applies the passive policy to the library's listener.
func (s *session) WrapPassiveListener(l net.Listener) (_ net.Listener, err error) {
	defer s.contain("WrapPassiveListener", &err)
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return l, nil
	}
	port := tl.Addr().(*net.TCPAddr).Port
	if s.advertisesLoopback() {
		if err := bindToLoopback(tl); err != nil {
			s.srv.warnOnce("bindtodevice", "cannot restrict passive ports to the loopback interface; stray peers are still dropped by address", "err", err)
		}
	}
	timeout := s.rt.cfg.DataTimeout.Duration
	onConn := func(c *net.TCPConn) { watchStall(c, timeout, s.log) }

	s.pasvMu.Lock()
	defer s.pasvMu.Unlock()
	// The library tried the candidates in order: those before port failed.
	var failed []int
	if i := slices.Index(s.pasvCands, port); i >= 0 {
		failed = slices.Clone(s.pasvCands[:i])
		s.pasvCands = slices.Delete(s.pasvCands, i, i+1)
	}
	if len(failed) > 0 {
		s.log.Info("passive ports in use by another program, skipped", "ports", fmt.Sprint(failed))
	}
	s.releaseReservedLocked(failed)
	pool := s.rt.pool
	s.pasvCurrent = newPasvListener(tl, port, s.rt.cfg.Passive.AcceptTimeout.Duration, func(p int) { pool.release(p) },
		s.allowData, onConn, s.log)
	return s.pasvCurrent, nil
}

// advertisesLoopback reports whether PASV/EPSV point clients at loopback, in
// which case data connections can only legitimately arrive on lo.
func (s *session) advertisesLoopback() bool {
	if s.rt.cfg.Passive.Address == "control" {
		a, ok := s.conn.LocalAddr().(*net.TCPAddr)
		return ok && a.IP.IsLoopback()
	}
	ip := net.ParseIP(s.rt.cfg.Passive.Address)
	return ip != nil && ip.IsLoopback()
}

// busy reports whether a file transfer is running or its final reply is
// still to be written.
func (s *session) busy() bool {
	s.mu.Lock()
	fs := s.fs
	s.mu.Unlock()
	return s.awaitReply.Load() || fs != nil && fs.OpenTransfers() > 0
}

// close disconnects the client.
func (s *session) close() {
	s.mu.Lock()
	cc := s.cc
	s.mu.Unlock()
	if cc != nil && s.busy() {
		// Abort the running transfer through the library, so that it
		// does not report it complete.
		cc.Close()
	}
	// An idle session just loses its socket: its command loop ends on the
	// read error (the library's Close would race with that loop).
	s.conn.closeForReal()
}

// logSafe bounds and escapes client-supplied text for the log.
func logSafe(s string) string {
	const maxLen = 256
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// peerAttrs are the log attributes naming the tunnel user and, when known,
// the SSH client's real address (what fail2ban should ban).
func (s *session) peerAttrs() []any {
	if s.peer == nil {
		return nil
	}
	attrs := []any{"ssh_user", s.ownerName()}
	if s.peer.Client != "" {
		attrs = append(attrs, "client", s.peer.Client)
	}
	return attrs
}

// ownerName names the owner of the control connection's peer socket.
func (s *session) ownerName() string {
	switch {
	case s.peer == nil:
		return "unknown"
	case s.peer.User != "":
		return s.peer.User
	}
	return strconv.Itoa(s.peer.UID)
}

// ownerKey groups sessions by tunnel user for max_sessions_per_ssh_user;
// unidentified peers share one group.
func (s *session) ownerKey() int {
	if s.peer == nil {
		return -1
	}
	return s.peer.UID
}

// remoteHost is the client's address for logs: the SSH client's real
// address when known, else the control connection's peer.
func (s *session) remoteHost() string {
	if s.peer != nil && s.peer.Client != "" {
		host, _, _ := net.SplitHostPort(s.peer.Client)
		return host
	}
	if a, ok := s.conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return s.conn.RemoteAddr().String()
}

// allowData decides whether a data connection from peer belongs to this
// session: same IP as the control connection and, with passive.same_owner,
// the same owner (and sshd process, where both are known).
func (s *session) allowData(c net.Conn) bool {
	if !sameHost(c.RemoteAddr(), s.conn.RemoteAddr()) {
		return false
	}
	if !s.rt.cfg.Passive.SameOwner || s.peer == nil {
		return true
	}
	// Only the owner and, where the control peer's process is known, whether
	// that process holds the socket: no search through every process.
	uid, inode, err := ident.Owner(c.LocalAddr(), c.RemoteAddr())
	if err != nil {
		s.log.Warn("dropped data connection: cannot identify its owner", "peer", c.RemoteAddr().String(), "err", err)
		return false
	}
	if uid != s.peer.UID {
		s.log.Warn("dropped data connection from another owner", "peer", c.RemoteAddr().String(),
			"uid", uid, "want_uid", s.peer.UID)
		return false
	}
	if s.peer.PID != 0 {
		// Unknown when this process can no longer list the peer's files
		// (after switching to a system user): the uid check stands alone.
		if held, known := ident.HeldBy(s.peer.PID, inode); known && !held {
			s.log.Warn("dropped data connection from another process of the same owner", "peer", c.RemoteAddr().String(),
				"uid", uid, "want_pid", s.peer.PID)
			return false
		}
	}
	return true
}

// testPanicAt, when a test stores a callback name in it, makes that
// callback panic: it is how the tests check that contain keeps the daemon
// alive.
var testPanicAt atomic.Value

// contain is deferred first in every callback the library runs on its own
// per-client goroutine, where a panic would end the whole daemon (every
// session with it). It logs the panic, ends this session's connection and,
// where the callback returns an error, makes it return one.
func (s *session) contain(name string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	s.log.Error("session crashed (a bug: please report it)", "in", name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	s.conn.closeForReal()
	if err != nil {
		*err = fmt.Errorf("internal error in %s", name)
	}
}

// maybePanic is the test hook of contain.
func maybePanic(name string) {
	if at, _ := testPanicAt.Load().(string); at == name {
		panic("test panic in " + name)
	}
}
