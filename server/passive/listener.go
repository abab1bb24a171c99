package passive

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// listener wraps the library's passive listener. It implements the release
// rules of the package comment; the library keeps setting its accept
// deadline on the inner listener, which our Accept loop honours.
type listener struct {
	inner   *net.TCPListener
	port    int
	release func(port int)
	allow   func(net.Conn) bool
	onConn  func(*net.TCPConn)
	log     *slog.Logger

	mu       sync.Mutex
	closed   bool
	ttl      *time.Timer
	hard     bool // the TTL runs on while Accept waits (a borrowed port)
	released bool
	conn     *net.TCPConn // the data connection it handed out
}

// cutConn makes the data connection it handed out fail now; false if none.
func (l *listener) cutConn() bool {
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	if c == nil {
		return false
	}
	c.SetDeadline(time.Unix(1, 0)) //nolint:errcheck // closed already: nothing to cut
	return true
}

// newListener wraps inner. The port is released after ttl unless Accept
// has started by then; with hard, after ttl unless a data connection came
// (a pending Accept then fails).
func newListener(inner *net.TCPListener, port int, ttl time.Duration, hard bool, release func(int),
	allow func(net.Conn) bool, onConn func(*net.TCPConn), log *slog.Logger) *listener {
	l := &listener{inner: inner, port: port, release: release, allow: allow, onConn: onConn, log: log, hard: hard}
	l.ttl = time.AfterFunc(ttl, func() {
		l.log.Debug("passive port not used in time, released", "port", port)
		l.Close()
	})
	return l
}

// Accept returns the first data connection from an allowed peer and closes
// the listening socket, so the port is free again during the transfer.
func (l *listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.inner.Addr(), Err: net.ErrClosed}
	}
	if !l.hard {
		l.ttl.Stop()
	}
	l.mu.Unlock()
	for {
		c, err := l.inner.AcceptTCP()
		if err != nil {
			l.Close()
			return nil, err
		}
		if !l.allow(c) {
			l.log.Warn("dropped data connection from a stray peer", "port", l.port, "peer", c.RemoteAddr().String())
			c.Close()
			continue
		}
		l.Close()
		l.mu.Lock()
		l.conn = c
		l.mu.Unlock()
		if l.onConn != nil {
			l.onConn(c)
		}
		return &dataConn{TCPConn: c}, nil
	}
}

// Close closes the listening socket and releases the port; it is idempotent.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.ttl.Stop()
	l.mu.Unlock()
	err := l.inner.Close()
	l.release(l.port)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("closing passive listener on port %d: %w", l.port, err)
	}
	return nil
}

// Addr is the inner listener's address.
func (l *listener) Addr() net.Addr { return l.inner.Addr() }

// pending reports whether the listener still waits for its data connection.
func (l *listener) pending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.closed
}

// bindToLoopback makes the kernel refuse connections to l that do not arrive
// on the loopback interface (Linux ≥ 5.7 allows it without privilege).
func bindToLoopback(l *net.TCPListener) error {
	raw, err := l.SyscallConn()
	if err != nil {
		return fmt.Errorf("getting raw listener: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo")
	}); err != nil {
		return fmt.Errorf("controlling listener: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("setsockopt SO_BINDTODEVICE lo: %w", serr)
	}
	return nil
}

// sameHost reports whether two addresses have the same IP.
func sameHost(a, b net.Addr) bool {
	ta, ok1 := a.(*net.TCPAddr)
	tb, ok2 := b.(*net.TCPAddr)
	return ok1 && ok2 && ta.IP.Equal(tb.IP)
}
