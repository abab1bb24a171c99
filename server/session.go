package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/driver"
	"github.com/tunnelftpd/tunnelftpd/ftpcmd"
	"github.com/tunnelftpd/tunnelftpd/privsep"
	"github.com/tunnelftpd/tunnelftpd/server/admission"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/ctrl"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
	"github.com/tunnelftpd/tunnelftpd/server/passive"
	"github.com/tunnelftpd/tunnelftpd/server/peer"
	"github.com/tunnelftpd/tunnelftpd/server/planned"
	"github.com/tunnelftpd/tunnelftpd/server/policy"
	"github.com/tunnelftpd/tunnelftpd/server/tracker"
)

// session is one control connection. It is the ftpserverlib MainDriver of a
// one-connection FtpServer, so everything it holds (config snapshot, passive
// state, user) belongs to that connection alone.
type session struct {
	srv  *Server
	live *liveConfig // config in force when the session started
	id   uint64
	from peer.Conn // who is behind the control connection (package peer)
	// single is set when this process serves only this session, so it may
	// switch to the user's identity after login.
	single bool

	conn *ctrl.Conn
	log  *slog.Logger
	ftp  *ftpserver.FtpServer
	ln   *ctrl.Listener

	// For a session handed off (Options.Handoff), guarded by Server.mu:
	// its handle, and whether it was asked to stop.
	handle   Handle
	stopping bool

	pre admission.Entry // its part in admission (the pre-login budget), guarded by the gate

	mu   sync.Mutex
	cc   ftpserver.ClientContext
	user *auth.User
	fs   *driver.Fs
	// pol is the session's class and messages (package policy); the access
	// policy itself is the driver's (driver.Fs.Decision).
	pol *policy.Session

	failedLogins int // on this connection (AuthUser runs on its one command goroutine)

	// awaitReply is set when a transfer's file is closed and cleared when
	// the transfer's final reply (226, or an error) is written: a draining
	// shutdown must not cut the session in between.
	awaitReply atomic.Bool

	// offer is the session's passive mode (package passive owns its state).
	offer *passive.Offer

	// cmds answers the commands tunnelftpd serves itself (FEAT, HELP, STRU,
	// OPTS MLST, EPSV ALL, SITE CHMOD…; package ftpcmd).
	cmds *ftpcmd.Session
	// adm is what the admin tools see of the session (package tracker);
	// nil for a session handed off to a process of its own.
	adm *tracker.Tracker
	// closing: closed for the planned shutdown (guarded by Server.mu);
	// notice: what it was shown of the plan (guarded by mu).
	closing bool
	notice  planned.Notice
}

var (
	_ ftpserver.MainDriver                         = (*session)(nil)
	_ ftpserver.MainDriverExtensionPassiveWrapper  = (*session)(nil)
	_ ftpserver.MainDriverExtensionPostAuthMessage = (*session)(nil)
	_ ftpserver.PasvPortGetter                     = (*session)(nil)
	_ ftpserver.MainDriverExtensionCommand         = (*session)(nil)
)

// HandleCommand is the library's command hook: package ftpcmd answers the
// commands tunnelftpd serves itself; nil lets the library run the command.
func (s *session) HandleCommand(cc ftpserver.ClientContext, command, param string) (reply *ftpserver.CommandReply) {
	defer s.contain("HandleCommand", nil)
	return s.cmds.Handle(command, param, cc.Path())
}

// GetSettings gives the library this session's settings, with the safe
// defaults set explicitly (see DESIGN.md point 4).
func (s *session) GetSettings() (*ftpserver.Settings, error) {
	cfg := s.live.cfg
	st := &ftpserver.Settings{
		Listener:                 s.ln,
		Banner:                   cfg.Banner,
		PassiveTransferPortRange: s,
		IdleTimeout:              int(max(cfg.IdleTimeout.Seconds(), 1)),
		ConnectionTimeout:        int(max(cfg.Passive.AcceptTimeout.Seconds(), 1)),
		DisableActiveMode:        true,
		DisableSite:              true,
		DefaultTransferType:      ftpserver.TransferTypeBinary,
		DisableASCIIConversion:   cfg.ASCII != config.ASCIIConvert,
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

// ClientConnected returns the banner (banner_file's lines, then banner).
func (s *session) ClientConnected(cc ftpserver.ClientContext) (_ string, err error) {
	defer s.contain("ClientConnected", &err)
	s.mu.Lock()
	s.cc = cc
	s.mu.Unlock()
	s.log.Info("session started", "from", s.conn.RemoteAddr().String())
	return s.pol.Greeting(), nil
}

// ClientDisconnected ends the session: passive ports are released, and once
// open files are closed (the library calls this before an interrupted
// transfer's file is closed) the root is released.
func (s *session) ClientDisconnected(ftpserver.ClientContext) {
	defer s.contain("ClientDisconnected", nil)
	s.offer.Close()
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
		s.log.Warn("second login on one connection refused", "user", logging.Safe(name), "from", from)
		return nil, errors.New("already logged in")
	}
	start := time.Now()
	if !s.srv.gate.BeginCheck(&s.pre) {
		return nil, errLoginClosed
	}
	u, err := s.live.logins.Authenticate(name, pass, s.from.Tunnel())
	if err == nil {
		if err = s.srv.loginRefusal(s); err != nil && u.Logout != nil {
			u.Logout()
		}
	}
	if !s.srv.gate.EndCheck(&s.pre, err == nil) {
		// The login timeout closed the connection while PAM worked.
		if err == nil && u.Logout != nil {
			u.Logout()
		}
		return nil, errLoginClosed
	}
	if err != nil {
		tracker.LoginFailed(s.srv.opts.Metrics, err)
		time.Sleep(failureWait(time.Since(start), s.live.cfg.Auth.FailDelay.Duration))
		// Fixed field order (user, from first) for fail2ban; see etc/fail2ban.
		attrs := append([]any{"user", logging.Safe(name), "from", from}, append(s.from.Attrs(), "session", s.id)...)
		var r *auth.Refusal
		if errors.As(err, &r) {
			attrs = append(attrs, "reason", r.Reason)
		} else if !errors.Is(err, auth.ErrAuthFailed) {
			attrs = append(attrs, "err", err.Error())
		}
		s.failedLogins++
		if s.failedLogins < s.live.cfg.Auth.MaxLoginAttempts {
			s.conn.KeepOpenOnce()
		} else {
			s.conn.CloseAfterNextReply()
			attrs = append(attrs, "disconnect", "max_login_attempts reached")
		}
		s.srv.log.Warn("login failed", attrs...)
		var sr *planned.Refusal
		if errors.As(err, &sr) {
			return nil, sr
		}
		return nil, auth.ErrAuthFailed
	}
	au := s.pol.AccessUser(u)
	if refusal := s.pol.AdmitClass(&au); refusal != "" {
		if u.Logout != nil {
			u.Logout()
		}
		s.pol.RefuseLogin(refusal)
		return nil, policy.ErrClassRefused
	}
	// From here on the session runs as the account it serves, before it
	// touches any file.
	if err := s.switchIdentity(u); err != nil {
		s.pol.LeaveClass()
		if u.Logout != nil {
			u.Logout()
		}
		s.log.Error("login refused: cannot run the session as the user", "user", u.Name, "err", err)
		return nil, errors.New("cannot start your session; the administrator has been told")
	}
	acc := s.live.cfg.Policy().Session(au)
	// RETR copies through sshd, which then reads the file from the CPU cache,
	// and uses sendfile for a client that reads the data connection itself
	// (retr_sendfile; driver.File.WriteTo).
	sendfile := s.live.cfg.RetrSendfile.Use(s.from.ViaSSHD())
	fs, err := driver.New(u.Root, driver.Options{ReadOnly: au.ReadOnly, Policy: acc, OnTransfer: s.transferDone, OnOpen: s.adm.TransferOpened,
		Sendfile: sendfile})
	if err != nil {
		s.pol.LeaveClass()
		if u.Logout != nil {
			u.Logout()
		}
		if admission.IsFDExhaustion(err) {
			// Not the user's fault, and not a refusal: 421, like a
			// connection that finds no descriptor at connect.
			s.srv.gate.Note("login")
			s.log.Warn("login cut short: out of file descriptors", "user", u.Name)
			s.conn.SayAndClose(admission.OutOfFDsReply)
			return nil, errors.New("server out of resources")
		}
		s.log.Error("login refused: cannot open the user's root", "user", u.Name, "err", err)
		return nil, errors.New("home directory unavailable")
	}
	s.mu.Lock()
	s.user, s.fs = u, fs
	s.mu.Unlock()
	class := s.pol.ClassName()
	s.offer.SetShare(s.passiveShare(u))
	s.cmds.SetDriver(fs)
	s.adm.LoggedIn(u, pass)
	s.srv.log.Info("login", append([]any{"user", u.Name, "from", from},
		append(s.from.Attrs(), "session", s.id, "kind", u.Kind(), "read_only", au.ReadOnly, "class", class, "retr", retrMode(sendfile))...)...)
	return fs, nil
}

// retrMode names how RETR sends files in the login line: "sendfile" or "copy".
func retrMode(sendfile bool) string {
	if sendfile {
		return "sendfile"
	}
	return "copy"
}

// failureWait is how long a failed login waits after its check took
// elapsed, so that its 530 comes fail_delay after the PASS whatever the
// reason (unknown user, wrong password, locked, ftpusers, PAM's work or
// not): the next multiple of delay, if the check took longer than one.
func failureWait(elapsed, delay time.Duration) time.Duration {
	if delay <= 0 {
		return 0
	}
	total := delay * max((elapsed+delay-1)/delay, 1)
	return total - elapsed
}

// errLoginClosed refuses a login whose connection was closed while it was
// being checked (login_timeout).
var errLoginClosed = errors.New("the connection was closed (login_timeout)")

// passiveShare is what the session's PASVs count against under
// passive.max_per_user: its FTP user (anonymous logins are one user) and,
// where known, its SSH user.
func (s *session) passiveShare(u *auth.User) passive.Share {
	name := u.Name
	if u.Anonymous {
		name = "(anonymous)"
	}
	keys := []string{"ftp:" + name}
	if s.from.Peer != nil {
		keys = append(keys, "ssh:"+strconv.Itoa(s.from.Peer.UID))
	}
	return passive.Share{Keys: keys, Max: s.live.cfg.Passive.PerUserLimit(), Borrow: s.live.cfg.Passive.BorrowTimeout()}
}

// cwd is the session's working directory, "" before login.
func (s *session) cwd() string {
	s.mu.Lock()
	cc, user := s.cc, s.user
	s.mu.Unlock()
	if cc == nil || user == nil {
		return ""
	}
	return cc.Path()
}

// userName is the logged-in user's name, "" before login.
func (s *session) userName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user == nil {
		return ""
	}
	return s.user.Name
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
	if s.live.cfg.RunAs == "" {
		s.srv.warnOnce("run_as-session", "virtual and anonymous sessions run as root: set run_as to an unprivileged account")
		return nil
	}
	id, err := privsep.Lookup(s.live.cfg.RunAs)
	if err != nil {
		return err
	}
	return privsep.Drop(id)
}

// PostAuthMessage keeps driver error text out of the 530 reply, and puts
// [messages] login before the 230.
func (s *session) PostAuthMessage(_ ftpserver.ClientContext, _ string, err error) string {
	if err == nil {
		return s.pol.LoginReply("Login successful", cmp.Or(s.cwd(), "/"))
	}
	if errors.Is(err, auth.ErrAuthFailed) {
		return "Login incorrect"
	}
	var sr *planned.Refusal
	if errors.As(err, &sr) {
		return sr.Reply()
	}
	return "Login refused: " + err.Error()
}

// transferDone logs a finished transfer and writes its xferlog line.
func (s *session) transferDone(t driver.Transfer) {
	defer s.contain("transferDone", nil)
	s.awaitReply.Store(true)
	if t.Err != nil {
		s.conn.TransferFailed(t.Err) // its reply (transfer results: package ctrl)
	}
	s.mu.Lock()
	user := s.user
	s.mu.Unlock()
	status := "complete"
	attrs := []any{"user", user.Name, "path", logging.Safe(t.Path), "bytes", t.Bytes,
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
	s.adm.TransferEnded(t)
	if s.live.xferlog != nil {
		mode, name := s.adm.XferIdentity(user)
		s.live.xferlog.Write(t, s.from.Host(), name, mode)
	}
}

// finalReply follows a reply that can end a transfer (ctrl.Hooks.FinalReply). The
// transfer's final reply has been written. And a transfer command that
// failed before its data connection (550 no such file, say) gives up the
// port its PASV holds at once, instead of at accept_timeout: with
// passive.max_per_user, the user's other sessions are waiting for it.
func (s *session) finalReply(b []byte) {
	s.awaitReply.Store(false)
	if b[0] != '4' && b[0] != '5' {
		return
	}
	s.mu.Lock()
	cc := s.cc
	s.mu.Unlock()
	if cc != nil && transferCommands[cc.GetLastCommand()] {
		s.offer.DropUnused()
	}
}

// cwdCommands are the commands whose 250 reply enters a directory.
var cwdCommands = map[string]bool{"CWD": true, "XCWD": true, "CDUP": true, "XCUP": true}

// dirMessage is the message of the directory a CWD just entered, for the 250 reply
// (ctrl.Hooks.DirMessage); nil after any other command.
func (s *session) dirMessage() []string {
	s.mu.Lock()
	cc, fs := s.cc, s.fs
	s.mu.Unlock()
	if cc == nil || !cwdCommands[strings.ToUpper(cc.GetLastCommand())] {
		return nil
	}
	return s.pol.CwdMessage(cc.Path(), fs)
}

// transferCommands use the data connection of the PASV before them.
var transferCommands = map[string]bool{"RETR": true, "STOR": true, "APPE": true, "STOU": true,
	"LIST": true, "NLST": true, "MLSD": true}

// FetchNext is the session's PasvPortGetter: see passive.Offer.FetchNext.
func (s *session) FetchNext() (_, _ int, ok bool) {
	defer s.contain("FetchNext", nil) // ok stays false on a panic
	return s.offer.FetchNext()
}

// NumberAttempts: see FetchNext.
func (s *session) NumberAttempts() int { return s.offer.NumberAttempts() }

// WrapPassiveListener applies the passive policy to the library's listener.
func (s *session) WrapPassiveListener(l net.Listener) (_ net.Listener, err error) {
	defer s.contain("WrapPassiveListener", &err)
	return s.offer.Wrap(l)
}

// busy reports whether a file transfer is running or its final reply is
// still to be written.
func (s *session) busy() bool {
	s.mu.Lock()
	fs := s.fs
	s.mu.Unlock()
	return s.awaitReply.Load() || fs != nil && fs.OpenTransfers() > 0
}

// close disconnects the client. A running transfer is cut first, so that
// the client hears why (426) before the connection closes (cutAndClose).
func (s *session) close() {
	s.mu.Lock()
	cc := s.cc
	s.mu.Unlock()
	if cc != nil && s.busy() {
		go s.cutAndClose(cc, "the server is shutting down")
		return
	}
	// An idle session just loses its socket: its command loop ends on the
	// read error (the library's Close would race with that loop).
	s.conn.CloseForReal()
}

// cutGrace is how long a cut transfer has to write its reply before the
// session is closed anyway.
const cutGrace = 2 * time.Second

// cutAndClose cuts the running transfer's data connection, so that the
// copy fails and the library answers (426, why); the control connection
// closes after that reply, or after cutGrace through the library, which
// then does not report the transfer complete.
func (s *session) cutAndClose(cc ftpserver.ClientContext, why string) {
	s.conn.CutTransfer(why)
	s.offer.CutData()
	time.AfterFunc(cutGrace, func() {
		cc.Close() // closing twice is harmless
		s.conn.CloseForReal()
	})
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
	s.conn.CloseForReal()
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
