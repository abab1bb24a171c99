// Package server runs the FTP daemon: it loads and validates the config,
// accepts control connections from any launch mode (a plain listener, an
// inherited socket, a single connected socket), and applies the tunnel's
// passive-port policy, limits and logging. It never opens user files itself:
// every file operation goes through package driver, every login through
// package auth.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/ident"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/passive"
)

// liveConfig is a validated config with what is derived from it. Sessions keep
// the one they started with.
type liveConfig struct {
	cfg     *config.Config
	users   *auth.Virtual
	byName  map[string]config.UserConfig
	system  *auth.System // nil unless auth.system_users
	pool    *passive.Pool
	xferlog *xferLog
}

// poolRange is the passive range of rt's pool (0, 0 for no rt).
func (rt *liveConfig) poolRange() (first, last int) {
	if rt == nil {
		return 0, 0
	}
	return rt.pool.Range()
}

// Server is the FTP daemon. Create it with New, then call Serve with a
// listener or ServeConn with a single connection; Shutdown stops it.
type Server struct {
	log *slog.Logger
	rt  atomic.Pointer[liveConfig]

	nextID   atomic.Uint64
	mu       sync.Mutex
	sessions map[*session]struct{}
	listener net.Listener
	draining bool
	drained  chan struct{} // closed when draining and no session is left

	warned sync.Map // keys of warnings already logged once

	single     bool   // this process serves one session only (may switch identity)
	pamConfDir string // PAM config dir instead of /etc/pam.d (tests)
	portLock   *os.File

	spawnExe   string   // run each session in a new process of this binary (SpawnSessions)
	childLock  *os.File // passive-port lock file shared with the children
	childInetd bool     // children must not log to standard error
}

// SetPortLock makes passive ports exclusive across the processes that lock
// the same file (see passive.OpenLock): per-session processes must, or two of
// them may pick the same free port at once. Call it before serving.
func (s *Server) SetPortLock(f *os.File) {
	s.portLock = f
	rt := *s.rt.Load()
	rt.pool = passive.NewPool(rt.cfg.Passive.First, rt.cfg.Passive.Last, f, s.log)
	s.rt.Store(&rt)
}

// SetSingleSession tells the server that this process serves exactly one
// session (inetd, systemd Accept=yes, or a per-session child): after login
// the process switches to the user's identity for good.
func (s *Server) SetSingleSession() { s.single = true }

// New builds a server from a loaded config. log receives every log line; the
// server adds the session id to each.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{log: log, sessions: map[*session]struct{}{}, drained: make(chan struct{})}
	rt, err := s.newRuntime(cfg, nil)
	if err != nil {
		return nil, err
	}
	s.rt.Store(rt)
	return s, nil
}

// newRuntime derives a liveConfig from cfg. The passive pool is kept from old
// when the range is unchanged, so the busy ports stay accounted.
func (s *Server) newRuntime(cfg *config.Config, old *liveConfig) (*liveConfig, error) {
	accounts := make([]auth.Account, len(cfg.Users))
	for i, u := range cfg.Users {
		accounts[i] = auth.Account{Name: u.Name, Hash: u.Password, Root: u.Root, ReadOnly: u.ReadOnly}
	}
	users, err := auth.NewVirtual(accounts)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	rt := &liveConfig{cfg: cfg, users: users, byName: map[string]config.UserConfig{}}
	if cfg.Auth.SystemUsers {
		opts := auth.SystemOptions{Service: cfg.Auth.PAMService, FtpUsers: cfg.Auth.FtpUsers,
			MinUID: cfg.Auth.MinUID, Root: cfg.Auth.SystemRoot, PAMConfDir: s.pamConfDir}
		if _, err := os.Stat(opts.FtpUsers); err != nil {
			opts.FtpUsers = "" // a missing ftpusers file lists nobody
		}
		if cfg.Auth.RequireShell {
			opts.Shells = "/etc/shells"
		}
		if rt.system, err = auth.NewSystem(opts); err != nil {
			return nil, fmt.Errorf("auth.system_users: %w", err)
		}
	}
	for _, u := range cfg.Users {
		rt.byName[u.Name] = u
	}
	if first, last := old.poolRange(); first == cfg.Passive.First && last == cfg.Passive.Last {
		rt.pool = old.pool
	} else {
		rt.pool = passive.NewPool(cfg.Passive.First, cfg.Passive.Last, s.portLock, s.log)
	}
	if cfg.Log.Xferlog != "" {
		if old != nil && old.xferlog != nil && old.xferlog.path == cfg.Log.Xferlog {
			rt.xferlog = old.xferlog
		} else if rt.xferlog, err = openXferLog(cfg.Log.Xferlog); err != nil {
			return nil, err
		}
	}
	return rt, nil
}

// Reload puts cfg in force for new sessions; running sessions keep theirs.
// On error the current config stays in force.
func (s *Server) Reload(cfg *config.Config) error {
	rt, err := s.newRuntime(cfg, s.rt.Load())
	if err != nil {
		return err
	}
	s.rt.Store(rt)
	return nil
}

// Config returns the config in force for new sessions.
func (s *Server) Config() *config.Config { return s.rt.Load().cfg }

// Serve accepts control connections on l until Shutdown or an accept error.
// It returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return errors.New("server is shutting down")
	}
	s.listener = l
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			draining := s.draining
			s.mu.Unlock()
			if draining || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off, keep serving.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, retrying", "err", err, "delay", delay.String())
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accepting control connections: %w", err)
		}
		delay = 0
		if s.spawnExe != "" {
			go s.spawnSession(c)
		} else {
			go s.ServeConn(c)
		}
	}
}

// ServeConn runs one session on an accepted control connection and returns
// when it has ended and its files are closed.
func (s *Server) ServeConn(c net.Conn) {
	id := s.nextID.Add(1)
	defer recoverSession(s.log.With("session", id), c)
	sess := s.admitConn(c, id)
	if sess == nil {
		return
	}
	defer s.depart(sess)

	sess.ln = newOneShotListener(sess.conn)
	sess.ftp = ftpserver.NewFtpServer(sess)
	sess.ftp.Logger = slog.New(newLibraryHandler(sess.log.Handler()))
	if err := sess.ftp.Listen(); err != nil {
		sess.log.Error("cannot start session", "err", err)
		c.Close()
		return
	}
	if err := sess.ftp.Serve(); err != nil {
		sess.log.Error("session ended with an error", "err", err)
	}
	sess.conn.closeForReal()
	sess.finish()
}

// admitConn makes session id for connection c: it identifies the peer and
// applies the connect-time limits. A refused connection gets one 421 line
// and is closed, and nil is returned; otherwise the caller must depart.
func (s *Server) admitConn(c net.Conn, id uint64) *session {
	rt := s.rt.Load()
	sess := &session{srv: s, rt: rt, id: id, peer: s.identify(c), single: s.single}
	sess.log = s.log.With(append([]any{"session", id}, sess.peerAttrs()...)...)
	sess.offer = &passive.Offer{Pool: rt.pool, Range: rt.cfg.Passive.Ports, Wait: rt.cfg.Passive.Wait.Duration,
		AcceptTimeout: rt.cfg.Passive.AcceptTimeout.Duration, DataTimeout: rt.cfg.DataTimeout.Duration,
		Loopback: passive.AdvertisesLoopback(rt.cfg.Passive.Address, c.LocalAddr()),
		Control:  c.RemoteAddr(), Owner: sess.peer, SameOwner: rt.cfg.Passive.SameOwner,
		Log: sess.log, WarnOnce: s.warnOnce}
	sess.conn = &ctrlConn{Conn: c, onPasvFailure: sess.offer.Failed, onFinalReply: func() { sess.awaitReply.Store(false) }}
	if reason := s.admit(sess); reason != "" {
		sess.log.Warn("session refused", "reason", reason, "from", c.RemoteAddr().String())
		fmt.Fprintf(c, "421 %s\r\n", reason)
		c.Close()
		return nil
	}
	return sess
}

// identify finds who is behind a loopback control connection (nil if the
// peer is not on loopback or cannot be identified; the reason is logged once).
func (s *Server) identify(c net.Conn) *ident.Peer {
	ra, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok || !ra.IP.IsLoopback() {
		return nil
	}
	p, err := ident.Lookup(c.LocalAddr(), c.RemoteAddr())
	if err != nil {
		s.warnOnce("ident", "cannot identify the owner of loopback peers; options that need it (tunnel_only, require_ssh_user, max_sessions_per_ssh_user, passive.same_owner) refuse or fall back as documented", "err", err)
		return nil
	}
	if p.PID == 0 && !canReadOthersFDs() {
		s.warnOnce("ident-pid", "cannot read other processes' sockets (run as root, or grant CAP_SYS_PTRACE): SSH client addresses are unknown and tunnel_only refuses every connection")
	}
	return p
}

// canReadOthersFDs reports whether this process may list another user's
// open files (/proc/1/fd belongs to root): what finding the sshd session
// process needs. (A peer that has already gone also has no process.)
func canReadOthersFDs() bool {
	_, err := os.ReadDir("/proc/1/fd")
	return !errors.Is(err, os.ErrPermission) // other errors (EMFILE) say nothing about privilege
}

// admit registers a session, or returns why it is refused.
func (s *Server) admit(sess *session) string {
	cfg := sess.rt.cfg
	if cfg.TunnelOnly && (sess.peer == nil || !sess.peer.SSH) {
		return "Only connections through an SSH tunnel are accepted (tunnel_only)"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return "Server shutting down"
	}
	if len(s.sessions) >= cfg.MaxSessions {
		return fmt.Sprintf("Too many sessions (max_sessions=%d); try again later", cfg.MaxSessions)
	}
	if limit := cfg.MaxSessionsPerSSHUser; limit > 0 {
		n := 0
		for other := range s.sessions {
			if other.ownerKey() == sess.ownerKey() {
				n++
			}
		}
		if n >= limit {
			return fmt.Sprintf("Too many sessions for SSH user %s (max_sessions_per_ssh_user=%d)", sess.ownerName(), limit)
		}
	}
	s.sessions[sess] = struct{}{}
	return ""
}

func (s *Server) depart(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
	if s.draining && len(s.sessions) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// Sessions is the number of running sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// PassivePortsBusy is the number of passive ports this process holds.
func (s *Server) PassivePortsBusy() int { return s.rt.Load().pool.InUse() }

// closeGrace is how long Shutdown waits, after its timeout, for the sessions
// it cut to close their files and log their transfers.
const closeGrace = 5 * time.Second

// Shutdown stops accepting, disconnects idle sessions, lets running transfers
// finish until ctx is done, then disconnects everyone left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	if s.listener != nil {
		s.listener.Close()
	}
	if len(s.sessions) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
	s.mu.Unlock()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for sess := range s.sessions {
			switch {
			case sess.child != nil:
				if !sess.stopping {
					sess.stopping = true
					sess.stopChild(false) // the child drains its own session
				}
			case !sess.busy():
				sess.close()
			}
		}
		s.mu.Unlock()
		select {
		case <-s.drained:
			return nil
		case <-ctx.Done():
			s.mu.Lock()
			n := len(s.sessions)
			for sess := range s.sessions {
				if sess.child != nil {
					sess.stopChild(true)
				} else {
					sess.close()
				}
			}
			s.mu.Unlock()
			s.log.Warn("shutdown timeout: closed sessions with running transfers", "sessions", n)
			// Give the cut sessions a moment to close their files and
			// write their transfer records (status i) before we return.
			grace := time.NewTimer(closeGrace)
			defer grace.Stop()
			select {
			case <-s.drained:
			case <-grace.C:
				s.log.Warn("sessions still ending after the shutdown timeout", "sessions", s.Sessions())
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// warnOnce logs a warning the first time key is seen.
func (s *Server) warnOnce(key, msg string, args ...any) {
	if _, seen := s.warned.LoadOrStore(key, true); !seen {
		s.log.Warn(msg, args...)
	}
}

// isTemporary reports accept errors worth retrying (EMFILE, ECONNABORTED…).
func isTemporary(err error) bool {
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}

// libraryHandler passes on the library's own log records at warn level and
// above only: below that it is chatty, and at debug it would log commands.
// limit rate-limits them per session (ratelimit.go).
type libraryHandler struct {
	slog.Handler
	limit *logLimiter
}

func (h libraryHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h libraryHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return libraryHandler{h.Handler.WithAttrs(a), h.limit}
}

func (h libraryHandler) WithGroup(n string) slog.Handler {
	return libraryHandler{h.Handler.WithGroup(n), h.limit}
}
