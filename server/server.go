// Package server is the FTP server as a value, shaped like net/http's:
// New(cfg, Options) builds it, Serve(l) serves a listener and ServeConn(c)
// one connection (every launch mode is one of the two), Shutdown(ctx) drains
// it and Reload(cfg) puts a new config in force for new sessions. Each
// session is the ftpserverlib MainDriver of its one connection (session.go):
// its login and the switch to the user's identity, its transfers, its passive
// mode and its end. Server ties together what its sub-packages own: who is
// behind a connection (peer), who may have a session and when one not logged
// in must go (admission; tunnel_only is checked here), the control
// connection (ctrl), the session's class and messages (policy), what the
// admin tools see (tracker), the planned shutdown (planned, with the
// refusals and closes in planned.go) and the filter on the library's log
// (logging.NewLibraryHandler).
//
// It must not open user paths (package driver does, for every file
// operation), pick passive ports (package passive), read config files
// (package config), or know signals, systemd or inherited fds (packages
// daemon and launch, which it never imports: per-session processes plug in
// through Options.Handoff).
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/ftpcmd"
	"github.com/tunnelftpd/tunnelftpd/metrics"
	"github.com/tunnelftpd/tunnelftpd/registry"
	"github.com/tunnelftpd/tunnelftpd/server/admission"
	"github.com/tunnelftpd/tunnelftpd/server/classcount"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/ctrl"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
	"github.com/tunnelftpd/tunnelftpd/server/passive"
	"github.com/tunnelftpd/tunnelftpd/server/peer"
	"github.com/tunnelftpd/tunnelftpd/server/planned"
	"github.com/tunnelftpd/tunnelftpd/server/policy"
	"github.com/tunnelftpd/tunnelftpd/server/tracker"
)

// liveConfig is a validated config with what is derived from it. Sessions keep
// the one they started with.
type liveConfig struct {
	cfg     *config.Config
	logins  *auth.Logins
	pool    *passive.Pool
	xferlog *logging.Xferlog // nil unless log.xferlog; each holder retains it
}

// release lets go of what live holds for the config in force or a session.
func (live *liveConfig) release() {
	if live.xferlog != nil {
		live.xferlog.Release()
	}
}

// poolRange is the passive range of live's pool (0, 0 for nil).
func (live *liveConfig) poolRange() (first, last int) {
	if live == nil {
		return 0, 0
	}
	return live.pool.Range()
}

// ErrServerClosed is returned by Serve when it is called after Shutdown
// began.
var ErrServerClosed = errors.New("server: shutting down")

// Options say how a process runs its Server. The zero value serves every
// session in goroutines of this process, keeping its identity, with passive
// ports exclusive within this process only, and discards the log.
type Options struct {
	// Log receives every log line; the server adds the session id to each.
	// nil discards them.
	Log *slog.Logger
	// OneSession says this process serves exactly one session (inetd,
	// systemd Accept=yes, or a per-session process): after login the
	// process switches to the user's identity for good. false: it serves
	// many and keeps its identity.
	OneSession bool
	// PortLock makes passive ports exclusive across the processes that lock
	// the same file (passive.OpenLock): per-connection processes need it, or
	// two of them may pick the same free port at once. nil: this process only.
	PortLock *os.File
	// ClassLock makes the [[classes]] session limits hold across the
	// processes that lock the same file (classcount.OpenLock), and lets
	// each of them count the others' sessions. nil: this process only.
	ClassLock *os.File
	// Handoff, if set, runs each session that Serve accepts elsewhere (a
	// process of its own): this process then only applies the connect-time
	// limits and never reads an FTP command. nil: sessions run here.
	// ServeConn always runs the session here.
	Handoff Handoff
	// Registry, if set, gets an entry for each session this process runs
	// (tunnelftpd who, count, metrics); a handed-off session is registered
	// by its own process. nil: none.
	Registry *registry.Registry
	// Metrics counts the sessions' events (logins, transfers, PASV waits
	// and failures, refusals); nil counts nothing.
	Metrics *metrics.Recorder
	// Wtmp, if set, gets a login and a logout record per session (log.wtmp).
	Wtmp *logging.Wtmp
	// Now is the clock of the planned shutdown (tests); nil: time.Now.
	Now func() time.Time
	// IdentHelper is the socket of the identity helper (`tunnelftpd
	// ident`), asked who is behind a loopback peer when this process cannot
	// read other users' processes itself (not root). "" is
	// ident.HelperSocket; a helper that is not there is not asked again
	// until a minute later.
	IdentHelper string
	// Report, if set, receives the session's way to a login (a per-session
	// process tells the process that handed it off, which counts it in its
	// pre-login budget). nil: nobody is told.
	Report func(admission.LoginEvent)
}

// Handoff runs sessions outside this process (package daemon's per-session
// processes, for system users).
type Handoff interface {
	// Start runs the session of c, admitted under cfg, elsewhere; log is the
	// session's logger, and events receives what the session's process
	// reports (its Options.Report), from any goroutine, until Wait returns.
	// The caller closes c once Start has returned.
	Start(c net.Conn, cfg *config.Config, log *slog.Logger, events func(admission.LoginEvent)) (Handle, error)
}

// Handle is one session handed off by a Handoff.
type Handle interface {
	// Wait returns when the session has ended.
	Wait()
	// Stop asks the session to drain (a running transfer may finish), or
	// with now set, ends it at once.
	Stop(now bool)
	// Evict asks a session that has not logged in to close, with a 421,
	// to make room (its process calls Server.EvictPrelogin).
	Evict()
}

// Server is the FTP daemon. Create it with New, then call Serve with a
// listener or ServeConn with a single connection; Shutdown stops it.
type Server struct {
	log  *slog.Logger
	opts Options
	live atomic.Pointer[liveConfig]

	classes *classcount.Counter // sessions per class, across processes with Options.ClassLock

	nextID   atomic.Uint64
	mu       sync.Mutex
	sessions map[*session]struct{}
	listener net.Listener
	draining bool
	drained  chan struct{} // closed when draining and no session is left

	warned sync.Map        // keys of warnings already logged once
	gate   *admission.Gate // the limits, the pre-login budget, out of file descriptors

	planned  planned.Watcher // the shutdown file, cached (planned.go)
	watching bool            // watchShutdown runs (guarded by mu)
	peers    peer.Finder     // who is behind a connection
}

// New builds a server from a loaded config, run as opts say.
func New(cfg *config.Config, opts Options) (*Server, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	classes, err := classcount.New(opts.ClassLock)
	if err != nil {
		return nil, fmt.Errorf("class session counter: %w", err)
	}
	s := &Server{log: log, opts: opts, classes: classes, sessions: map[*session]struct{}{}, drained: make(chan struct{})}
	s.gate = admission.New(log, func() admission.Limits { return limitsOf(s.Config()) }, opts.Report, opts.Handoff != nil)
	s.peers = peer.Finder{Helper: opts.IdentHelper, Log: log, WarnOnce: s.warnOnce, TunnelOnly: func() bool { return s.Config().TunnelOnly }}
	s.planned = planned.Watcher{Path: func() string { return s.live.Load().cfg.ShutdownPath() }, Now: s.now, Log: log, WarnOnce: s.warnOnce}
	live, err := s.newLiveConfig(cfg, nil)
	if err != nil {
		return nil, err
	}
	s.live.Store(live)
	return s, nil
}

// newLiveConfig derives a liveConfig from cfg. The passive pool is kept from old
// when the range is unchanged, so the busy ports stay accounted.
func (s *Server) newLiveConfig(cfg *config.Config, old *liveConfig) (*liveConfig, error) {
	logins, err := s.newLogins(cfg)
	if err != nil {
		return nil, err
	}
	live := &liveConfig{cfg: cfg, logins: logins}
	if first, last := old.poolRange(); first == cfg.Passive.First && last == cfg.Passive.Last {
		live.pool = old.pool
	} else {
		live.pool = passive.NewPool(cfg.Passive.First, cfg.Passive.Last, s.opts.PortLock, s.log)
	}
	if cfg.Log.Xferlog != "" {
		if old != nil && old.xferlog != nil && old.xferlog.Path() == cfg.Log.Xferlog && old.xferlog.Retain() {
			live.xferlog = old.xferlog
			// A reload after logrotate moves the file: the same path is
			// opened anew, as the log.output file is.
			if err := live.xferlog.Reopen(); err != nil {
				live.xferlog.Release()
				return nil, err
			}
		} else if live.xferlog, err = logging.OpenXferlog(cfg.Log.Xferlog); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// newLogins builds the login decision of cfg (package auth owns it).
func (s *Server) newLogins(cfg *config.Config) (*auth.Logins, error) {
	opts := auth.LoginOptions{AnonymousRoot: cfg.Auth.AnonymousRoot, SSHUsers: map[string]string{}}
	for _, u := range cfg.Users {
		opts.Accounts = append(opts.Accounts, auth.Account{Name: u.Name, Hash: u.Password, Root: u.Root, ReadOnly: u.ReadOnly})
		if u.RequireSSHUser {
			opts.SSHUsers[u.Name] = cmp.Or(u.SSHUser, u.Name)
		}
	}
	if cfg.Auth.SystemUsers {
		sys := auth.SystemOptions{Service: cfg.Auth.PAMService, FtpUsers: cfg.Auth.FtpUsers,
			MinUID: cfg.Auth.MinUID, Root: cfg.Auth.SystemRoot}
		if _, err := os.Stat(sys.FtpUsers); err != nil {
			sys.FtpUsers = "" // a missing ftpusers file lists nobody
		}
		if cfg.Auth.RequireShell {
			sys.Shells = "/etc/shells"
		}
		system, err := auth.NewSystem(sys)
		if err != nil {
			return nil, fmt.Errorf("auth.system_users: %w", err)
		}
		opts.System = system
		if !s.opts.OneSession {
			// Checked above, but not used: a system user's session must
			// have a process of its own, which switches to the user.
			opts.System = refuseSystem{}
		}
	}
	return auth.NewLogins(opts)
}

// refuseSystem stands in for the system accounts in a process that serves
// several sessions (after a reload turned system_users on in a daemon
// started without it, say).
type refuseSystem struct{}

func (refuseSystem) Authenticate(string, string, string) (*auth.User, error) {
	return nil, errors.New("system account login refused: this process serves several sessions (bug: system_users sessions must each have a process)")
}

// Reload puts cfg in force for new sessions; running sessions keep theirs
// (and the transfer log they started with, closed when the last of them
// ends). On error the current config stays in force.
func (s *Server) Reload(cfg *config.Config) error {
	live, err := s.newLiveConfig(cfg, s.live.Load())
	if err != nil {
		return err
	}
	s.live.Swap(live).release()
	return nil
}

// ReopenLogs opens the transfer log anew by its path (SIGUSR1, after
// logrotate moved it away): every session's next transfer is written to
// the new file. Sessions handed off to processes of their own are told to
// reopen theirs (Reopener). Sessions of an older config with another
// xferlog path keep theirs until they end.
func (s *Server) ReopenLogs() error {
	s.mu.Lock()
	for sess := range s.sessions {
		if r, ok := sess.handle.(Reopener); ok {
			r.Reopen()
		}
	}
	s.mu.Unlock()
	live := s.acquireLive()
	defer live.release()
	if live.xferlog == nil {
		return nil
	}
	return live.xferlog.Reopen()
}

// Reopener is a Handle whose session can be told to reopen its log files.
type Reopener interface {
	Reopen()
}

// acquireLive returns the config in force for a new session, holding
// what the session needs of it until live.release.
func (s *Server) acquireLive() *liveConfig {
	for {
		live := s.live.Load()
		if live.xferlog == nil || live.xferlog.Retain() {
			return live
		}
		// A reload let go of it meanwhile: the new config is in force.
	}
}

// Config returns the config in force for new sessions.
func (s *Server) Config() *config.Config { return s.live.Load().cfg }

// Serve accepts control connections on l until Shutdown or an accept error,
// and runs each session in a goroutine (or hands it off, Options.Handoff).
// It returns nil after Shutdown, ErrServerClosed if Shutdown came first.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return ErrServerClosed
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
			if admission.IsFDExhaustion(err) && s.gate.RefuseOne(l) {
				continue // answered 421 with the reserve descriptor
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
		if !s.gate.RoomForAnother() {
			s.gate.Note("admission")
			admission.SayOutOfFDs(c)
			c.Close()
			continue
		}
		s.gate.Accepted() // until admitConn has registered or refused it
		if s.opts.Handoff != nil {
			go s.handOff(c)
		} else {
			go s.serveConn(c, true)
		}
	}
}

// ServeConn runs one session on an accepted control connection and returns
// when it has ended and its files are closed.
func (s *Server) ServeConn(c net.Conn) { s.serveConn(c, false) }

// serveConn is ServeConn; accepted says Serve accepted c (and counted it
// in flight).
func (s *Server) serveConn(c net.Conn, accepted bool) {
	id := s.nextID.Add(1)
	defer recoverSession(s.log.With("session", id), c)
	sess := s.admitConn(c, id, false, accepted)
	if sess == nil {
		return
	}
	defer s.depart(sess)
	s.gate.StartLoginTimer(&sess.pre, sess.live.cfg.LoginTimeout.Duration, sess.conn.SayAndClose)
	adm := tracker.New(sess.id, sess.from.SSHUser(), sess.from.Host(), tracker.Options{
		Registry: s.opts.Registry, Metrics: s.opts.Metrics, Wtmp: s.opts.Wtmp,
		WtmpLine: logging.WtmpLine(os.Getpid(), sess.id, !sess.single), Commands: sess.live.cfg.Log.Commands,
		Log: sess.log, Now: s.now, WarnOnce: s.warnOnce, Cwd: sess.cwd,
		Notice: func(code []byte) []byte { return s.shutdownNotice(sess, code) }})
	defer adm.Leave()
	s.mu.Lock()
	sess.adm = adm
	sess.conn.Hooks.Read, sess.conn.Hooks.BeforeReply = adm.Read, adm.BeforeReply
	s.mu.Unlock()

	sess.ln = ctrl.NewListener(sess.conn)
	sess.ftp = ftpserver.NewFtpServer(sess)
	sess.ftp.Logger = slog.New(logging.NewLibraryHandler(sess.log.Handler(), sess.userName))
	if err := sess.ftp.Listen(); err != nil {
		sess.log.Error("cannot start session", "err", err)
		c.Close()
		return
	}
	if err := sess.ftp.Serve(); err != nil {
		sess.log.Error("session ended with an error", "err", err)
	}
	sess.conn.CloseForReal()
	sess.finish()
}

// handOff runs one session through Options.Handoff and waits for it.
func (s *Server) handOff(c net.Conn) {
	sess := s.admitConn(c, s.nextID.Add(1), true, true) // limits only: this process never reads a command
	if sess == nil {
		return
	}
	defer s.depart(sess)

	var h Handle
	err := s.gate.StartProcess(func() (err error) {
		h, err = s.opts.Handoff.Start(c, sess.live.cfg, sess.log, func(e admission.LoginEvent) { s.gate.Event(&sess.pre, e) })
		return err
	})
	if err != nil {
		if admission.IsFDExhaustion(err) {
			s.gate.Note("session process")
			admission.SayOutOfFDs(c)
		} else {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c, "421 Cannot start your session; try again later\r\n")
		}
	}
	c.Close() // the session has its own copy
	if err != nil {
		sess.log.Error("cannot start the session process", "err", err)
		return
	}
	s.mu.Lock()
	sess.handle = h
	s.mu.Unlock()
	s.gate.Attach(&sess.pre)
	h.Wait()
}

// admitConn makes session id for connection c (to be handed off, or
// served here): it identifies the peer and applies the connect-time limits,
// making room where the pre-login budget allows. A refused connection gets
// one 421 line and is closed, and nil is returned; otherwise the caller must
// depart. accepted says Serve counted c in flight (admission.Gate.Accepted).
func (s *Server) admitConn(c net.Conn, id uint64, handOff, accepted bool) *session {
	if accepted {
		defer s.gate.Decided()
	}
	live := s.acquireLive()
	sess := &session{srv: s, live: live, id: id, from: peer.Conn{Peer: s.peers.Identify(c), Remote: c.RemoteAddr()}, single: s.opts.OneSession}
	sess.log = s.log.With(append([]any{"session", id}, sess.from.Attrs()...)...)
	sess.pol = &policy.Session{Cfg: live.cfg, Classes: s.classes, Conn: sess.from.Access(), Remote: sess.from.Host(),
		User: sess.userName, Log: sess.log, Metrics: s.opts.Metrics, OnClass: func(name string) { sess.adm.SetClass(name) }}
	sess.offer = &passive.Offer{Pool: live.pool, Range: live.cfg.Passive.Ports, Wait: live.cfg.Passive.Wait.Duration,
		AcceptTimeout: live.cfg.Passive.AcceptTimeout.Duration, DataTimeout: live.cfg.DataTimeout.Duration,
		Loopback: passive.AdvertisesLoopback(live.cfg.Passive.Address, c.LocalAddr()),
		Control:  c.RemoteAddr(), Owner: sess.from.Peer, SameOwner: live.cfg.Passive.SameOwner,
		Held: s.peers.Held, Log: sess.log, WarnOnce: s.warnOnce,
		OnWait: s.opts.Metrics.PasvWait, OnBusy: func(port int, busy bool) { sess.adm.PasvBusy(port, busy) }}
	hooks := ctrl.Hooks{PasvFailure: func() string {
		s.opts.Metrics.PasvFailure()
		return sess.offer.Failed()
	}, FinalReply: sess.finalReply, Refusal: sess.pol.TakeRefusal, DirMessage: sess.dirMessage}
	if s.opts.Report != nil {
		hooks.FirstLine = s.gate.ReportLine
	}
	sess.conn = ctrl.New(c, hooks, live.cfg.DataTimeout.Duration)
	sess.pre = admission.Entry{Owner: sess.from.OwnerKey(), Known: sess.from.Peer != nil, OwnerName: sess.from.OwnerName(),
		HandedOff: handOff, SentLine: sess.conn.SentLine, Log: sess.log, Evict: func() {
			if handOff {
				s.mu.Lock()
				h := sess.handle
				s.mu.Unlock()
				h.Evict()
				return
			}
			sess.conn.SayAndClose("421 " + admission.EvictMessage)
		}}
	// Active mode is never served (no way back through the tunnel); MFMT always is.
	sess.cmds = ftpcmd.New(ftpcmd.Config{MFMT: true})
	if s.refuseForShutdown(sess) {
		c.Close()
		live.release()
		return nil
	}
	if reason := s.admit(sess); reason != "" {
		s.opts.Metrics.LimitRefusal(tracker.LimitOf(reason))
		sess.log.Warn("session refused", "reason", reason, "from", c.RemoteAddr().String())
		fmt.Fprintf(c, "421 %s\r\n", reason)
		c.Close()
		live.release()
		return nil
	}
	return sess
}

// admit registers a session (admission.Gate.Admit), or returns why it is
// refused.
func (s *Server) admit(sess *session) string {
	cfg := sess.live.cfg
	if cfg.TunnelOnly && (sess.from.Peer == nil || !sess.from.Peer.SSH) {
		return "Only connections through an SSH tunnel are accepted (tunnel_only)"
	}
	if reason := sess.pol.RefusedAtConnect(); reason != "" {
		return reason
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return "Server shutting down"
	}
	evicted, refusal := s.gate.Admit(&sess.pre, limitsOf(cfg))
	if refusal == "" {
		s.sessions[sess] = struct{}{}
		s.startWatchingLocked()
	}
	s.mu.Unlock()
	s.gate.Evict(evicted)
	return refusal
}

func (s *Server) depart(sess *session) {
	sess.pol.LeaveClass()
	sess.live.release()
	s.gate.Leave(&sess.pre)
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

// limitsOf are the admission limits of cfg.
func limitsOf(cfg *config.Config) admission.Limits {
	return admission.Limits{MaxSessions: cfg.MaxSessions, MaxSessionsPerSSHUser: cfg.MaxSessionsPerSSHUser,
		Prelogin: cfg.PreloginLimit(), PreloginPerSSHUser: cfg.MaxPreloginPerSSHUser, LoginTimeout: cfg.LoginTimeout.Duration}
}

// EvictPrelogin closes, with a 421, the sessions of this process that are
// not logged in and not checking a PASS: what a per-session process does
// when the process that handed it off needs the room (Handle.Evict).
func (s *Server) EvictPrelogin() { s.gate.EvictPrelogin() }

// FileLimitNeeded is about how many open files this server needs to hold
// max_sessions sessions at once.
func (s *Server) FileLimitNeeded() int {
	return admission.FileLimitNeeded(s.Config().MaxSessions, s.opts.Handoff != nil)
}

// ClassSessions counts the sessions of each class of the config in force.
func (s *Server) ClassSessions() []policy.ClassCount {
	return policy.ClassSessions(s.Config(), s.classes)
}

// Sessions is the number of running sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// PassivePortsBusy is the number of passive ports this process holds.
func (s *Server) PassivePortsBusy() int { return s.live.Load().pool.InUse() }

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
			case sess.handle != nil:
				if !sess.stopping {
					sess.stopping = true
					sess.handle.Stop(false) // it drains its own session
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
			var handles []Handle
			for sess := range s.sessions {
				if sess.handle != nil {
					handles = append(handles, sess.handle)
				} else {
					sess.close()
				}
			}
			s.mu.Unlock()
			// A session process got SIGTERM with us and cuts its own
			// transfers (with a 426) at its shutdown_timeout, about now;
			// it is killed only if it has not ended cutGrace later.
			kill := time.AfterFunc(cutGrace+time.Second, func() {
				for _, h := range handles {
					h.Stop(true)
				}
			})
			defer kill.Stop()
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

// recoverSession turns a panic in a session's goroutine into a log line and
// the end of that session: the other sessions keep running, and nothing of
// the panic reaches the client. ServeConn defers it.
func recoverSession(log *slog.Logger, c net.Conn) {
	if r := recover(); r != nil {
		log.Error("session crashed (a bug: please report it)", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		c.Close()
	}
}

// isTemporary reports accept errors worth retrying (EMFILE, ECONNABORTED…).
func isTemporary(err error) bool {
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}
