package ident

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0100007F:0850", "127.0.0.1:2128"},
		{"0200007F:1F90", "127.0.0.2:8080"},
		{"0000000000000000FFFF00000100007F:0016", "127.0.0.1:22"},
		{"00000000000000000000000001000000:0016", "[::1]:22"},
	} {
		a, err := parseAddr(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := net.ResolveTCPAddr("tcp", tc.want)
		if !sameAddr(a, want) {
			t.Errorf("parseAddr(%s) = %v, want %v", tc.in, a, tc.want)
		}
	}
}

// accepted returns both ends of a fresh loopback connection.
func accepted(t *testing.T, network, addr string) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	defer l.Close()
	client, err = net.Dial(network, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestLookupOwnConnection(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"tcp", "[::]:0"}, // dual stack, v4 peer shows as v4-mapped
	} {
		t.Run(tc.addr, func(t *testing.T) {
			srv, _ := accepted(t, tc.network, tc.addr)
			p, err := Lookup(srv.LocalAddr(), srv.RemoteAddr())
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if p.UID != os.Getuid() || p.Inode == 0 {
				t.Errorf("uid %d inode %d, want uid %d", p.UID, p.Inode, os.Getuid())
			}
			if p.PID != os.Getpid() {
				t.Errorf("pid %d, want ours %d", p.PID, os.Getpid())
			}
			if p.SSH {
				t.Error("a test process taken for sshd")
			}
		})
	}
}

func TestLookupUnknownPeer(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
	if _, err := Lookup(local, remote); err != ErrNotFound {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

// TestClosedPeerHasNoOwner: a peer that closed its end, before or after
// the connection was accepted, has no owner. The kernel keeps such a
// socket without an inode and reports it as uid 0: taken at its word, a
// dead socket would pass for root's (passive.same_owner, the session
// limits). Both Owner and Lookup, through sock_diag and through /proc,
// say ErrGone.
func TestClosedPeerHasNoOwner(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, when := range []string{"after accept", "before accept"} {
		t.Run(when, func(t *testing.T) {
			c, err := net.Dial("tcp4", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if when == "before accept" {
				c.Close()
			}
			srv, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if when == "after accept" {
				c.Close()
			}
			// The close has reached us once our end reads EOF.
			srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := srv.Read(make([]byte, 1)); err == nil {
				t.Fatal("read data from a closed peer")
			}
			local, remote := srv.LocalAddr().(*net.TCPAddr), srv.RemoteAddr().(*net.TCPAddr)
			// The kernel's view, unfiltered: still there, inode 0.
			if ent, err := findSocket(remote, local); err != nil || ent.inode != 0 {
				t.Fatalf("/proc/net/tcp entry of the closed peer: %+v %v (want inode 0)", ent, err)
			}
			if uid, inode, err := Owner(local, remote); !errors.Is(err, ErrGone) {
				t.Errorf("Owner of a closed peer: uid %d inode %d err %v, want ErrGone", uid, inode, err)
			}
			if p, err := Lookup(local, remote); !errors.Is(err, ErrGone) {
				t.Errorf("Lookup of a closed peer: %+v %v, want ErrGone", p, err)
			}
			ent, err := findSocket(remote, local)
			if _, _, err2 := ownerFromEntry(ent, err); !errors.Is(err2, ErrGone) {
				t.Errorf("the /proc fallback: %v, want ErrGone", err2)
			}
		})
	}
}

// TestLookupOtherUser: a connection made by a process of another user is
// attributed to that user and process.
func TestLookupOtherUser(t *testing.T) {
	testutil.Privileged(t, "starts a process as nobody")
	py := "/usr/bin/python3" // Debian's, runnable by nobody (a pyenv shim may not be)
	testutil.RequireTool(t, py)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	cmd := exec.Command(py, "-c", "import socket,time; s=socket.create_connection(('127.0.0.1',"+strconv.Itoa(port)+")); time.sleep(30)")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := Lookup(c.LocalAddr(), c.RemoteAddr())
	if err != nil {
		t.Fatal(err)
	}
	if p.UID != 65534 || p.PID != cmd.Process.Pid || !strings.HasPrefix(p.Comm, "python") {
		t.Errorf("got %+v, want uid 65534 pid %d", p, cmd.Process.Pid)
	}
}

// TestOwnerMatchesProcTable: sock_diag and the /proc/net/tcp fallback give
// the same owner and inode.
func TestOwnerMatchesProcTable(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "[::]:0"} {
		network := "tcp"
		srv, _ := accepted(t, network, addr)
		l, r := srv.LocalAddr().(*net.TCPAddr), srv.RemoteAddr().(*net.TCPAddr)
		uid, inode, err := diagOwner(r, l)
		if err != nil {
			t.Fatalf("%s: sock_diag: %v", addr, err)
		}
		ent, err := findSocket(r, l)
		if err != nil {
			t.Fatalf("%s: /proc: %v", addr, err)
		}
		if uid != ent.uid || inode != ent.inode || inode == 0 {
			t.Errorf("%s: sock_diag says uid %d inode %d, /proc says %d %d", addr, uid, inode, ent.uid, ent.inode)
		}
		if held, known := HeldBy(os.Getpid(), inode); !held || !known {
			t.Errorf("%s: HeldBy(self, %d) = false", addr, inode)
		}
	}
	if _, _, err := diagOwner(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}); err != ErrNotFound {
		t.Errorf("unknown 4-tuple: %v, want ErrNotFound", err)
	}
}

// TestFakeSSHDIsNotSSHD: a process that calls itself sshd, from a copy of a
// binary named sshd in a user's directory, is not taken for sshd.
func TestFakeSSHDIsNotSSHD(t *testing.T) {
	testutil.Privileged(t, "runs the copy as another user")
	dir := t.TempDir()
	os.Chmod(dir, 0o777) // a directory others can write, like a user's own
	fake := dir + "/sshd"
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Skip("no /bin/sleep")
	}
	if err := os.WriteFile(fake, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fake, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// Start returns after the fork; comm is the copy's name once it has
	// exec'd.
	var comm []byte
	if !testutil.Poll(5*time.Second, 10*time.Millisecond, func() bool {
		comm, _ = os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
		return strings.TrimSpace(string(comm)) == "sshd"
	}) {
		t.Fatalf("comm is %q, want sshd (the disguise)", comm)
	}
	if isSSHD(cmd.Process.Pid) {
		t.Error("a copy named sshd in a world-writable directory passed as sshd")
	}
	// The real sshd passing is shown by e2e TestTunnel (tunnel_only on).
}

// TestDiagSocketReusedConcurrently: the kept sock_diag socket answers many
// lookups from many goroutines, each with its own connection's inode (a reply
// must never answer another query), and a stale reply left on the socket is
// skipped.
func TestDiagSocketReusedConcurrently(t *testing.T) {
	type pair struct {
		l, r  *net.TCPAddr
		inode uint64
	}
	var pairs []pair
	for i := 0; i < 20; i++ {
		srv, _ := accepted(t, "tcp", "127.0.0.1:0")
		l, r := srv.LocalAddr().(*net.TCPAddr), srv.RemoteAddr().(*net.TCPAddr)
		ent, err := findSocket(r, l)
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, pair{l, r, ent.inode})
	}
	diagConn.Lock()
	fd := diagConn.fd
	diagConn.Unlock()
	if fd < 0 {
		if _, _, err := Owner(pairs[0].l, pairs[0].r); err != nil {
			t.Fatal(err)
		}
		diagConn.Lock()
		fd = diagConn.fd
		diagConn.Unlock()
	}
	if fd < 0 {
		t.Fatal("sock_diag socket not kept open")
	}
	// A query whose reply is never read, as after a timed-out receive: the
	// next lookup must skip that reply, not take it for its own.
	stale := pairs[1]
	req := diagRequest(syscall.AF_INET, stale.r.IP.To4(), stale.r.Port, stale.l.IP.To4(), stale.l.Port, 0xdead)
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	if _, inode, err := Owner(pairs[0].l, pairs[0].r); err != nil || inode != pairs[0].inode {
		t.Fatalf("lookup after a stale reply: inode %d %v, want %d", inode, err, pairs[0].inode)
	}
	errs := make(chan string, 8*len(pairs))
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := range pairs {
				p := pairs[(i+g)%len(pairs)]
				uid, inode, err := Owner(p.l, p.r)
				if err != nil || uid != os.Geteuid() || inode != p.inode {
					errs <- fmt.Sprintf("Owner(%v, %v) = %d %d %v, want %d %d", p.l, p.r, uid, inode, err, os.Geteuid(), p.inode)
				}
			}
		}(g)
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	diagConn.Lock()
	same := diagConn.fd == fd
	diagConn.Unlock()
	if !same {
		t.Error("sock_diag socket reopened between lookups")
	}
}

// TestLookupPrefersOldestHolder: when a peer socket is held by a process and
// by a younger child it forked (which has not closed its copy), Lookup
// names the older one: the session's data connections come from it, and
// taking the child made them all look foreign once it went on to other work.
func TestLookupPrefersOldestHolder(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc")
	}
	srv, client := accepted(t, "tcp4", "127.0.0.1:0")
	cf, err := client.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	// sh (older) forks a background sleep (younger), then becomes a sleep
	// itself: both hold the socket as fd 3.
	cmd := exec.Command("sh", "-c", "sleep 5 & exec sleep 5")
	cmd.ExtraFiles = []*os.File{cf}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run sh: %v", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	cf.Close()
	client.Close() // only the two processes hold it now
	parent := cmd.Process.Pid
	var child int
	testutil.Poll(5*time.Second, 10*time.Millisecond, func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(parent) + "/task/" + strconv.Itoa(parent) + "/children")
		if f := strings.Fields(string(b)); len(f) > 0 {
			child, _ = strconv.Atoi(f[0])
		}
		return child != 0
	})
	if child == 0 {
		t.Skip("cannot see the forked child (no /proc/PID/task/TID/children)")
	}
	defer syscall.Kill(child, syscall.SIGKILL)
	if child < parent {
		t.Skipf("PIDs wrapped around (child %d < parent %d)", child, parent)
	}
	p, err := Lookup(srv.LocalAddr(), srv.RemoteAddr())
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != parent {
		t.Errorf("Lookup named pid %d, want the older holder %d (the younger is %d)", p.PID, parent, child)
	}
}

// TestLastResortSkipsSelfForOtherOwners: our own process (two descriptors
// per session) is searched only for a peer socket made by our own uid.
func TestLastResortSkipsSelfForOtherOwners(t *testing.T) {
	others := []int{10, 20}
	if got := lastResort(others, 99, 0, 1000); len(got) != 2 || got[0] != 10 || got[1] != 20 {
		t.Errorf("socket of uid 0, we are 1000: search %v, want [10 20] without ourselves", got)
	}
	if got := lastResort(others, 99, 1000, 1000); len(got) != 3 || got[2] != 99 {
		t.Errorf("socket of our own uid: search %v, want ourselves last", got)
	}
}

// TestHoldsManyDescriptors: in a process holding thousands of descriptors, holds finds a socket
// with a low number (after reading every window down to it) as well as the newest one, says
// "not held" for an inode nobody has, and fdsIn's windows add up to the whole directory.
func TestHoldsManyDescriptors(t *testing.T) {
	inodeOf := func(c net.Conn) string {
		_, inode, err := Owner(c.RemoteAddr(), c.LocalAddr())
		if err != nil {
			t.Fatal(err)
		}
		return "socket:[" + strconv.FormatUint(inode, 10) + "]"
	}
	_, early := accepted(t, "tcp4", "127.0.0.1:0")
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for i := 0; i < 1500; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			t.Skipf("cannot open 3,000 descriptors: %v", err)
		}
		files = append(files, r, w)
	}
	_, late := accepted(t, "tcp4", "127.0.0.1:0")
	// Our ends: the accepted sockets' peers are the dialled ends, held here too.
	for name, c := range map[string]net.Conn{"early": early, "late": late} {
		if held, known := holds(os.Getpid(), inodeOf(c)); !held || !known {
			t.Errorf("%s socket: held %v known %v", name, held, known)
		}
	}
	if held, known := holds(os.Getpid(), "socket:[1]"); held || !known {
		t.Errorf("an inode nobody holds: held %v known %v", held, known)
	}
	// A socket whose only descriptor sits at a window's edge or in a middle
	// window (the windows run down from the top: 256, then 1,024, ...).
	top, err := aboveHighestFD(openDir(t), fdTableSize(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{smallTable - 1, smallTable, 1500, top - 257, top - 256, top + 5} {
		_, c := accepted(t, "tcp4", "127.0.0.1:0")
		want := inodeOf(c)
		f, err := c.(*net.TCPConn).File()
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Dup2(int(f.Fd()), at); err != nil {
			t.Fatal(err)
		}
		f.Close()
		c.Close() // the socket lives on at descriptor at only
		if held, known := holds(os.Getpid(), want); !held || !known {
			t.Errorf("socket at descriptor %d (top %d): held %v known %v", at, top, held, known)
		}
		unix.Close(at)
	}
	// A process that is not there holds nothing (known), unlike one whose
	// descriptors cannot be read.
	gone := exec.Command("true")
	if err := gone.Run(); err == nil {
		if held, known := HeldBy(gone.Process.Pid, 1); held || !known {
			t.Errorf("a process that has ended: held %v known %v", held, known)
		}
	}
	if top := fdTableSize(os.Getpid()); top < 3000 {
		t.Errorf("FDSize %d with over 3,000 descriptors open", top)
	}

	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]bool{}
	for _, n := range names {
		fd, _ := strconv.Atoi(n)
		want[fd] = true
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := map[int]bool{}
	for _, w := range [][2]int{{0, 1000}, {1000, 1024}, {1024, 2500}, {2500, 0}} {
		fds, _, err := fdsIn(int(d.Fd()), w[0], w[1], 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			if fd < w[0] || (w[1] > 0 && fd >= w[1]) || got[fd] {
				t.Errorf("window %v: descriptor %d outside it or listed twice", w, fd)
			}
			got[fd] = true
		}
	}
	// The listings differ only by the directories each opened.
	delete(want, int(dir.Fd()))
	delete(got, int(dir.Fd()))
	delete(want, int(d.Fd()))
	delete(got, int(d.Fd()))
	if len(got) != len(want) {
		t.Errorf("windows list %d descriptors, the directory %d", len(got), len(want))
	}
	for fd := range want {
		if !got[fd] {
			t.Errorf("descriptor %d missing from the windows", fd)
			break
		}
	}
}

// openDir opens /proc/self/fd for the length of the test.
func openDir(t *testing.T) int {
	t.Helper()
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return int(d.Fd())
}
