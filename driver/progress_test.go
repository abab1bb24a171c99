package driver

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// A download through sendfile reports its progress while it runs (the registry shows it in
// tunnelftpd who), counting from the REST offset, and OnOpen sees the file first.
func TestProgressOfARunningDownload(t *testing.T) {
	dir := t.TempDir()
	const size, rest = 64 << 20, 1 << 20
	f, err := os.Create(filepath.Join(dir, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var opened *File
	fs, err := New(dir, Options{OnOpen: func(f *File) { opened = f }})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	h, err := fs.GetHandle("/big", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	file := h.(*File)
	if opened != file || file.Path() != "/big" || file.Upload() || file.Started().IsZero() {
		t.Fatalf("OnOpen got %p (%q, upload %v), want the handle %p", opened, file.Path(), file.Upload(), file)
	}
	if _, err := file.Seek(rest, io.SeekStart); err != nil { // REST
		t.Fatal(err)
	}

	server, client := testutil.TCPPair(t)
	done := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(server, file) // (*File).WriteTo: sendfile
		server.Close()
		done <- n
	}()
	// The client reads 2 MiB and stops: the transfer is stuck part-way.
	if _, err := io.CopyN(io.Discard, client, 2<<20); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, time.Millisecond, "progress past what the client read",
		func() bool { return file.Progress() >= 2<<20 })
	if p := file.Progress(); p >= size-rest {
		t.Fatalf("progress %d while the client has stopped reading; want less than %d", p, size-rest)
	}
	if _, err := io.Copy(io.Discard, client); err != nil {
		t.Fatal(err)
	}
	if n := <-done; n != size-rest {
		t.Fatalf("sent %d, want %d", n, size-rest)
	}
	file.Close()
	if p := file.Progress(); p != size-rest {
		t.Errorf("progress after Close %d, want %d", p, size-rest)
	}
}
