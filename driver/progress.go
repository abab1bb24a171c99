package driver

import (
	"io"
	"time"
)

// Path is the transfer's FTP path, Upload whether it writes the file, Started when it was
// opened.
func (f *File) Path() string { return f.path }

// Upload reports whether the file was opened for STOR/APPE.
func (f *File) Upload() bool { return f.upload }

// Started is when GetHandle opened the file.
func (f *File) Started() time.Time { return f.start }

// Progress is how many bytes the transfer has moved so far, while it runs. Zero-copy transfers
// (sendfile, splice) report nothing until they end, but they move the file's offset as they go:
// Progress reads the offset, less the one the transfer started at (REST). It never blocks the
// transfer and is safe to call from another goroutine; after Close it gives the final count.
func (f *File) Progress() int64 {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return f.bytes.Load()
	}
	pos, err := f.File.Seek(0, io.SeekCurrent)
	if err != nil {
		return f.bytes.Load()
	}
	return max(pos-f.base.Load(), f.bytes.Load())
}
