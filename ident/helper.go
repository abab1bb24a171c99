package ident

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
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

// Serve answers queries on l (a "unixpacket" listener) until l is closed,
// then returns nil. logf (may be nil) hears refused queries; it never sees
// more than the asker's credentials and the reason.
func Serve(l *net.UnixListener, logf func(format string, args ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sem := make(chan struct{}, maxLookups)
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
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			defer c.Close()
			if err := answer(c); err != nil {
				logf("ident helper: query from %s refused: %v", peerCred(c), err)
			}
		}()
	}
}

// answer reads one query from c and writes the answer. The error (for the
// helper's log) is also what the asker is told.
func answer(c *net.UnixConn) error {
	c.SetDeadline(time.Now().Add(helperTimeout)) //nolint:errcheck // a dead connection fails the read
	q, err := readQuery(c)
	var w wirePeer
	if err == nil {
		w, err = q.run()
	}
	switch {
	case errors.Is(err, ErrNotFound):
		w = wirePeer{NotFound: true}
	case err != nil:
		w = wirePeer{Error: err.Error()}
	}
	b, _ := json.Marshal(w)
	if _, werr := c.Write(b); werr != nil && err == nil {
		err = werr
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
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
	if err != nil {
		return q, fmt.Errorf("reading the query: %w", err)
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
// gives an error wrapping os.ErrNotExist or syscall.ECONNREFUSED.
func Ask(path string, c net.Conn) (*Peer, error) {
	w, err := ask(path, c, []byte{query})
	if err != nil {
		return nil, err
	}
	return &Peer{UID: w.UID, User: w.User, Inode: w.Inode, PID: w.PID, Comm: w.Comm, SSH: w.SSH, Client: w.Client}, nil
}

// AskHeld asks the helper listening at path whether process pid holds the socket at the other
// end of c (HeldBy, for a process this one cannot read). Errors are as Ask's, and
// ErrUnknownQuery from a helper older than this query.
func AskHeld(path string, c net.Conn, pid int) (bool, error) {
	if pid <= 0 || uint64(pid) > math.MaxUint32 {
		return false, fmt.Errorf("ident: bad process id %d", pid)
	}
	body := binary.LittleEndian.AppendUint32([]byte{queryHeld}, uint32(pid))
	w, err := ask(path, c, body)
	if err != nil {
		return false, err
	}
	return w.Held, nil
}

// ask sends body with c's socket to the helper at path and reads its answer.
func ask(path string, c net.Conn, body []byte) (wirePeer, error) {
	var w wirePeer
	sc, ok := c.(syscall.Conn)
	if !ok {
		return w, fmt.Errorf("ident: %T has no socket to pass", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return w, fmt.Errorf("ident: %w", err)
	}
	h, err := net.DialTimeout("unixpacket", path, helperTimeout)
	if err != nil {
		return w, fmt.Errorf("ident helper %s: %w", path, err)
	}
	defer h.Close()
	hc := h.(*net.UnixConn)
	hc.SetDeadline(time.Now().Add(helperTimeout)) //nolint:errcheck // the read fails then
	var sendErr error
	if err := raw.Control(func(fd uintptr) {
		_, _, sendErr = hc.WriteMsgUnix(body, unix.UnixRights(int(fd)), nil)
	}); err != nil {
		return w, fmt.Errorf("ident helper: %w", err)
	}
	if sendErr != nil {
		return w, fmt.Errorf("ident helper: sending the query: %w", sendErr)
	}
	buf := make([]byte, 4096)
	n, err := hc.Read(buf)
	if err != nil {
		return w, fmt.Errorf("ident helper: reading the answer: %w", err)
	}
	if err := json.Unmarshal(buf[:n], &w); err != nil {
		return w, fmt.Errorf("ident helper: bad answer: %w", err)
	}
	switch {
	case w.NotFound:
		return w, ErrNotFound
	case w.Error == ErrUnknownQuery.Error():
		return w, fmt.Errorf("ident helper: %w", ErrUnknownQuery)
	case w.Error != "":
		return w, fmt.Errorf("ident helper: %s", w.Error)
	}
	return w, nil
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
