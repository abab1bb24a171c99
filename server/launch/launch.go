// Package launch finds where a process's control connections come from
// (DESIGN.md point 1): a standalone listener on the listen address, the
// socket inetd put on fd 0 (a connection for nowait, a listening socket for
// wait), or the sockets systemd passed (LISTEN_FDS: listening for Accept=no,
// merged into one listener; one connection for Accept=yes). Whether a socket
// is listening or connected is asked of the kernel (SO_ACCEPTCONN), never
// inferred from the mode. Every mode is a listener or a single connection
// fed to the same server.Server.
//
// It must not know FTP (beyond the 421 that tells a waiting client the
// service cannot start), decide privileges, or log: it returns errors.
package launch

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// Mode is where a process's control connections come from.
type Mode int

const (
	// ModeStandalone listens on the config's listen address.
	ModeStandalone Mode = iota
	// ModeInetd serves the one client connected on fd 0 (inetd/xinetd
	// nowait), then exits.
	ModeInetd
	// ModeInetdWait serves the listening socket on fd 0 (inetd wait).
	ModeInetdWait
	// ModeSystemd serves the listening sockets systemd passed (Accept=no).
	ModeSystemd
	// ModeSystemdAccept serves the one client connected on fd 3 (Accept=yes),
	// then exits.
	ModeSystemdAccept
)

func (m Mode) String() string {
	switch m {
	case ModeStandalone:
		return "standalone"
	case ModeInetd:
		return "inetd"
	case ModeInetdWait:
		return "inetd-wait"
	case ModeSystemd:
		return "systemd"
	case ModeSystemdAccept:
		return "systemd-accept"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Single reports whether the process serves one session and exits.
func (m Mode) Single() bool { return m == ModeInetd || m == ModeSystemdAccept }

// StdioIsClient reports whether fds 0/1/2 were the client's socket when the
// process started (--inetd): nothing may be written to standard output or
// standard error then.
func (m Mode) StdioIsClient() bool { return m == ModeInetd || m == ModeInetdWait }

// Launch is what a process serves: a listener or one connection.
type Launch struct {
	Mode     Mode
	Listener net.Listener // ModeStandalone (after Listen), ModeInetdWait, ModeSystemd
	Conn     net.Conn     // ModeInetd, ModeSystemdAccept
}

// TakeInetdSocket prepares `serve --inetd`. It checks that fd 0 is a socket,
// moves it to a new close-on-exec descriptor, and puts /dev/null on fds 0, 1
// and 2, so that nothing written to standard output or error (by us, by a
// library, or by the Go runtime when it crashes) can reach the client, and so
// that closing the connection really closes it. Call it before anything
// could print. If fd 0 is not a socket, it changes nothing and returns an
// error (standard error is then not the client, it can be printed there).
func TakeInetdSocket() (*os.File, error) {
	if _, err := unix.GetsockoptInt(0, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil {
		return nil, fmt.Errorf("--inetd: standard input is not a socket (%w); --inetd is for inetd, xinetd or a socket unit with StandardInput=socket", err)
	}
	fd, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("--inetd: duplicating the socket on fd 0: %w", err)
	}
	sock := os.NewFile(uintptr(fd), "inetd socket")
	devnull, err := unix.Open(os.DevNull, unix.O_RDWR, 0)
	if err != nil {
		sock.Close()
		return nil, fmt.Errorf("--inetd: opening %s: %w", os.DevNull, err)
	}
	for target := 0; target <= 2; target++ {
		if target == devnull {
			continue
		}
		if err := unix.Dup3(devnull, target, 0); err != nil {
			sock.Close()
			return nil, fmt.Errorf("--inetd: putting %s on fd %d: %w", os.DevNull, target, err)
		}
	}
	if devnull > 2 {
		unix.Close(devnull)
	}
	return sock, nil
}

// Find finds out what this process serves. inetd is the socket from
// TakeInetdSocket in --inetd mode, nil otherwise. Without it, sockets passed
// by systemd (LISTEN_FDS, LISTEN_PID) are used; without those, the mode is
// standalone and Listen opens the listener. The LISTEN_* variables are unset.
func Find(inetd *os.File) (*Launch, error) {
	if inetd != nil {
		defer inetd.Close()
		listening, err := isListening(inetd)
		if err != nil {
			return nil, fmt.Errorf("--inetd: %w", err)
		}
		if listening {
			l, err := tcpListener(inetd)
			if err != nil {
				return nil, fmt.Errorf("--inetd (fd 0 is a listening socket, inetd wait): %w", err)
			}
			return &Launch{Mode: ModeInetdWait, Listener: l}, nil
		}
		c, err := tcpConn(inetd)
		if err != nil {
			return nil, fmt.Errorf("--inetd (fd 0 is a connection, inetd nowait): %w", err)
		}
		return &Launch{Mode: ModeInetd, Conn: c}, nil
	}

	files := activation.Files(true)
	if len(files) == 0 {
		return &Launch{Mode: ModeStandalone}, nil
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var ls []net.Listener
	var conns []net.Conn
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
		for _, c := range conns {
			c.Close()
		}
	}
	for _, f := range files {
		listening, err := isListening(f)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("socket activation: fd %d (%s): %w", f.Fd(), f.Name(), err)
		}
		if listening {
			l, err := tcpListener(f)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("socket activation: fd %d (%s): %w", f.Fd(), f.Name(), err)
			}
			ls = append(ls, l)
		} else {
			c, err := tcpConn(f)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("socket activation: fd %d (%s): %w", f.Fd(), f.Name(), err)
			}
			conns = append(conns, c)
		}
	}
	if len(conns) > 0 {
		if len(files) != 1 {
			closeAll()
			return nil, fmt.Errorf("socket activation: got %d sockets, %d of them connected; Accept=yes passes exactly one connection", len(files), len(conns))
		}
		return &Launch{Mode: ModeSystemdAccept, Conn: conns[0]}, nil
	}
	return &Launch{Mode: ModeSystemd, Listener: mergeListeners(ls)}, nil
}

// Listen opens the standalone listener on cfg.Listen; other modes already
// have what they serve.
func (l *Launch) Listen(cfg *config.Config) error {
	if l.Mode != ModeStandalone || l.Listener != nil {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		where := cfg.File
		if where == "" {
			where = "the built-in config"
		}
		return fmt.Errorf("cannot listen on %s (key listen in %s): %w", cfg.Listen, where, err)
	}
	l.Listener = ln
	return nil
}

// Addr names what is served, for the log.
func (l *Launch) Addr() string {
	switch {
	case l.Conn != nil:
		return l.Conn.LocalAddr().String()
	case l.Listener != nil:
		return l.Listener.Addr().String()
	}
	return ""
}

// Refuse tells a single client that the service cannot start (a 421 reply,
// the FTP way to say so) and closes everything. It is for startup failures.
func (l *Launch) Refuse(reason string) {
	if l.Conn != nil {
		l.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(l.Conn, "421 %s\r\n", reason)
		l.Conn.Close()
	}
	if l.Listener != nil {
		l.Listener.Close()
	}
}

// isListening asks the kernel whether f is a listening socket.
func isListening(f *os.File) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	}); err != nil {
		return false, err
	}
	if serr != nil {
		return false, fmt.Errorf("not a socket? getsockopt SO_ACCEPTCONN: %w", serr)
	}
	return v != 0, nil
}

// tcpListener turns a listening socket into a net.Listener (on a duplicate
// descriptor); it must be TCP, as passive data connections are matched to
// the control connection's peer address.
func tcpListener(f *os.File) (net.Listener, error) {
	l, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	if _, ok := l.(*net.TCPListener); !ok {
		l.Close()
		return nil, fmt.Errorf("listening socket %s is not TCP; tunnelftpd serves TCP only", l.Addr())
	}
	return l, nil
}

// tcpConn turns a connected socket into a net.Conn (on a duplicate descriptor).
func tcpConn(f *os.File) (net.Conn, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*net.TCPConn); !ok {
		c.Close()
		return nil, fmt.Errorf("connected socket %s is not TCP; tunnelftpd serves TCP only", c.LocalAddr())
	}
	return c, nil
}

// mergeListeners serves several inherited listening sockets (for example
// ListenStream=127.0.0.1:21 and ListenStream=[::1]:21) as one listener.
func mergeListeners(ls []net.Listener) net.Listener {
	if len(ls) == 1 {
		return ls[0]
	}
	m := &multiListener{ls: ls, results: make(chan acceptResult), done: make(chan struct{})}
	for _, l := range ls {
		go m.acceptLoop(l)
	}
	return m
}

type acceptResult struct {
	c   net.Conn
	err error
}

// multiListener is several listeners as one: Accept returns the next
// connection (or error) from any of them; Close closes all.
type multiListener struct {
	ls      []net.Listener
	results chan acceptResult
	done    chan struct{}
	once    sync.Once
}

func (m *multiListener) acceptLoop(l net.Listener) {
	for {
		c, err := l.Accept()
		select {
		case m.results <- acceptResult{c, err}:
		case <-m.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case r := <-m.results:
		return r.c, r.err
	case <-m.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: m.Addr(), Err: net.ErrClosed}
	}
}

func (m *multiListener) Close() error {
	m.once.Do(func() {
		close(m.done)
		for _, l := range m.ls {
			l.Close()
		}
	})
	return nil
}

func (m *multiListener) Addr() net.Addr { return m.ls[0].Addr() }
