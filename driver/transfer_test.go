package driver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recorder collects the Transfers reported through OnTransfer.
type recorder struct {
	mu   sync.Mutex
	list []Transfer
	hook func(Transfer) // runs inside OnTransfer, if set
}

func (r *recorder) record(t Transfer) {
	if r.hook != nil {
		r.hook(t)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, t)
}

func (r *recorder) take() []Transfer {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.list
	r.list = nil
	return l
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestTransferAccounting(t *testing.T) {
	const size = 100_000
	data := pattern(size)
	errAbort := errors.New("ABOR from client")

	tests := []struct {
		name      string
		path      string
		flags     int
		offset    int64
		existing  []byte                      // file content before, nil for none
		do        func(h *File) error         // the transfer
		wantBytes int64                       // Transfer.Bytes
		wantFile  []byte                      // file content after, nil to skip
		wantErr   error                       // Transfer.Err, via errors.Is
		check     func(t *testing.T, h *File) // extra checks before Close
	}{
		{
			name: "RETR via WriteTo", path: "/d/f.bin", flags: os.O_RDONLY, existing: data,
			do: func(h *File) error {
				var buf bytes.Buffer
				if _, err := io.Copy(&buf, h); err != nil {
					return err
				}
				if !bytes.Equal(buf.Bytes(), data) {
					return errors.New("downloaded data differs")
				}
				return nil
			},
			wantBytes: size,
		},
		{
			name: "RETR via Read", path: "/d/f.bin", flags: os.O_RDONLY, existing: data,
			do: func(h *File) error {
				b, err := io.ReadAll(struct{ io.Reader }{h})
				if err == nil && !bytes.Equal(b, data) {
					err = errors.New("downloaded data differs")
				}
				return err
			},
			wantBytes: size,
		},
		{
			name: "RETR after REST counts only bytes moved", path: "/f.bin", flags: os.O_RDONLY, offset: 60_000, existing: data,
			do: func(h *File) error {
				if _, err := h.Seek(60_000, io.SeekStart); err != nil {
					return err
				}
				_, err := io.Copy(io.Discard, h)
				return err
			},
			wantBytes: size - 60_000,
		},
		{
			name: "STOR via ReadFrom", path: "/up.bin", flags: os.O_WRONLY | os.O_CREATE | os.O_TRUNC, existing: []byte("old content, longer than nothing"),
			do: func(h *File) error {
				_, err := io.Copy(h, struct{ io.Reader }{bytes.NewReader(data)})
				return err
			},
			wantBytes: size, wantFile: data,
		},
		{
			name: "STOR via Write", path: "/d/up.bin", flags: os.O_WRONLY | os.O_CREATE | os.O_TRUNC,
			do: func(h *File) error {
				_, err := h.Write(data)
				return err
			},
			wantBytes: size, wantFile: data,
		},
		{
			name: "STOR after REST", path: "/up.bin", flags: os.O_WRONLY | os.O_CREATE, offset: 5, existing: []byte("0123456789"),
			do: func(h *File) error {
				if _, err := h.Seek(5, io.SeekStart); err != nil {
					return err
				}
				_, err := h.Write([]byte("abc"))
				return err
			},
			wantBytes: 3, wantFile: []byte("01234abc89"),
		},
		{
			name: "APPE", path: "/log.txt", flags: os.O_WRONLY | os.O_CREATE | os.O_APPEND, existing: []byte("line1\n"),
			do: func(h *File) error {
				_, err := io.Copy(h, strings.NewReader("line2\n"))
				return err
			},
			wantBytes: 6, wantFile: []byte("line1\nline2\n"),
		},
		{
			name: "aborted RETR reports the TransferError", path: "/f.bin", flags: os.O_RDONLY, existing: data,
			do: func(h *File) error {
				if _, err := io.CopyN(io.Discard, struct{ io.Reader }{h}, 1000); err != nil {
					return err
				}
				h.TransferError(errAbort)
				h.TransferError(errors.New("a later error is ignored"))
				h.TransferError(nil)
				return nil
			},
			wantBytes: 1000, wantErr: errAbort,
		},
		{
			name: "failed STOR reports the TransferError", path: "/up.bin", flags: os.O_WRONLY | os.O_CREATE | os.O_TRUNC,
			do: func(h *File) error {
				h.TransferError(errAbort)
				return nil
			},
			wantBytes: 0, wantErr: errAbort, wantFile: []byte{},
		},
		{
			name: "errors name the FTP path, not the host path", path: "/f.bin", flags: os.O_RDONLY, existing: data,
			do: func(h *File) error { return nil },
			check: func(t *testing.T, h *File) {
				_, err := h.Seek(-1, io.SeekStart)
				if err == nil || strings.Contains(err.Error(), string(filepath.Separator)+"root") || !strings.Contains(err.Error(), "/f.bin") {
					t.Errorf("Seek error = %v, want one naming /f.bin only", err)
				}
				if _, err := h.Write([]byte("x")); err == nil || strings.Contains(err.Error(), "root/") {
					t.Errorf("Write on a download = %v, want an error naming /f.bin only", err)
				}
				if h.Name() != "/f.bin" {
					t.Errorf("Name() = %q, want /f.bin", h.Name())
				}
			},
			wantBytes: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			rec := &recorder{}
			fsys := fx.open(t, Options{OnTransfer: rec.record})
			must(t, os.MkdirAll(filepath.Join(fx.root, "d"), 0o755))
			if tc.existing != nil {
				must(t, os.WriteFile(filepath.Join(fx.root, tc.path), tc.existing, 0o644))
			}
			before := time.Now()
			ft, err := fsys.GetHandle(tc.path, tc.flags, tc.offset)
			if err != nil {
				t.Fatalf("GetHandle: %v", err)
			}
			h := ft.(*File)
			if err := tc.do(h); err != nil {
				t.Fatalf("transfer: %v", err)
			}
			if tc.check != nil {
				tc.check(t, h)
			}
			if got := rec.take(); len(got) != 0 {
				t.Fatalf("OnTransfer called before Close: %+v", got)
			}
			if err := h.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			after := time.Now()
			if err := h.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			got := rec.take()
			if len(got) != 1 {
				t.Fatalf("OnTransfer called %d times, want 1: %+v", len(got), got)
			}
			tr := got[0]
			wantUpload := tc.flags&(os.O_WRONLY|os.O_RDWR) != 0
			if tr.Path != tc.path || tr.Upload != wantUpload || tr.Bytes != tc.wantBytes {
				t.Errorf("Transfer = {Path:%q Upload:%v Bytes:%d}, want {%q %v %d}", tr.Path, tr.Upload, tr.Bytes, tc.path, wantUpload, tc.wantBytes)
			}
			if tc.wantErr == nil && tr.Err != nil || tc.wantErr != nil && !errors.Is(tr.Err, tc.wantErr) {
				t.Errorf("Transfer.Err = %v, want %v", tr.Err, tc.wantErr)
			}
			if tr.Start.Before(before) || tr.Start.After(after) || tr.Duration < 0 || tr.Duration > after.Sub(before) {
				t.Errorf("Start %v, Duration %v outside [%v, %v]", tr.Start, tr.Duration, before, after)
			}
			if tc.wantFile != nil {
				b, err := os.ReadFile(filepath.Join(fx.root, tc.path))
				must(t, err)
				if !bytes.Equal(b, tc.wantFile) {
					t.Errorf("file holds %d bytes %.20q, want %d bytes %.20q", len(b), b, len(tc.wantFile), tc.wantFile)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := fsys.Wait(ctx); err != nil {
				t.Errorf("Wait after Close: %v", err)
			}
		})
	}
}

// TestGetHandleRefusals: failed opens hand out nothing, report nothing and leave Wait free.
func TestGetHandleRefusals(t *testing.T) {
	fx := newFixture(t)
	rec := &recorder{}
	fsys := fx.open(t, Options{OnTransfer: rec.record})
	tests := []struct {
		path  string
		flags int
	}{
		{"/missing", os.O_RDONLY},
		{"/", os.O_RDONLY},
		{"/sub", os.O_RDONLY},
		{"/sub", os.O_WRONLY | os.O_CREATE | os.O_TRUNC},
		{"/missing/dir/f", os.O_WRONLY | os.O_CREATE | os.O_TRUNC},
		{"/etc/passwd", os.O_RDONLY},
	}
	for _, tc := range tests {
		if h, err := fsys.GetHandle(tc.path, tc.flags, 0); err == nil || h != nil {
			t.Errorf("GetHandle(%q, %#x) = %v, %v; want nil and an error", tc.path, tc.flags, h, err)
		}
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("OnTransfer called for refused opens: %+v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fsys.Wait(ctx); err != nil {
		t.Errorf("Wait with no open files: %v", err)
	}
}

// TestWait: Wait times out while a handle is open, and returns only after Close and after
// OnTransfer has returned. Handles outlive Fs.Close, as ftpserverlib requires.
func TestWait(t *testing.T) {
	fx := newFixture(t)
	rec := &recorder{}
	fsys := fx.open(t, Options{OnTransfer: rec.record})

	h1, err := fsys.GetHandle("/inside.txt", os.O_RDONLY, 0)
	must(t, err)
	h2, err := fsys.GetHandle("/upload.txt", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0)
	must(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err = fsys.Wait(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with open handles = %v, want DeadlineExceeded", err)
	}

	// The session ends (ClientDisconnected) before the transfer's file is closed.
	must(t, fsys.Close())
	must(t, fsys.Close())

	waited := make(chan error, 1)
	go func() { waited <- fsys.Wait(context.Background()) }()

	must(t, h1.Close())
	select {
	case err := <-waited:
		t.Fatalf("Wait returned (%v) with a handle still open", err)
	default:
	}

	if b, err := io.ReadAll(h1); err == nil || len(b) != 0 {
		t.Errorf("read after Close: %q, %v", b, err)
	}
	if _, err := h2.Write([]byte("still works after Fs.Close")); err != nil {
		t.Fatalf("writing after Fs.Close: %v", err)
	}
	rec.hook = func(Transfer) {
		select {
		case err := <-waited:
			t.Errorf("Wait returned (%v) before OnTransfer returned", err)
		default:
		}
	}
	must(t, h2.Close())
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the last Close")
	}
	if n := len(rec.take()); n != 2 {
		t.Errorf("OnTransfer called %d times, want 2", n)
	}
	if _, err := fsys.GetHandle("/inside.txt", os.O_RDONLY, 0); err == nil {
		t.Error("GetHandle after Fs.Close succeeded")
	}
}

// TestConcurrentClose: Close racing Close and TransferError still reports exactly once (run
// with -race).
func TestConcurrentClose(t *testing.T) {
	fx := newFixture(t)
	rec := &recorder{}
	fsys := fx.open(t, Options{OnTransfer: rec.record})
	for range 20 {
		h, err := fsys.GetHandle("/inside.txt", os.O_RDONLY, 0)
		must(t, err)
		f := h.(*File)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				f.TransferError(errors.New("abort"))
				_ = f.Close()
			})
		}
		wg.Wait()
	}
	if n := len(rec.take()); n != 20 {
		t.Errorf("OnTransfer called %d times for 20 files", n)
	}
	must(t, fsys.Wait(context.Background()))
}

// TestGetHandleRefusesFIFO: a FIFO in the root is refused for reading and
// for writing at once, whether or not something holds its other end: opening
// it must not wait for a peer (that would hang the session).
func TestGetHandleRefusesFIFO(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t, Options{})
	if err := syscall.Mkfifo(filepath.Join(fx.root, "pipe"), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, flags := range []int{os.O_RDONLY, os.O_WRONLY | os.O_CREATE | os.O_TRUNC} {
		done := make(chan error, 1)
		go func() {
			h, err := fsys.GetHandle("/pipe", flags, 0)
			if h != nil {
				h.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("GetHandle of a FIFO with flags %#x succeeded", flags)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("GetHandle of a FIFO with flags %#x blocked", flags)
		}
	}
	// With a reader waiting on the other end, a write open would succeed at
	// once: it must still be refused, and the reader must see no data.
	r, err := os.OpenFile(filepath.Join(fx.root, "pipe"), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h, err := fsys.GetHandle("/pipe", os.O_WRONLY|os.O_TRUNC, 0); err == nil || h != nil {
		t.Errorf("GetHandle for writing to a FIFO with a reader: %v, %v", h, err)
	}
}

// TestGetHandleWaitsForLease: a file under a read lease (as Samba oplocks
// and NFS delegations take) is opened for writing once the lease is given
// back, not refused because the open is non-blocking.
func TestGetHandleWaitsForLease(t *testing.T) {
	fx := newFixture(t)
	fsys := fx.open(t, Options{})
	name := filepath.Join(fx.root, "leased.txt")
	if err := os.WriteFile(name, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	lf, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if _, err := unix.FcntlInt(lf.Fd(), unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		t.Skipf("cannot take a lease here: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		h, err := fsys.GetHandle("/leased.txt", os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			h.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("GetHandle returned before the lease was given back: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := unix.FcntlInt(lf.Fd(), unix.F_SETLEASE, unix.F_UNLCK); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("GetHandle after the lease was given back: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("GetHandle still waiting after the lease was given back")
	}
}
