package driver

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/tunnelftpd/tunnelftpd/access"
)

var (
	_ ftpserver.FileTransfer      = (*File)(nil)
	_ ftpserver.FileTransferError = (*File)(nil)
	_ io.WriterTo                 = (*File)(nil)
	_ io.ReaderFrom               = (*File)(nil)
)

// Transfer describes one finished (or failed) RETR/STOR/APPE.
type Transfer struct {
	Path     string        // FTP path as given to GetHandle (absolute and clean, e.g. "/dir/f.bin")
	Upload   bool          // true for STOR/APPE (file opened for writing)
	Bytes    int64         // bytes moved over the data connection (read from the file for downloads, written to it for uploads)
	Start    time.Time     // when GetHandle opened the file
	Duration time.Duration // from Start until Close
	Err      error         // nil if the transfer completed; else the error passed to TransferError, or the Close error
}

// File is the handle GetHandle returns for one transfer.
//
// It embeds *os.File and overrides Read, Write, WriteString, ReadFrom and WriteTo by delegating to the
// embedded file's own methods: io.Copy(tcpConn, file) still reaches (*os.File).WriteTo and
// sendfile, io.Copy(file, tcpConn) still reaches (*os.File).ReadFrom and splice, and every byte
// is counted (ReadAt and WriteAt are not: ftpserverlib does not use them). Errors from these
// methods name the FTP path, not the host path.
type File struct {
	*os.File

	fs     *Fs
	path   string
	upload bool
	start  time.Time
	bytes  atomic.Int64
	base   atomic.Int64 // the offset the transfer starts at (REST), for Progress

	mu       sync.Mutex
	xferErr  error // first error passed to TransferError
	closed   bool
	closeErr error
}

// GetHandle opens the named regular file for one transfer: os.O_RDONLY for a download,
// os.O_WRONLY with os.O_CREATE and os.O_TRUNC or os.O_APPEND for an upload. Flags pass through
// unchanged (O_APPEND is never added: it would disable splice). A created file gets mode 0644
// (less the umask), or the policy's mode and group. ftpserverlib seeks to offset after GetHandle
// (seeking is not counted as bytes moved); a policy uses it only to tell an append (REST at or
// past the end) from an overwrite. Under a policy a download needs retrieve and an upload
// upload, overwrite or append (see Policy).
func (fs *Fs) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	const op = "open"
	rel, err := resolve(op, name)
	if err != nil {
		return nil, err
	}
	write := flags&writeFlags != 0
	if write && fs.opts.ReadOnly {
		return nil, &Error{Op: op, Path: ftpPath(rel), Err: errReadOnly}
	}
	if !write {
		if err := fs.check(op, access.Retrieve, rel); err != nil {
			return nil, wrap(op, rel, err)
		}
	}
	start := time.Now()
	var f *os.File
	if write && fs.opts.Policy != nil {
		f, err = fs.openWrite(op, rel, flags, offset, fs.openTransfer)
	} else {
		f, err = fs.openTransfer(rel, flags, filePerm)
	}
	if err != nil {
		return nil, wrap(op, rel, err)
	}
	// Only regular files are transferred: not directories, FIFOs or devices.
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, &Error{Op: op, Path: ftpPath(rel), Err: errNotRegular}
	}
	fs.acquire()
	file := &File{
		File:   f,
		fs:     fs,
		path:   ftpPath(rel),
		upload: flags&(os.O_WRONLY|os.O_RDWR) != 0,
		start:  start,
	}
	if cb := fs.opts.OnOpen; cb != nil {
		cb(file)
	}
	return file, nil
}

// openTransfer opens a file for GetHandle. O_NONBLOCK: opening a FIFO must not wait for its other
// end (a write open of a FIFO without a reader fails at once), as vsftpd does. It stays set, and
// has no effect on a regular file (open(2)). O_NOCTTY: a terminal never becomes ours.
func (fs *Fs) openTransfer(rel string, flags int, perm os.FileMode) (*os.File, error) {
	f, err := fs.root.OpenFile(rel, flags|syscall.O_NONBLOCK|syscall.O_NOCTTY, perm)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		// A lease (Samba, NFS delegation) refuses a non-blocking open
		// instead of waiting for its holder: for a regular file, open it
		// the blocking way.
		if fi, serr := fs.root.Stat(rel); serr == nil && fi.Mode().IsRegular() {
			f, err = fs.root.OpenFile(rel, flags|syscall.O_NOCTTY, perm)
		}
	}
	return f, err
}

// Name returns the FTP path of the file (never the host path).
func (f *File) Name() string { return f.path }

// Read reads from the file and counts the bytes.
func (f *File) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.bytes.Add(int64(n))
	return n, f.clean(err)
}

// Write writes to the file and counts the bytes.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.bytes.Add(int64(n))
	return n, f.clean(err)
}

// WriteString writes s to the file and counts the bytes. Without it, the promoted
// (*os.File).WriteString would let io.WriteString (used by strings.Reader.WriteTo) bypass the
// count.
func (f *File) WriteString(s string) (int, error) {
	n, err := f.File.WriteString(s)
	f.bytes.Add(int64(n))
	return n, f.clean(err)
}

// WriteTo writes the file to w (RETR) and counts the bytes. By default it reads the file
// RetrChunk bytes at a time into a buffer of its own and writes each chunk whole, as Pure-FTPd
// does; with Options.Sendfile it goes through (*os.File).WriteTo, which uses sendfile when w is
// a TCP connection.
//
// Copying is the default because in an SSH tunnel the reader of the data connection is the
// local sshd, the busiest process of the path (it encrypts every byte and never waits for
// input). With sendfile the socket holds the file's page-cache pages, and sshd's read copies
// them cold from memory; after our own copy the bytes are in the CPU cache when sshd reads
// them. Through the bench's loopback tunnel that cut sshd's time in its socket read from 0.45
// to 0.08 ms per MiB (perf), and sshd's CPU from 2.7-3.0 to 1.8-2.0 ms per MiB; the daemon
// pays 0.5-2 ms per MiB more. A client that reads the data connection itself (no tunnel) would
// have copied the file once anyway, and there sendfile is faster: the server chooses per
// session (retr_sendfile = "auto": sendfile unless the control connection comes from sshd). See
// bench/README.md, "The cause: who copies the file out of the page cache".
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if f.fs.opts.Sendfile {
		n, err := f.File.WriteTo(w)
		f.bytes.Add(n)
		return n, f.clean(err)
	}
	bp := retrBufs.Get().(*[]byte)
	defer retrBufs.Put(bp)
	// Neither side may offer WriterTo or ReaderFrom, or io.CopyBuffer would
	// hand the file to the kernel after all.
	n, err := io.CopyBuffer(countedWriter{w, &f.bytes}, struct{ io.Reader }{f.File}, *bp)
	return n, f.clean(err)
}

// countedWriter adds what w took to n (what the data connection took counts, not what was read
// from the file).
type countedWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countedWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n.Add(int64(k))
	return k, err
}

// RetrChunk is how much WriteTo reads from the file and writes to the data connection at a
// time when it copies (Pure-FTPd's DL_DLMAP_SIZE). A write this large skips the data
// connection's listing buffer.
const RetrChunk = 128 << 10

// retrBufs holds WriteTo's buffers between transfers.
var retrBufs = sync.Pool{New: func() any { b := make([]byte, RetrChunk); return &b }}

// ReadFrom fills the file from r through (*os.File).ReadFrom, which uses splice when r is a TCP
// connection and the file is not in append mode, and counts the bytes.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	n, err := f.File.ReadFrom(r)
	f.bytes.Add(n)
	return n, f.clean(err)
}

// Seek sets the offset for the next Read or Write (REST). It moves no bytes.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	n, err := f.File.Seek(offset, whence)
	if err == nil {
		f.base.Store(n)
	}
	return n, f.clean(err)
}

// TransferError records why the transfer failed (ftpserverlib's FileTransferError). Only the
// first error is kept; errors after Close are ignored.
func (f *File) TransferError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && f.xferErr == nil && !f.closed {
		f.xferErr = err
	}
}

// Close closes the file, then calls Options.OnTransfer once. Later calls do nothing and return
// the first call's result.
func (f *File) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return f.closeErr
	}
	f.closed = true
	f.closeErr = f.clean(f.File.Close())
	t := Transfer{
		Path:     f.path,
		Upload:   f.upload,
		Bytes:    f.bytes.Load(),
		Start:    f.start,
		Duration: time.Since(f.start),
		Err:      f.xferErr,
	}
	if t.Err == nil {
		t.Err = f.closeErr
	}
	f.mu.Unlock()

	defer f.fs.release()
	if cb := f.fs.opts.OnTransfer; cb != nil {
		cb(t)
	}
	return f.closeErr
}

// clean rewrites an *os.PathError naming the file's host path (as *os.File errors do) into an
// *Error naming the FTP path, so that error replies never reveal where the root is and say what
// went wrong with the file in plain words ("/f: no space left on device"). Errors of the other
// end (the data connection) pass unchanged.
func (f *File) clean(err error) error {
	if pe, ok := err.(*os.PathError); ok && pe.Path == f.File.Name() {
		return &Error{Op: pe.Op, Path: f.path, Err: pe.Err}
	}
	return err
}
