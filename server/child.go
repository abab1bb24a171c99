package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/server/config"
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
// and runs as a single-session server (see RunSessionChild).

// ChildArg is the hidden argument of `tunnelftpd serve` that runs a
// per-session child.
const ChildArg = "--session-child"

const (
	childConnFD   = 3
	childConfigFD = 4
	childLockFD   = 5
)

// SpawnSessions makes Serve run every session in a new process of exe
// (normally /proc/self/exe) instead of a goroutine. stdioIsClient tells the
// children that standard error is not for logs (--inetd wait mode).
func (s *Server) SpawnSessions(exe string, stdioIsClient bool) error {
	s.childInetd = stdioIsClient
	fd, err := unix.MemfdCreate("tunnelftpd-passive-locks", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("creating the passive-port lock file: %w", err)
	}
	s.spawnExe = exe
	s.childLock = os.NewFile(uintptr(fd), "passive-locks")
	return nil
}

// spawnSession runs one session in a child process and waits for it.
func (s *Server) spawnSession(c net.Conn) {
	sess := s.admitConn(c, s.nextID.Add(1)) // limits only: this process never reads a command
	if sess == nil {
		return
	}
	defer s.depart(sess)

	err := s.startChild(sess, c)
	c.Close() // the child has its own copy
	if err != nil {
		sess.log.Error("cannot start the session process", "err", err)
		return
	}
	state, err := sess.child.Process.Wait()
	switch {
	case err != nil:
		sess.log.Error("waiting for the session process", "child_pid", sess.child.Process.Pid, "err", err)
	case !state.Success():
		sess.log.Warn("session process failed", "child_pid", sess.child.Process.Pid, "status", state.String())
	}
}

func (s *Server) startChild(sess *session, c net.Conn) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("connection is %T, not TCP", c)
	}
	connFile, err := tc.File()
	if err != nil {
		return fmt.Errorf("passing the connection: %w", err)
	}
	defer connFile.Close()
	cfgFile, err := memfdWith("tunnelftpd-config", sess.rt.cfg.Text())
	if err != nil {
		return err
	}
	defer cfgFile.Close()

	cmd := exec.Command(s.spawnExe, "serve", ChildArg)
	cmd.Args[0] = "tunnelftpd-session"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TUNNELFTPD_CONFIG_NAME=" + sess.rt.cfg.File}
	if s.childInetd {
		cmd.Env = append(cmd.Env, "TUNNELFTPD_STDIO_IS_CLIENT=1")
	}
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{connFile, cfgFile, s.childLock}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.spawnExe, err)
	}
	s.mu.Lock()
	sess.child = cmd
	s.mu.Unlock()
	sess.log.Info("session process started", "child_pid", cmd.Process.Pid, "from", c.RemoteAddr().String())
	return nil
}

// memfdWith returns an in-memory file holding data, positioned at 0.
func memfdWith(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err == nil {
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
	out, log, err := NewLogOutput(cfg, os.Getenv("TUNNELFTPD_STDIO_IS_CLIENT") == "1", logTo)
	if err != nil {
		conn.Close()
		return err
	}
	defer out.Close()
	srv, err := New(cfg, log)
	if err != nil {
		conn.Close()
		return err
	}
	srv.SetSingleSession()
	// Our own open file description of the shared lock file, so that our
	// locks exclude the other children's.
	if lock, err := passive.ReopenLock(childLockFD); err != nil {
		srv.warnOnce("portlock", "passive ports are not locked across sessions", "err", err)
	} else {
		srv.SetPortLock(lock)
	}
	unix.Close(childLockFD)

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

// stopChild asks a session process to drain (SIGTERM) or, when kill is
// set, ends it (SIGKILL).
func (sess *session) stopChild(kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	if err := sess.child.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		sess.log.Warn("signalling the session process", "child_pid", sess.child.Process.Pid, "err", err)
	}
}
