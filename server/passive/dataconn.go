package passive

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// dataConn is a data connection that buffers small writes. The library
// writes a listing (LIST, NLST, MLSD) one entry per Write; without a buffer
// that is one system call per entry. It embeds the concrete *net.TCPConn,
// so SyscallConn is promoted and file transfers keep splice (STOR) and
// sendfile (RETR when retr_sendfile chooses it), which bypass the buffer (it is empty
// then); RETR's own 128 KiB writes skip it too (Write). The library
// calls Flush before it closes the connection (its Flusher interface).
type dataConn struct {
	*net.TCPConn
	w *bufio.Writer // created at the first small Write
}

// dataBufSize is the listing buffer of a data connection.
const dataBufSize = 32 << 10

// Write buffers b.
func (d *dataConn) Write(b []byte) (int, error) {
	if d.w == nil {
		if len(b) >= dataBufSize {
			return d.TCPConn.Write(b)
		}
		d.w = bufio.NewWriterSize(d.TCPConn, dataBufSize)
	}
	return d.w.Write(b)
}

// Flush sends what Write buffered.
func (d *dataConn) Flush() error {
	if d.w == nil {
		return nil
	}
	return d.w.Flush()
}

// ReadFrom sends what is buffered, then copies r with the kernel's help
// where it can (the promoted method would skip the buffer).
func (d *dataConn) ReadFrom(r io.Reader) (int64, error) {
	if err := d.Flush(); err != nil {
		return 0, err
	}
	return d.TCPConn.ReadFrom(r)
}

// watchStall closes the data connection when neither direction has moved a
// byte for timeout. The kernel's TCP_INFO counters see progress even while
// sendfile or splice run, so the connection itself stays unwrapped (zero-copy).
// It runs on a timer, not a goroutine of its own: most data connections
// close before the first check, and starting a goroutine (and waking a thread
// for it) per connection was a measurable share of a small file's time.
func watchStall(c *net.TCPConn, timeout time.Duration, log *slog.Logger) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	progress := func() (uint64, error) {
		var info *unix.TCPInfo
		var ierr error
		if err := raw.Control(func(fd uintptr) {
			info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		}); err != nil {
			return 0, err
		}
		if ierr != nil {
			return 0, ierr
		}
		return info.Bytes_acked + info.Bytes_received, nil
	}
	tick := min(max(timeout/4, 10*time.Millisecond), 5*time.Second)
	var last uint64 // counted from the connection's start
	lastMove := time.Now()
	var t *time.Timer
	check := func() {
		cur, err := progress()
		if err != nil {
			return // closed: the transfer is over
		}
		if cur != last {
			last, lastMove = cur, time.Now()
		} else if time.Since(lastMove) >= timeout {
			log.Warn("data connection stalled, closing it", "peer", c.RemoteAddr().String(), "idle", timeout.String())
			// A deadline in the past wakes the blocked sendfile/splice with a timeout error.
			_ = c.SetDeadline(time.Unix(1, 0))
			return
		}
		t.Reset(tick)
	}
	// Armed far away first, so that t is set before check can run.
	t = time.AfterFunc(time.Duration(1<<62), check)
	t.Reset(tick)
}
