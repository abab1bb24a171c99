// Package ident finds who is at the other end of a loopback TCP connection:
// the owner uid of the peer socket (sock_diag or /proc/net/tcp*, no
// privilege needed) and, where /proc/PID/fd of other users can be read
// (root, or CAP_DAC_READ_SEARCH with CAP_SYS_PTRACE), the process holding it
// and, for an sshd session process, the SSH client's real address. Behind
// `ssh -L` every FTP connection comes from 127.0.0.1; this tells tunnel users
// apart. It also holds the identity helper's protocol (Serve, Ask), which
// lets an unprivileged daemon ask a process with that privilege about
// connections it holds. Linux only; it knows nothing about FTP.
package ident

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Peer is what is known about the owner of a peer socket.
type Peer struct {
	UID   int    // owner uid of the peer socket
	User  string // name of UID ("" if it has none)
	Inode uint64 // the peer socket's inode

	// Filled only where other processes' fds can be read.
	PID    int    // process holding the peer socket (0 = unknown)
	Comm   string // its command name (/proc/PID/comm)
	SSH    bool   // the process is an sshd session process
	Client string // for an sshd session: the SSH client's real "ip:port" ("" = unknown)
}

// ErrNotFound means no socket on this host (in this network namespace)
// matches: the peer is remote, in another namespace, or already gone.
var ErrNotFound = errors.New("peer socket not found")

// ErrGone means the peer socket exists only as what the kernel keeps of a
// closed connection (FIN_WAIT, TIME_WAIT): it has no inode, and the kernel
// reports its owner as uid 0. That is no owner at all, never root.
var ErrGone = errors.New("peer socket already closed: its owner is unknown")

// ProcRoot is where /proc is mounted.
var ProcRoot = "/proc"

// CanReadOthersFDs reports whether this process may list another user's
// open files (/proc/1/fd belongs to root): what finding the process behind
// a peer socket (Peer.PID, and so Peer.SSH and Peer.Client) needs. A peer
// whose PID is 0 while this holds has simply gone.
func CanReadOthersFDs() bool {
	_, err := os.ReadDir(filepath.Join(ProcRoot, "1", "fd"))
	return !errors.Is(err, os.ErrPermission) // other errors (EMFILE) say nothing about privilege
}

// Lookup finds the owner of the socket at the other end of a connection
// whose own end is local and whose peer is remote.
func Lookup(local, remote net.Addr) (*Peer, error) {
	l, ok1 := local.(*net.TCPAddr)
	r, ok2 := remote.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("ident: not TCP addresses: %v %v", local, remote)
	}
	uid, inode, err := owner(l, r)
	if err != nil {
		return nil, err
	}
	p := &Peer{UID: uid, Inode: inode}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		p.User = u.Username
	}
	pid, err := findProcess(inode, uid)
	if err != nil || pid == 0 {
		return p, nil
	}
	p.PID = pid
	comm, _ := os.ReadFile(filepath.Join(ProcRoot, strconv.Itoa(pid), "comm"))
	p.Comm = strings.TrimSpace(string(comm))
	p.SSH = isSSHD(pid)
	if p.SSH {
		p.Client = sshClient(pid)
	}
	return p, nil
}

// Owner returns the owner uid and the inode of the socket at the other end
// of a connection whose own end is local and whose peer is remote. It is
// cheaper than Lookup: no process is searched. A peer that has already
// closed gives ErrGone (Lookup too).
func Owner(local, remote net.Addr) (uid int, inode uint64, err error) {
	l, ok1 := local.(*net.TCPAddr)
	r, ok2 := remote.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("ident: not TCP addresses: %v %v", local, remote)
	}
	return owner(l, r)
}

// owner asks sock_diag, or reads /proc/net/tcp* where sock_diag is not
// available. The peer socket's local address is our remote one, and vice
// versa. A socket without an inode (closed) is ErrGone.
func owner(l, r *net.TCPAddr) (int, uint64, error) {
	uid, inode, err := diagOwner(r, l)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return ownerFromEntry(findSocket(r, l))
	}
	return checkOwner(uid, inode, err)
}

// ownerFromEntry is the owner of a /proc/net/tcp* entry (findSocket).
func ownerFromEntry(ent entry, err error) (int, uint64, error) {
	return checkOwner(ent.uid, ent.inode, err)
}

// checkOwner turns a socket without an inode into ErrGone.
func checkOwner(uid int, inode uint64, err error) (int, uint64, error) {
	switch {
	case err != nil:
		return 0, 0, err
	case inode == 0:
		return 0, 0, ErrGone
	}
	return uid, inode, nil
}

// HeldBy reports whether process pid holds the socket with inode. known is
// false when pid's open files cannot be listed (another user's process, or
// one that made itself undumpable, as sshd does, seen without privilege).
func HeldBy(pid int, inode uint64) (held, known bool) {
	held, known = holds(pid, "socket:["+strconv.FormatUint(inode, 10)+"]")
	if !known && unix.Kill(pid, 0) == unix.ESRCH {
		// A process that is not there holds nothing. (kill(2) with signal
		// 0 says ESRCH only then: EPERM for a process we may not signal,
		// whatever /proc's hidepid= hides.)
		return false, true
	}
	return held, known
}

// holds reports whether process pid has an open file whose link reads want
// ("socket:[INODE]"); known is false when its fds cannot be listed. It runs
// on every data connection when we are root (or in the helper), and on every
// process of the peer's owner when a control connection is identified.
//
// The descriptors are read from the top of the process's table down, in
// windows that grow fourfold (fdsIn): the socket asked about is the newest
// connection, which got the highest number unless one closed before, and
// listing the whole directory of a process holding 10,000 descriptors (an
// sshd forwarding thousands of sessions, or the bench's client) took 9.5 ms
// however few links were then read. One readlink per descriptor looked at,
// relative to the open directory.
func holds(pid int, want string) (held, known bool) {
	dir, err := os.Open(filepath.Join(ProcRoot, strconv.Itoa(pid), "fd"))
	if err != nil {
		return false, false
	}
	defer dir.Close()
	raw, err := dir.SyscallConn()
	if err != nil {
		return false, false
	}
	var buf [64]byte
	var ferr error
	if err := raw.Control(func(fd uintptr) {
		dfd := int(fd)
		// Most processes hold a few descriptors: one read lists them all.
		low, more, err := fdsIn(dfd, 0, smallTable, 0)
		if err != nil {
			ferr = err
			return
		}
		found := func(fds []int) bool {
			for _, n := range slices.Backward(fds) {
				k, err := unix.Readlinkat(dfd, strconv.Itoa(n), buf[:])
				if err == nil && string(buf[:k]) == want {
					return true
				}
			}
			return false
		}
		if more {
			size := fdTableSize(pid)
			if size <= 0 {
				size = 1 << 30 // unknown: bisect below any table the kernel allows
			}
			top, err := aboveHighestFD(dfd, size)
			if err != nil {
				ferr = err
				return
			}
			for hi, win := top, 256; hi > smallTable; win *= 4 {
				lo := max(hi-win, smallTable)
				fds, _, err := fdsIn(dfd, lo, hi, 0)
				if err != nil {
					ferr = err
					return
				}
				if found(fds) {
					held = true
					return
				}
				hi = lo
			}
		}
		held = found(low)
	}); err != nil || ferr != nil {
		return false, false
	}
	return held, true
}

// smallTable is how many descriptors holds reads in one go before it looks from the top down.
const smallTable = 512

// fdsIn lists, in increasing order, the descriptors lo <= fd < hi (hi 0: no
// bound) of the open /proc/PID/fd directory dfd, at most limit of them (0: no
// limit), and whether there are more at hi or above. In procfs the directory
// offset of descriptor fd is fd+2 (0 and 1 are "." and ".."), so it seeks
// there and reads on only as far as it must; lo 0 reads from the start,
// which is right for any directory.
func fdsIn(dfd, lo, hi, limit int) (fds []int, more bool, err error) {
	off := int64(0)
	if lo > 0 {
		off = int64(lo) + 2
	}
	if _, err := unix.Seek(dfd, off, io.SeekStart); err != nil {
		return nil, false, fmt.Errorf("seeking in the descriptor directory: %w", err)
	}
	// About 256 entries of 32 bytes; each one listed costs the kernel a
	// lookup, so do not read far past what is asked for.
	size := 8192
	if hi > 0 {
		size = min(size, (hi-lo)*32+64)
	}
	if limit > 0 {
		size = min(size, limit*32+64)
	}
	buf := make([]byte, size)
	for {
		n, err := unix.Getdents(dfd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading the descriptor directory: %w", err)
		}
		if n <= 0 {
			slices.Sort(fds) // procfs lists them in order already
			return fds, false, nil
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			fd, err := strconv.Atoi(name)
			if err != nil || fd < lo {
				continue
			}
			if hi > 0 && fd >= hi {
				slices.Sort(fds)
				return fds, true, nil
			}
			fds = append(fds, fd)
			if len(fds) == limit {
				slices.Sort(fds)
				return fds, true, nil
			}
		}
	}
}

// aboveHighestFD is one more than the highest descriptor open in the /proc/PID/fd directory
// dfd, found by bisection below the table's size: each probe lists one entry (fdsIn with a
// limit of 1; every entry listed costs the kernel a lookup, which is what makes reading the
// whole directory slow).
func aboveHighestFD(dfd, size int) (int, error) {
	lo, hi, above := 0, size, 0 // no descriptor at hi or above; one at above-1 if above > 0
	for lo < hi {
		mid := lo + (hi-lo)/2
		first, _, err := fdsIn(dfd, mid, 0, 1)
		switch {
		case err != nil:
			return 0, err
		case len(first) == 1:
			above, lo = first[0]+1, first[0]+1
		default:
			hi = mid
		}
	}
	return above, nil
}

// fdTableSize is the size of pid's descriptor table (FDSize in
// /proc/PID/status, above its highest open descriptor), or 0 if unknown.
func fdTableSize(pid int) int {
	b, err := os.ReadFile(filepath.Join(ProcRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), "\nFDSize:")
	if !ok {
		return 0
	}
	line, _, _ := strings.Cut(rest, "\n")
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// entry is one line of /proc/net/tcp or tcp6.
type entry struct {
	local, remote *net.TCPAddr
	state         int
	uid           int
	inode         uint64
}

// tcpStateListen and tcpStateEstablished are kernel TCP states.
const (
	tcpStateEstablished = 0x01
	tcpStateListen      = 0x0A
)

// readTable parses /proc/net/tcp and /proc/net/tcp6 (of our network
// namespace), calling fn for each entry until it returns false.
func readTable(fn func(entry) bool) error {
	found := false
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(ProcRoot, "net", name))
		if err != nil {
			continue
		}
		found = true
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			e, ok := parseLine(sc.Text())
			if ok && !fn(e) {
				f.Close()
				return nil
			}
		}
		f.Close()
	}
	if !found {
		return fmt.Errorf("ident: cannot read %s/net/tcp: not Linux, or /proc not mounted", ProcRoot)
	}
	return nil
}

// parseLine parses "sl local rem st tx:rx tr:when retr uid timeout inode ...".
func parseLine(line string) (entry, bool) {
	f := strings.Fields(line)
	if len(f) < 10 {
		return entry{}, false
	}
	local, err1 := parseAddr(f[1])
	remote, err2 := parseAddr(f[2])
	st, err3 := strconv.ParseUint(f[3], 16, 8)
	uid, err4 := strconv.Atoi(f[7])
	inode, err5 := strconv.ParseUint(f[9], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
		return entry{}, false
	}
	return entry{local: local, remote: remote, state: int(st), uid: uid, inode: inode}, true
}

// parseAddr parses the kernel's "HEXIP:HEXPORT"; the IP is in host byte
// order per 32-bit word (little-endian on the machines we run on).
func parseAddr(s string) (*net.TCPAddr, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, fmt.Errorf("bad address %q", s)
	}
	ip := make(net.IP, len(raw))
	for w := 0; w < len(raw); w += 4 {
		ip[w], ip[w+1], ip[w+2], ip[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port in %q", s)
	}
	return &net.TCPAddr{IP: ip, Port: int(port)}, nil
}

func sameAddr(a, b *net.TCPAddr) bool { return a.Port == b.Port && a.IP.Equal(b.IP) }

// findSocket finds the socket whose local address is local and remote is remote.
func findSocket(local, remote *net.TCPAddr) (entry, error) {
	var hit entry
	found := false
	err := readTable(func(e entry) bool {
		if e.state != tcpStateListen && sameAddr(e.local, local) && sameAddr(e.remote, remote) {
			hit, found = e, true
			return false
		}
		return true
	})
	if err != nil {
		return entry{}, err
	}
	if !found {
		return entry{}, ErrNotFound
	}
	return hit, nil
}

// findProcess returns the pid of a process holding socket inode, or 0 when
// none can be seen (other users' fds need privilege). Processes running as
// the socket's owner uid are searched first (the owner created the socket
// and rarely passes it on); our own process, whose many sockets are costly
// to list and which is rarely the peer, comes last, and only for a socket
// of our own uid (see lastResort).
func findProcess(inode uint64, uid int) (int, error) {
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	procs, err := os.ReadDir(ProcRoot)
	if err != nil {
		return 0, fmt.Errorf("ident: reading %s: %w", ProcRoot, err)
	}
	self := os.Getpid()
	var pids []int
	for _, d := range procs {
		if pid, err := strconv.Atoi(d.Name()); err == nil && pid != self {
			pids = append(pids, pid)
		}
	}
	// Oldest first (lowest PID, bar wraparound): a socket can be held by
	// several processes, such as a child forked a moment ago that has not
	// closed its copies yet. The data connections of the session will come
	// from the long-lived holder, not from that child.
	sort.Ints(pids)
	var others []int
	for _, pid := range pids {
		if st, err := os.Stat(filepath.Join(ProcRoot, strconv.Itoa(pid))); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != uid {
				others = append(others, pid)
				continue
			}
		}
		if held, _ := holds(pid, want); held {
			return pid, nil
		}
	}
	for _, pid := range lastResort(others, self, uid, os.Geteuid()) {
		if held, _ := holds(pid, want); held {
			return pid, nil
		}
	}
	return 0, nil
}

// lastResort is the search order after the socket owner's processes: the
// other users' processes, then our own process, but only when the socket
// was made by our own uid. The peer socket of one of our connections is
// never ours otherwise, and our process holds two descriptors per session:
// with 3,000 idle sessions, listing them was 96% of a login's CPU (74% in
// readlinkat) and a login took 11 ms; with 10,000, 104 ms.
func lastResort(others []int, self, sockUID, ourUID int) []int {
	if sockUID != ourUID {
		return others
	}
	return append(others, self)
}

// socketInodes lists the socket inodes a process holds.
func socketInodes(pid int) map[uint64]bool {
	dir := filepath.Join(ProcRoot, strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	inodes := map[uint64]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"), 10, 64); err == nil {
			inodes[n] = true
		}
	}
	return inodes
}

// isSSHD reports whether pid runs an sshd binary. Its name (comm) proves
// nothing, since any process can set it: the executable must be named sshd
// or sshd-session and be a root-owned file, not writable by group or others,
// in a root-owned directory no one else can write to (so a user's renamed
// copy, or a hard link in the user's own directory, does not pass).
func isSSHD(pid int) bool {
	exe, err := os.Readlink(filepath.Join(ProcRoot, strconv.Itoa(pid), "exe"))
	if err != nil {
		return false
	}
	if base := filepath.Base(exe); base != "sshd" && base != "sshd-session" {
		return false
	}
	return rootOwnedNotShared(exe) && rootOwnedNotShared(filepath.Dir(exe))
}

// rootOwnedNotShared reports whether path belongs to root and neither its
// group nor others may write it.
func rootOwnedNotShared(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && sys.Uid == 0 && st.Mode().Perm()&0o022 == 0
}

// sshClient finds the SSH client's address of an sshd session process: among
// its established TCP sockets, the one accepted on a listening port (the
// forwarded connections it opens to us are outbound, from ephemeral ports).
func sshClient(pid int) string {
	inodes := socketInodes(pid)
	if len(inodes) == 0 {
		return ""
	}
	listening := map[int]bool{}
	var mine []entry
	readTable(func(e entry) bool {
		switch {
		case e.state == tcpStateListen:
			listening[e.local.Port] = true
		case e.state == tcpStateEstablished && inodes[e.inode]:
			mine = append(mine, e)
		}
		return true
	})
	for _, e := range mine {
		if listening[e.local.Port] {
			ip := e.remote.IP
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			return net.JoinHostPort(ip.String(), strconv.Itoa(e.remote.Port))
		}
	}
	return ""
}
