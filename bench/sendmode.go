package bench

import (
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// SendModes are the ways the raw helper can send a file, to find what makes
// a Go sender slower than a C one through the tunnel (the retrgap phase):
//
//	""        Go's own: (*net.TCPConn).ReadFrom, a non-blocking sendfile
//	          resumed by the netpoller whenever the socket has room; Go sets
//	          TCP_NODELAY on every connection (what tunnelftpd does)
//	nagle     the same with TCP_NODELAY off (the C servers' default)
//	block     one blocking sendfile of the whole file, as vsftpd and ProFTPD
//	          do (strace: one sendfile call per RETR), with TCP_NODELAY on
//	blocknagle blocking, and TCP_NODELAY off
//	sndbuf    Go's own with a fixed 4 MiB send buffer (no autotuning)
//	copy      read and write through a 64 KiB buffer, no sendfile
//	pure      as Pure-FTPd 1.0.5x sends (src/ftpd.c dl_dowrite): reads of
//	          128 KiB (DL_DLMAP_SIZE), each written whole, TCP_NODELAY off
//	          on the data socket (it sets it on the control connection only)
//	cpoll     the same loop with no Go runtime in it: read(2) of 128 KiB,
//	          non-blocking write(2), poll(2) for POLLOUT on EAGAIN, all on
//	          one OS thread, as safe_nonblock_write does; Nagle on
//	cpolltos  cpoll with Pure-FTPd's data-socket options too: IP_TOS
//	          IPTOS_THROUGHPUT and SO_KEEPALIVE
//	tos       Go's own with IP_TOS IPTOS_THROUGHPUT and SO_KEEPALIVE
//	blockwrite blocking write(2) of 128 KiB reads, Nagle on
//	warm      Go's sendfile, 128 KiB at a time, each chunk read once with
//	          pread(2) into a scratch buffer just before it is sent, so the
//	          file's pages are in the CPU cache when the receiver copies them
//	warm1m    warm with 1 MiB chunks
//	copy128   read and write through a 128 KiB buffer, TCP_NODELAY on: what
//	          tunnelftpd's RETR does by default (driver.File.WriteTo)
//	copy1m    the same through a 1 MiB buffer
//	mmap      no read(2): the file mapped 4 MiB at a time (MAP_POPULATE), each
//	          window written 128 KiB at a time, TCP_NODELAY off; the kernel
//	          copies the file's pages into the socket once (the sender's only
//	          copy), and the receiver finds them in the CPU cache
var SendModes = []string{"", "nagle", "block", "blocknagle", "sndbuf", "copy", "pure", "cpoll", "cpolltos", "tos", "blockwrite", "warm", "warm1m", "copy128", "copy1m", "mmap"}

// pureSocketOptions sets what Pure-FTPd sets on a data socket (doretr's
// opener): IP_TOS IPTOS_THROUGHPUT and SO_KEEPALIVE.
func pureSocketOptions(c *net.TCPConn) {
	c.SetKeepAlive(true)
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TOS, 0x08) // IPTOS_THROUGHPUT
		})
	}
}

// sendMode sends f on c in the given mode (see SendModes).
func sendMode(c *net.TCPConn, f *os.File, mode string) {
	switch mode {
	case "nagle":
		c.SetNoDelay(false)
	case "sndbuf":
		c.SetWriteBuffer(4 << 20)
	case "tos":
		pureSocketOptions(c)
	case "warm", "warm1m":
		size := int64(128 << 10)
		if mode == "warm1m" {
			size = 1 << 20
		}
		warmSendfile(c, f, size)
		return
	case "cpoll", "cpolltos", "blockwrite":
		c.SetNoDelay(false)
		if mode == "cpolltos" {
			pureSocketOptions(c)
		}
		cWrite(c, f, mode == "blockwrite")
		return
	case "copy", "pure", "copy128", "copy1m":
		size := 64 << 10
		switch mode {
		case "pure":
			c.SetNoDelay(false)
			size = 128 << 10
		case "copy128":
			size = 128 << 10
		case "copy1m":
			size = 1 << 20
		}
		// Only Write: io.CopyBuffer cannot find ReadFrom or WriteTo.
		io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{f}, make([]byte, size))
		return
	case "mmap":
		c.SetNoDelay(false)
		mmapWrite(c, f)
		return
	case "block", "blocknagle":
		if mode == "blocknagle" {
			c.SetNoDelay(false)
		}
		blockingSendfile(c, f)
		return
	}
	c.ReadFrom(f)
}

// blockingSendfile clears O_NONBLOCK for the length of the transfer and
// sends the whole file with sendfile calls that sleep in the kernel until
// they are done, as a C server does; a 60 s SO_SNDTIMEO bounds each call.
func blockingSendfile(c *net.TCPConn, f *os.File) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		s := int(fd)
		unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 60})
		unix.SetNonblock(s, false)
		defer unix.SetNonblock(s, true)
		left := fi.Size()
		for left > 0 {
			n, err := unix.Sendfile(s, int(f.Fd()), nil, int(min(left, 1<<30)))
			if n > 0 {
				left -= int64(n)
			}
			if err != nil && err != unix.EINTR || n == 0 && err == nil {
				return
			}
		}
	})
}

// cWrite sends f as a C server's read/write loop does, with no Go runtime
// between the calls: 128 KiB read(2)s, each written whole by write(2) on the
// socket, blocking (block) or non-blocking with poll(2) for POLLOUT on
// EAGAIN (Pure-FTPd's safe_nonblock_write). A 60 s SO_SNDTIMEO or poll
// timeout bounds each wait.
func cWrite(c *net.TCPConn, f *os.File, block bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 128<<10)
	raw.Control(func(fd uintptr) {
		s := int(fd)
		if block {
			unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 60})
			unix.SetNonblock(s, false)
			defer unix.SetNonblock(s, true)
		}
		for {
			n, err := unix.Read(int(f.Fd()), buf)
			if n <= 0 || err != nil {
				return
			}
			for p := buf[:n]; len(p) > 0; {
				w, err := unix.Write(s, p)
				if w > 0 {
					p = p[w:]
					continue
				}
				switch err {
				case unix.EINTR:
				case unix.EAGAIN:
					pfd := []unix.PollFd{{Fd: int32(s), Events: unix.POLLOUT}}
					k, err := unix.Poll(pfd, 60000)
					for err == unix.EINTR { // the Go runtime's preemption signal
						k, err = unix.Poll(pfd, 60000)
					}
					if k <= 0 || pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
						return
					}
				default:
					return
				}
			}
		}
	})
}

// warmSendfile sends f with Go's sendfile in chunks of size, reading each
// chunk once into a scratch buffer first (pread, the offset stays).
func warmSendfile(c *net.TCPConn, f *os.File, size int64) {
	buf := make([]byte, size)
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return
	}
	for {
		n, _ := f.ReadAt(buf, off)
		if n <= 0 {
			return
		}
		m, err := c.ReadFrom(io.LimitReader(f, int64(n)))
		off += m
		if err != nil || m < int64(n) {
			return
		}
	}
}

// mmapWrite sends f from its current offset to its end through mappings of 4 MiB, written 128
// KiB at a time. Only the kernel touches the mapped bytes (write copies them into the socket),
// so a file cut short meanwhile makes write fail (EFAULT) instead of raising SIGBUS here.
func mmapWrite(c *net.TCPConn, f *os.File) {
	const window, chunk = 4 << 20, 128 << 10
	st, err := f.Stat()
	if err != nil {
		return
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return
	}
	for off < st.Size() {
		n := min(int64(window), st.Size()-off)
		m, err := unix.Mmap(int(f.Fd()), off, int(n), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return
		}
		for p := m; len(p) > 0; {
			k := min(len(p), chunk)
			if _, err := c.Write(p[:k]); err != nil {
				unix.Munmap(m)
				return
			}
			p = p[k:]
		}
		unix.Munmap(m)
		off += n
	}
}
