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
//
// and runs as a single-session server (see RunSessionChild). Spawner is the
// parent's side, the server.Handoff of such a daemon.

// ChildArg is the hidden argument of `tunnelftpd serve` that runs a
// per-session child.
const ChildArg = "--session-child"

const (
	childConnFD   = 3
	childConfigFD = 4
	childLockFD   = 5
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
// cfg; the caller closes its own c afterwards.
func (sp *Spawner) Start(c net.Conn, cfg *config.Config, log *slog.Logger) (server.Handle, error) {
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

	cmd := exec.Command(sp.exe, "serve", ChildArg)
	cmd.Args[0] = "tunnelftpd-session"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TUNNELFTPD_CONFIG_NAME=" + cfg.File}
	if sp.stdioIsClient {
		cmd.Env = append(cmd.Env, "TUNNELFTPD_STDIO_IS_CLIENT=1")
	}
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{connFile, cfgFile, sp.lock}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", sp.exe, err)
	}
	log.Info("session process started", "child_pid", cmd.Process.Pid, "from", c.RemoteAddr().String())
	return &child{cmd: cmd, log: log}, nil
}

// child is a running session process.
type child struct {
	cmd *exec.Cmd
	log *slog.Logger
}

// Wait waits for the process to end and logs a failure.
func (ch *child) Wait() {
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
// drains it like the daemon: a running transfer may finish.
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
	if lock, err := passive.ReopenLock(childLockFD); err != nil {
		log.Warn("passive ports are not locked across sessions", "err", err)
	} else {
		defer lock.Close()
		opts.PortLock = lock
	}
	unix.Close(childLockFD)
	srv, err := server.New(cfg, opts)
	if err != nil {
		conn.Close()
		return err
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Duration)
			defer cancel()
			srv.Shutdown(ctx) //nolint:errcheck // logged by Shutdown
		case <-done:
		}
	}()
	srv.ServeConn(conn)
	close(done)
	return nil
}
