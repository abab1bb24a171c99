package ident

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The helper: Lookup needs to read other users' /proc/PID/fd (the sshd
// session processes), which takes CAP_DAC_READ_SEARCH (to list the
// directory) and CAP_SYS_PTRACE (to read its links): enough to read every
// file and every process's memory. Rather than give that to the daemon,
// which parses what clients send, a small helper holds it and answers one
// question: who is at the other end of this connection. The asker passes
// the connection itself (its socket, over a Unix socket with SCM_RIGHTS),
// so it can only ask about connections it holds, and the helper takes the
// addresses from the socket, not from anything the asker says.

// HelperSocket is where the shipped tunnelftpd-ident.socket listens
// (SOCK_SEQPACKET, in a root-owned directory, group tunnelftpd).
const HelperSocket = "/run/tunnelftpd-ident.sock"

// helperTimeout bounds one query, on both sides.
const helperTimeout = 2 * time.Second

// maxLookups is how many lookups the helper runs at once: each reads
// /proc, and the asker waits at most helperTimeout anyway.
const maxLookups = 8

// wirePeer is the helper's answer: a Peer, or an error.
type wirePeer struct {
	UID      int    `json:"uid"`
	User     string `json:"user,omitempty"`
	Inode    uint64 `json:"inode,omitempty"`
	PID      int    `json:"pid,omitempty"`
	Comm     string `json:"comm,omitempty"`
	SSH      bool   `json:"ssh,omitempty"`
	Client   string `json:"client,omitempty"`
	Held     bool   `json:"held,omitempty"` // queryHeld: the process holds the peer socket
	NotFound bool   `json:"not_found,omitempty"`
	Error    string `json:"error,omitempty"`
}

// The two queries, each sent with the socket it is about: "look up the peer of this socket"
// (query), and "does process PID hold the peer of this socket" (queryHeld, followed by the PID
// as 4 bytes little-endian), which reads that one process's descriptors instead of searching
// every process: the daemon asks it on every data connection (passive.same_owner).
const (
	query     = 'L'
	queryHeld = 'H'
)

// ErrUnknownQuery is a helper's answer to a query it does not know (a helper older than the
// daemon asking).
var ErrUnknownQuery = errors.New("unknown query")

// helperIdle is how long the helper keeps a connection open with no query after answering one:
// the daemon keeps a few open between queries (Client), and dials again after this.
var helperIdle = time.Minute

// maxOpen is how many connections the helper has open at once. A connection beyond it closes
// the one idle the longest between queries (its asker dials again when it next asks), or, when
// none is idle, waits up to helperTimeout for one to end and is closed if none does: a member of
// the socket's group cannot make the helper hold a goroutine and a descriptor per connection
// without bound.
var maxOpen = 512

// errReading is a query that could not be read (the connection is then given up).
var errReading = errors.New("reading the query")

// errNoQuery is a connection that ended (closed, or idle past helperIdle) before its next query.
var errNoQuery = errors.New("no query")

// openConns is the helper's open connections: when each became idle between queries (the zero
// time while it waits for its first query or runs one).
type openConns struct {
	mu    sync.Mutex
	idle  map[*net.UnixConn]time.Time
	ended chan struct{} // a token when a connection ends
}

// admit counts c in, making room as maxOpen says; false: no room, c must be closed.
func (o *openConns) admit(c *net.UnixConn) bool {
	deadline := time.Now().Add(helperTimeout)
	for {
		o.mu.Lock()
		if len(o.idle) < maxOpen {
			o.idle[c] = time.Time{}
			o.mu.Unlock()
			return true
		}
		var oldest *net.UnixConn
		var since time.Time
		for k, t := range o.idle {
			if !t.IsZero() && (oldest == nil || t.Before(since)) {
				oldest, since = k, t
			}
		}
		if oldest != nil {
			delete(o.idle, oldest)
			o.idle[c] = time.Time{}
			o.mu.Unlock()
			oldest.Close() // its goroutine's read ends: errNoQuery
			return true
		}
		o.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		t := time.NewTimer(left)
		select {
		case <-o.ended:
		case <-t.C:
		}
		t.Stop()
	}
}

// set marks c idle since now (idle true) or busy; a connection already evicted stays out.
func (o *openConns) set(c *net.UnixConn, idle bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.idle[c]; !ok {
		return
	}
	var t time.Time
	if idle {
		t = time.Now()
	}
	o.idle[c] = t
}

// remove counts c out.
func (o *openConns) remove(c *net.UnixConn) {
	o.mu.Lock()
	delete(o.idle, c)
	o.mu.Unlock()
	select {
	case o.ended <- struct{}{}:
	default:
	}
}

// closeAll closes every open connection (Serve returning).
func (o *openConns) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for c := range o.idle {
		c.Close()
	}
}

// Serve answers queries on l (a "unixpacket" listener) until l is closed,
// then closes the connections it still has open, waits for their
// goroutines and returns nil. A connection may carry one query after
// another (Client keeps its connections open). logf (may be nil) hears
// refused queries; it never sees more than the asker's credentials and the
// reason.
func Serve(l *net.UnixListener, logf func(format string, args ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sem := make(chan struct{}, maxLookups)
	open := &openConns{idle: map[*net.UnixConn]time.Time{}, ended: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	defer func() {
		open.closeAll()
		wg.Wait()
	}()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("ident helper: accept: %w", err)
		}
		if !open.admit(c) {
			logf("ident helper: %d connections open, none idle: connection from %s closed", maxOpen, peerCred(c))
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				open.remove(c)
				c.Close()
			}()
			for wait := helperTimeout; ; wait = helperIdle {
				inStep, err := answer(c, sem, wait, func() { open.set(c, false) })
				if err != nil && !errors.Is(err, errNoQuery) {
					logf("ident helper: query from %s refused: %v", peerCred(c), err)
				}
				if !inStep {
					return
				}
				open.set(c, true)
			}
		}()
	}
}

// answer reads one query from c, waiting wait for it, calls onRead once it has one, runs it
// (at most maxLookups at once, through sem) and writes the answer. The error (for the
// helper's log) is also what the asker is told; errNoQuery (nothing written) when c ended
// first, or sent nothing in time after an earlier query. inStep says c may carry another
// query: this one was read and answered whole.
func answer(c *net.UnixConn, sem chan struct{}, wait time.Duration, onRead func()) (inStep bool, err error) {
	c.SetReadDeadline(time.Now().Add(wait)) //nolint:errcheck // a dead connection fails the read
	q, err := readQuery(c)
	var ne net.Error
	if errors.Is(err, errNoQuery) || (wait == helperIdle && errors.As(err, &ne) && ne.Timeout()) {
		return false, errNoQuery
	}
	onRead()
	inStep = !errors.Is(err, errReading)
	c.SetDeadline(time.Now().Add(helperTimeout)) //nolint:errcheck // the write fails then
	var w wirePeer
	if err == nil {
		sem <- struct{}{}
		w, err = q.run()
		<-sem
	}
	switch {
	case errors.Is(err, ErrNotFound):
		w = wirePeer{NotFound: true}
	case err != nil:
		w = wirePeer{Error: err.Error()}
	}
	b, _ := json.Marshal(w)
	if _, werr := c.Write(b); werr != nil {
		inStep = false
		if err == nil {
			err = werr
		}
	}
	if errors.Is(err, ErrNotFound) {
		return inStep, nil
	}
	return inStep, err
}

// helperQuery is one query received: its kind, the PID of queryHeld, and the two ends of the
// socket passed with it (taken from the socket, never from the asker's words).
type helperQuery struct {
	kind          byte
	pid           int
	local, remote *net.TCPAddr
}

// run answers the query.
func (q helperQuery) run() (wirePeer, error) {
	if q.kind == queryHeld {
		_, inode, err := Owner(q.local, q.remote)
		if err != nil {
			return wirePeer{}, err
		}
		held, known := HeldBy(q.pid, inode)
		if !known {
			return wirePeer{}, fmt.Errorf("cannot read the descriptors of process %d", q.pid)
		}
		return wirePeer{Inode: inode, PID: q.pid, Held: held}, nil
	}
	p, err := Lookup(q.local, q.remote)
	if err != nil {
		return wirePeer{}, err
	}
	return wirePeer{UID: p.UID, User: p.User, Inode: p.Inode, PID: p.PID, Comm: p.Comm, SSH: p.SSH, Client: p.Client}, nil
}

// readQuery receives the query and its socket.
func readQuery(c *net.UnixConn) (helperQuery, error) {
	var q helperQuery
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if (n == 0 && oobn == 0 && err == nil) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) {
		return q, errNoQuery
	}
	if err != nil {
		return q, fmt.Errorf("%w: %w", errReading, err)
	}
	fds, ferr := receivedFDs(oob[:oobn])
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	switch {
	case ferr != nil:
		return q, ferr
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0:
		return q, errors.New("query too long")
	case n == 1 && buf[0] == query:
		q.kind = query
	case n == 5 && buf[0] == queryHeld:
		q.kind, q.pid = queryHeld, int(binary.LittleEndian.Uint32(buf[1:5]))
		if q.pid <= 0 {
			return q, fmt.Errorf("bad process id %d", q.pid)
		}
	default:
		return q, ErrUnknownQuery
	}
	if len(fds) != 1 {
		return q, fmt.Errorf("want one socket with the query, got %d", len(fds))
	}
	q.local, q.remote, err = tcpEnds(fds[0])
	if err != nil {
		return q, err
	}
	if !q.remote.IP.IsLoopback() {
		return q, fmt.Errorf("peer %s is not on loopback", q.remote)
	}
	return q, nil
}

// receivedFDs returns the descriptors passed in a control message.
func receivedFDs(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds, nil
}

// tcpEnds returns the local and remote addresses of a connected TCP
// socket, refusing any other kind of descriptor.
func tcpEnds(fd int) (local, remote *net.TCPAddr, err error) {
	typ, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	proto, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err1 != nil || err2 != nil || typ != unix.SOCK_STREAM || proto != unix.IPPROTO_TCP {
		return nil, nil, errors.New("the descriptor passed is not a TCP socket")
	}
	ls, err := unix.Getsockname(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("getsockname: %w", err)
	}
	rs, err := unix.Getpeername(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("the socket passed is not connected: %w", err)
	}
	local, remote = sockaddrTCP(ls), sockaddrTCP(rs)
	if local == nil || remote == nil {
		return nil, nil, errors.New("the socket passed is not IPv4 or IPv6")
	}
	return local, remote, nil
}

func sockaddrTCP(sa unix.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return nil
}

// peerCred names the asker for the helper's log.
func peerCred(c *net.UnixConn) string {
	raw, err := c.SyscallConn()
	if err != nil {
		return "?"
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) { //nolint:errcheck // cred stays nil
		cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cred == nil {
		return "?"
	}
	return fmt.Sprintf("pid %d uid %d", cred.Pid, cred.Uid)
}

// Ask asks the helper listening at path who is at the other end of c, a
// TCP connection this process holds; it passes c's socket, never closes
// it. ErrNotFound is returned as Lookup does; a helper that is not there
// gives an error wrapping os.ErrNotExist or syscall.ECONNREFUSED. It opens
// a connection to the helper for this one query (Client keeps them).
func Ask(path string, c net.Conn) (*Peer, error) {
	h := &Client{Path: path}
	defer h.Close()
	return h.Ask(c)
}

// AskHeld asks the helper listening at path whether process pid holds the socket at the other
// end of c (HeldBy, for a process this one cannot read). Errors are as Ask's, and
// ErrUnknownQuery from a helper older than this query.
func AskHeld(path string, c net.Conn, pid int) (bool, error) {
	h := &Client{Path: path}
	defer h.Close()
	return h.AskHeld(c, pid)
}

// Client asks the helper listening at Path, keeping up to clientMaxIdle connections to it open
// between queries: a query then costs one message each way, not a connect, an accept and two
// closes as well (the daemon asks on every data connection). A kept connection the helper has
// closed meanwhile (restarted, idle for helperIdle, or a helper that answers one query per
// connection) is found at the next query, which then dials. Set Path before first use; a Client
// is safe for concurrent use, one query per connection at a time.
type Client struct {
	Path string

	mu   sync.Mutex
	idle []keptConn // most recently used last
}

// keptConn is a connection to the helper between queries.
type keptConn struct {
	c     *net.UnixConn
	since time.Time
}

// clientMaxIdle is how many connections a Client keeps open between queries: one per query
// running at once, up to this many.
const clientMaxIdle = 4

// clientIdle is how long a Client keeps a connection unused: less than the helper's helperIdle,
// so a kept connection is rarely one the helper has just closed.
const clientIdle = 30 * time.Second

// Ask is the package's Ask, over the client's connections.
func (h *Client) Ask(c net.Conn) (*Peer, error) {
	w, err := h.ask(c, []byte{query})
	if err != nil {
		return nil, err
	}
	return &Peer{UID: w.UID, User: w.User, Inode: w.Inode, PID: w.PID, Comm: w.Comm, SSH: w.SSH, Client: w.Client}, nil
}

// AskHeld is the package's AskHeld, over the client's connections.
func (h *Client) AskHeld(c net.Conn, pid int) (bool, error) {
	if pid <= 0 || uint64(pid) > math.MaxUint32 {
		return false, fmt.Errorf("ident: bad process id %d", pid)
	}
	body := binary.LittleEndian.AppendUint32([]byte{queryHeld}, uint32(pid))
	w, err := h.ask(c, body)
	if err != nil {
		return false, err
	}
	return w.Held, nil
}

// Close closes the connections kept open; the Client dials again if asked after.
func (h *Client) Close() error {
	h.mu.Lock()
	idle := h.idle
	h.idle = nil
	h.mu.Unlock()
	for _, k := range idle {
		k.c.Close()
	}
	return nil
}

// take returns a kept connection (nil if none), closing those unused for clientIdle.
func (h *Client) take() *net.UnixConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.idle) > 0 {
		k := h.idle[len(h.idle)-1]
		h.idle = h.idle[:len(h.idle)-1]
		if time.Since(k.since) < clientIdle {
			return k.c
		}
		k.c.Close()
	}
	return nil
}

// put keeps hc for the next query, or closes it when clientMaxIdle are kept already.
func (h *Client) put(hc *net.UnixConn) {
	h.mu.Lock()
	if len(h.idle) < clientMaxIdle {
		h.idle = append(h.idle, keptConn{hc, time.Now()})
		hc = nil
	}
	h.mu.Unlock()
	if hc != nil {
		hc.Close()
	}
}

// ask sends body with c's socket to the helper and reads its answer, on a kept connection if
// there is one. A kept connection that fails other than by timing out was closed by the helper
// meanwhile: the query is asked again on the next one, or on a new connection (a query only
// reads, so asking twice is harmless). Only a connection whose answer was read whole is kept:
// one left with an answer on its way would answer the next query.
func (h *Client) ask(c net.Conn, body []byte) (wirePeer, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return wirePeer{}, fmt.Errorf("ident: %T has no socket to pass", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return wirePeer{}, fmt.Errorf("ident: %w", err)
	}
	if err := raw.Control(func(uintptr) {}); err != nil {
		// c is closed: no query to ask, and no kept connection to give up for it.
		return wirePeer{}, fmt.Errorf("ident: %w", err)
	}
	for {
		hc := h.take()
		kept := hc != nil
		if !kept {
			d, err := net.DialTimeout("unixpacket", h.Path, helperTimeout)
			if err != nil {
				return wirePeer{}, fmt.Errorf("ident helper %s: %w", h.Path, err)
			}
			hc = d.(*net.UnixConn)
		}
		w, answered, err := exchange(hc, raw, body)
		if answered {
			h.put(hc)
			return w, err
		}
		hc.Close()
		var ne net.Error
		if kept && !(errors.As(err, &ne) && ne.Timeout()) {
			continue
		}
		return w, err
	}
}

// exchange sends body with raw's socket on hc and reads the answer; answered says the answer
// was read whole (err is then the helper's answer: ErrNotFound, ErrUnknownQuery, a refusal).
func exchange(hc *net.UnixConn, raw syscall.RawConn, body []byte) (w wirePeer, answered bool, err error) {
	hc.SetDeadline(time.Now().Add(helperTimeout)) //nolint:errcheck // the read fails then
	var sendErr error
	if err := raw.Control(func(fd uintptr) {
		_, _, sendErr = hc.WriteMsgUnix(body, unix.UnixRights(int(fd)), nil)
	}); err != nil {
		return w, false, fmt.Errorf("ident helper: %w", err)
	}
	if sendErr != nil {
		return w, false, fmt.Errorf("ident helper: sending the query: %w", sendErr)
	}
	buf := make([]byte, 4096)
	n, err := hc.Read(buf)
	if err != nil {
		return w, false, fmt.Errorf("ident helper: reading the answer: %w", err)
	}
	if err := json.Unmarshal(buf[:n], &w); err != nil {
		return w, false, fmt.Errorf("ident helper: bad answer: %w", err)
	}
	switch {
	case w.NotFound:
		return w, true, ErrNotFound
	case w.Error == ErrUnknownQuery.Error():
		return w, true, fmt.Errorf("ident helper: %w", ErrUnknownQuery)
	case w.Error != "":
		return w, true, fmt.Errorf("ident helper: %s", w.Error)
	}
	return w, true, nil
}

// ListenHelper listens on path ("unixpacket"), replacing a stale socket
// file, with mode perm: for running the helper without systemd's socket.
func ListenHelper(path string, perm os.FileMode) (*net.UnixListener, error) {
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("ident helper: %w", err)
	}
	if err := os.Chmod(path, perm); err != nil {
		l.Close()
		return nil, fmt.Errorf("ident helper: %w", err)
	}
	return l, nil
}

// HelperListener returns the socket systemd passed (tunnelftpd-ident.socket:
// LISTEN_PID is this process, LISTEN_FDS=1, fd 3, a SOCK_SEQPACKET Unix
// socket), or else listens on path itself (mode 0660: give the socket's
// group to the daemon's account).
func HelperListener(path string) (*net.UnixListener, error) {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) || os.Getenv("LISTEN_FDS") == "" {
		return ListenHelper(path, 0o660)
	}
	if n := os.Getenv("LISTEN_FDS"); n != "1" {
		return nil, fmt.Errorf("ident helper: systemd passed %s sockets, want one (ListenSequentialPacket= in tunnelftpd-ident.socket)", n)
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	f := os.NewFile(3, "systemd socket")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("ident helper: the socket systemd passed: %w", err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok || ul.Addr().Network() != "unixpacket" {
		l.Close()
		return nil, fmt.Errorf("ident helper: systemd passed a %s socket, want a Unix SOCK_SEQPACKET one (ListenSequentialPacket=)", l.Addr().Network())
	}
	return ul, nil
}
