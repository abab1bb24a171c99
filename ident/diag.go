package ident

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The kernel's sock_diag netlink interface answers "who owns the socket with
// this 4-tuple" directly, where /proc/net/tcp lists every socket as text: it
// is what keeps a data connection's owner check cheap with thousands of
// connections open.

const (
	nlmsgHdrLen     = 16
	diagReqLen      = 56 // struct inet_diag_req_v2
	diagMsgLen      = 72 // struct inet_diag_msg
	diagMsgUIDOff   = 64
	diagMsgInodeOff = 68
)

// errNoDiag means sock_diag is not usable here (fall back to /proc).
var errNoDiag = errors.New("sock_diag unavailable")

// diagOwner asks sock_diag for the owner uid and inode of the TCP socket
// whose local address is local and remote address is remote.
func diagOwner(local, remote *net.TCPAddr) (uid int, inode uint64, err error) {
	l4, r4 := local.IP.To4(), remote.IP.To4()
	if l4 != nil && r4 != nil {
		uid, inode, err = diagQuery(unix.AF_INET, l4, local.Port, r4, remote.Port)
		if !errors.Is(err, ErrNotFound) {
			return uid, inode, err
		}
		// A dual-stack socket holds them as v4-mapped IPv6 addresses.
	}
	return diagQuery(unix.AF_INET6, local.IP.To16(), local.Port, remote.IP.To16(), remote.Port)
}

// diagConn is this process's sock_diag socket, opened on first use and kept:
// opening and closing a netlink socket per data connection cost more than
// the query itself. Queries take turns on it.
var diagConn = struct {
	sync.Mutex
	fd  int // -1: not open
	seq uint32
	buf [4096]byte
}{fd: -1}

func diagQuery(family int, src net.IP, sport int, dst net.IP, dport int) (int, uint64, error) {
	diagConn.Lock()
	defer diagConn.Unlock()
	if diagConn.fd < 0 {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %v", errNoDiag, err)
		}
		tv := unix.Timeval{Sec: 1}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) //nolint:errcheck // best effort
		// Connected to the kernel: messages from any other sender are
		// dropped before they reach us.
		if err := unix.Connect(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(fd)
			return 0, 0, fmt.Errorf("%w: %v", errNoDiag, err)
		}
		diagConn.fd = fd
	}
	fail := func(err error) (int, uint64, error) {
		// Start afresh next time: a late reply must not answer a later query.
		unix.Close(diagConn.fd)
		diagConn.fd = -1
		return 0, 0, fmt.Errorf("%w: %v", errNoDiag, err)
	}
	diagConn.seq++
	seq := diagConn.seq

	req := diagRequest(family, src, sport, dst, dport, seq)
	ne := binary.NativeEndian
	if err := retryEINTR(func() error { return unix.Send(diagConn.fd, req, 0) }); err != nil {
		return fail(err)
	}
	var buf []byte
	for {
		var n int
		err := retryEINTR(func() (err error) {
			n, _, err = unix.Recvfrom(diagConn.fd, diagConn.buf[:], 0)
			return err
		})
		if err != nil {
			return fail(err)
		}
		buf = diagConn.buf[:n]
		if len(buf) < nlmsgHdrLen {
			return fail(errors.New("short reply"))
		}
		if ne.Uint32(buf[8:]) == seq {
			break
		}
		// A reply to an earlier query: skip it.
	}
	switch typ := ne.Uint16(buf[4:]); typ {
	case unix.NLMSG_ERROR:
		if len(buf) >= nlmsgHdrLen+4 {
			if errno := -int32(ne.Uint32(buf[nlmsgHdrLen:])); errno == int32(syscall.ENOENT) {
				return 0, 0, ErrNotFound
			} else if errno != 0 {
				return 0, 0, fmt.Errorf("%w: %v", errNoDiag, syscall.Errno(errno))
			}
		}
		return 0, 0, ErrNotFound
	case unix.SOCK_DIAG_BY_FAMILY:
		msg := buf[nlmsgHdrLen:]
		if len(msg) < diagMsgLen {
			return 0, 0, fmt.Errorf("%w: short message", errNoDiag)
		}
		return int(ne.Uint32(msg[diagMsgUIDOff:])), uint64(ne.Uint32(msg[diagMsgInodeOff:])), nil
	default:
		return 0, 0, fmt.Errorf("%w: unexpected message type %d", errNoDiag, typ)
	}
}

// diagRequest builds the sock_diag query for the TCP socket from src:sport to
// dst:dport, numbered seq.
func diagRequest(family int, src net.IP, sport int, dst net.IP, dport int, seq uint32) []byte {
	req := make([]byte, nlmsgHdrLen+diagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], seq)
	r := req[nlmsgHdrLen:]
	r[0] = byte(family)
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 0xffffffff) // every state
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], uint16(sport))
	binary.BigEndian.PutUint16(id[2:], uint16(dport))
	copy(id[4:20], src)
	copy(id[20:36], dst)
	ne.PutUint32(id[40:], 0xffffffff) // INET_DIAG_NOCOOKIE
	ne.PutUint32(id[44:], 0xffffffff)
	return req
}

// retryEINTR runs f again while a signal interrupts it.
func retryEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}
