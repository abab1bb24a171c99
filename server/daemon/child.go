package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/server"
	"github.com/tunnelftpd/tunnelftpd/server/admission"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
	"github.com/tunnelftpd/tunnelftpd/server/passive"
)

// Per-session processes. With system users, each session must run in a
// process of its own, which switches to the user after login. In standalone
// and systemd Accept=no modes the listening process therefore only accepts,
// applies the connect-time limits, and starts a fresh copy of this binary
// for each connection; it never reads an FTP command. The child gets:
//
//	fd 3  the control connection
//	fd 4  the text of the config in force (a memfd)
//	fd 5  the passive-port lock file shared by all children (a memfd)
//	fd 6  a pipe on which it reports its way to a login (admission.LoginEvent
//	      bytes), for the parent's pre-login budget
//
// and runs as a single-session server (see RunSessionChild). SIGUSR2 asks
// it to close its session, with a 421, if that has not logged in (the
// parent makes room for a new connection). Spawner is the parent's side,
// the server.Handoff of such a daemon.

// ChildArg is the hidden argument of `tunnelftpd serve` that runs a
// per-session child.
const ChildArg = "--session-child"

const (
	childConnFD   = 3
	childConfigFD = 4
	childLockFD   = 5
	childEventFD  = 6
)

// Spawner runs every session in a new process of a binary (normally
// /proc/self/exe, `serve --session-child`): the server.Handoff of a daemon
// with system users. Make it with NewSpawner.
type Spawner struct {
	exe           string
	lock          *os.File // passive-port lock file shared with the children
	stdioIsClient bool     // children must not log to standard error
}

// NewSpawner makes the Spawner of exe, and the passive-port lock file its
// children share (a memfd). stdioIsClient tells the children that standard
// error is not for logs (--inetd wait mode).
func NewSpawner(exe string, stdioIsClient bool) (*Spawner, error) {
	fd, err := unix.MemfdCreate("tunnelftpd-passive-locks", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating the passive-port lock file: %w", err)
	}
	return &Spawner{exe: exe, lock: os.NewFile(uintptr(fd), "passive-locks"), stdioIsClient: stdioIsClient}, nil
}

// Close closes the lock file; children already started keep their copy.
func (sp *Spawner) Close() { sp.lock.Close() }

// Start starts the process of one session, handing it c and the text of
// cfg; what the process reports goes to events. The caller closes its own c
// afterwards.
func (sp *Spawner) Start(c net.Conn, cfg *config.Config, log *slog.Logger, events func(admission.LoginEvent)) (server.Handle, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("connection is %T, not TCP", c)
	}
	connFile, err := tc.File()
	if err != nil {
		return nil, fmt.Errorf("passing the connection: %w", err)
	}
	defer connFile.Close()
	cfgFile, err := memfdWith("tunnelftpd-config", cfg.Text())
	if err != nil {
		return nil, err
	}
	defer cfgFile.Close()
	evR, evW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("the session's event pipe: %w", err)
	}
	defer evW.Close()

	cmd := exec.Command(sp.exe, "serve", ChildArg)
	cmd.Args[0] = "tunnelftpd-session"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TUNNELFTPD_CONFIG_NAME=" + cfg.File}
	if sp.stdioIsClient {
		cmd.Env = append(cmd.Env, "TUNNELFTPD_STDIO_IS_CLIENT=1")
	}
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{connFile, cfgFile, sp.lock, evW}
	if err := cmd.Start(); err != nil {
		evR.Close()
		return nil, fmt.Errorf("starting %s: %w", sp.exe, err)
	}
	log.Info("session process started", "child_pid", cmd.Process.Pid, "from", c.RemoteAddr().String())
	ch := &child{cmd: cmd, log: log, events: make(chan struct{})}
	go ch.readEvents(evR, events)
	return ch, nil
}

// child is a running session process.
type child struct {
	cmd    *exec.Cmd
	log    *slog.Logger
	events chan struct{} // closed when the event pipe has been read to its end
}

// readEvents passes on what the process reports, until it exits.
func (ch *child) readEvents(r *os.File, events func(admission.LoginEvent)) {
	defer close(ch.events)
	defer r.Close()
	var buf [64]byte
	for {
		n, err := r.Read(buf[:])
		for _, b := range buf[:n] {
			events(admission.LoginEvent(b))
		}
		if err != nil {
			return
		}
	}
}

// Evict asks the process to close its session if that has not logged in
// (SIGUSR2).
func (ch *child) Evict() {
	if err := ch.cmd.Process.Signal(syscall.SIGUSR2); err != nil && !errors.Is(err, os.ErrProcessDone) {
		ch.log.Warn("signalling the session process", "child_pid", ch.cmd.Process.Pid, "err", err)
	}
}

// Wait waits for the process to end and logs a failure.
func (ch *child) Wait() {
	defer func() { <-ch.events }() // its reports reach the server before it hears of the end
	state, err := ch.cmd.Process.Wait()
	switch {
	case err != nil:
		ch.log.Error("waiting for the session process", "child_pid", ch.cmd.Process.Pid, "err", err)
	case !state.Success():
		ch.log.Warn("session process failed", "child_pid", ch.cmd.Process.Pid, "status", state.String())
	}
}

// Stop asks the process to drain (SIGTERM) or, with now, ends it (SIGKILL).
func (ch *child) Stop(now bool) {
	sig := syscall.SIGTERM
	if now {
		sig = syscall.SIGKILL
	}
	if err := ch.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		ch.log.Warn("signalling the session process", "child_pid", ch.cmd.Process.Pid, "err", err)
	}
}

// Reopen tells the process to reopen its log files (SIGUSR1).
func (ch *child) Reopen() {
	if err := ch.cmd.Process.Signal(syscall.SIGUSR1); err != nil && !errors.Is(err, os.ErrProcessDone) {
		ch.log.Warn("signalling the session process", "child_pid", ch.cmd.Process.Pid, "err", err)
	}
}

// memfdWith returns an in-memory file holding data, positioned at 0.
func memfdWith(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	_, err = f.Write(data)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("writing %s: %w", name, err)
	}
	return f, nil
}

// RunSessionChild is the body of a per-session process (`tunnelftpd serve
// --session-child`): it reads the config and the connection its parent
// passed, serves that one session, and returns when it has ended. SIGTERM
// drains it like the daemon: a running transfer may finish; SIGUSR1 (from
// the parent) reopens its log files.
func RunSessionChild(logTo io.Writer) error {
	cfgFile := os.NewFile(childConfigFD, "config")
	data, err := io.ReadAll(cfgFile)
	cfgFile.Close()
	if err != nil {
		return fmt.Errorf("reading the config from the parent: %w", err)
	}
	cfg, err := config.Parse(os.Getenv("TUNNELFTPD_CONFIG_NAME"), data)
	if err != nil {
		return fmt.Errorf("config handed over by the parent: %w", err)
	}
	connFile := os.NewFile(childConnFD, "control connection")
	conn, err := net.FileConn(connFile)
	connFile.Close()
	if err != nil {
		return fmt.Errorf("control connection from the parent: %w", err)
	}
	out, log, err := logging.New(cfg, os.Getenv("TUNNELFTPD_STDIO_IS_CLIENT") == "1", logTo)
	if err != nil {
		conn.Close()
		return err
	}
	defer out.Close()
	// Our own open file description of the shared lock file, so that our
	// locks exclude the other children's.
	opts := server.Options{Log: log, OneSession: true}
	events := os.NewFile(childEventFD, "login events")
	defer events.Close()
	opts.Report = func(e admission.LoginEvent) {
		events.Write([]byte{byte(e)}) //nolint:errcheck // a parent that has gone needs no report
	}
	if lock, err := passive.ReopenLock(childLockFD); err != nil {
		log.Warn("passive ports are not locked across sessions", "err", err)
	} else {
		defer lock.Close()
		opts.PortLock = lock
	}
	unix.Close(childLockFD)
	adm := openAdmin(cfg, log, true, false)
	defer adm.close()
	adm.apply(&opts, true)
	if f := OpenClassLock(cfg, log); f != nil {
		defer f.Close()
		opts.ClassLock = f
	}
	srv, err := server.New(cfg, opts)
	if err != nil {
		conn.Close()
		return err
	}

	memCtx, stopMem := context.WithCancel(context.Background())
	defer stopMem()
	go returnMemory(memCtx, log)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	evict := make(chan os.Signal, 1)
	signal.Notify(evict, syscall.SIGUSR2)
	defer signal.Stop(evict)
	opts.Report(admission.EventStarted) // SIGUSR2 is ours now
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-evict:
				srv.EvictPrelogin()
				continue
			case sig := <-sigs:
				if sig == syscall.SIGUSR1 {
					if err := errors.Join(out.Reopen(), srv.ReopenLogs()); err != nil {
						log.Error("SIGUSR1: cannot reopen the log files, writing to the old ones", "err", err)
					}
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Duration)
				defer cancel()
				srv.Shutdown(ctx) //nolint:errcheck // logged by Shutdown
				return
			case <-done:
				return
			}
		}
	}()
	srv.ServeConn(conn)
	close(done)
	return nil
}
