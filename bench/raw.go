package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The machine's limits: the same bytes moved with no FTP at all, by the same
// system calls a zero-copy server uses. RawServer is the "server" end; the
// client end is the same code the FTP client uses for its data connections,
// so the ratio FTP/limit compares like with like.

// RawServer serves two loopback listeners. Send reads "GET <name>\n" and
// writes SrcDir/<name> to the connection with sendfile, then closes it. Recv
// splices each connection into a new file under Dir until EOF, then answers
// "OK <bytes> <path>".
type RawServer struct {
	SrcDir string
	Dir    string
	seq    atomic.Int64
}

// Serve accepts on both listeners until they are closed.
func (s *RawServer) Serve(send, recv net.Listener) error {
	errc := make(chan error, 2)
	go func() { errc <- s.loop(send, s.send) }()
	go func() { errc <- s.loop(recv, s.recv) }()
	return <-errc
}

func (s *RawServer) loop(l net.Listener, h func(*net.TCPConn)) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go h(c.(*net.TCPConn))
	}
}

func (s *RawServer) send(c *net.TCPConn) {
	defer c.Close()
	line, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
	req, ok := strings.CutPrefix(strings.TrimSpace(line), "GET ")
	name, mode, _ := strings.Cut(req, " ")
	if err != nil || !ok || name != filepath.Base(name) {
		return
	}
	f, err := os.Open(filepath.Join(s.SrcDir, name))
	if err != nil {
		return
	}
	defer f.Close()
	sendMode(c, f, mode) // sendfile, as mode says
}

func (s *RawServer) recv(c *net.TCPConn) {
	defer c.Close()
	path := filepath.Join(s.Dir, fmt.Sprintf("raw-recv-%d.bin", s.seq.Add(1)))
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(c, "ERR %v\n", err)
		return
	}
	n, err := f.ReadFrom(c) // splice
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		fmt.Fprintf(c, "ERR %v\n", err)
		return
	}
	fmt.Fprintf(c, "OK %d %s\n", n, path)
}

// RawDownload asks addr for name and receives it into w (splice when w is a file).
func RawDownload(addr, name string, w io.Writer, timeout time.Duration) (int64, error) {
	return RawDownloadMode(addr, name, "", w, timeout)
}

// RawDownloadMode is RawDownload with the server sending in one of the
// SendModes.
func RawDownloadMode(addr, name, mode string, w io.Writer, timeout time.Duration) (int64, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c, "GET %s\n", strings.TrimSpace(name+" "+mode)); err != nil {
		return 0, err
	}
	return io.Copy(w, c.(*net.TCPConn))
}

// RawUpload sends r to addr (sendfile when r is a file) and returns the
// path where the server stored it once the server confirms the byte count.
func RawUpload(addr string, r io.Reader, timeout time.Duration) (int64, string, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, "", err
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	n, err := c.ReadFrom(r)
	if err != nil {
		return n, "", err
	}
	if err := c.CloseWrite(); err != nil {
		return n, "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return n, "", fmt.Errorf("raw upload: no confirmation: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "OK" {
		return n, "", fmt.Errorf("raw upload: %s", strings.TrimSpace(line))
	}
	got, _ := strconv.ParseInt(f[1], 10, 64)
	if got != n {
		return n, f[2], fmt.Errorf("%w: sent %d, stored %d", ErrShort, n, got)
	}
	return n, f[2], nil
}
