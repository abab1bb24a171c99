package driver

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// chunkWriter records the size of every Write and fails from the Write numbered failAt (1-based;
// 0 never). It has no ReadFrom, so a copy into it cannot hand the file to the kernel.
type chunkWriter struct {
	buf    bytes.Buffer
	sizes  []int
	failAt int
	short  bool // the failing Write takes half and returns no error
}

var errPeerGone = errors.New("peer gone")

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	if w.failAt > 0 && len(w.sizes) >= w.failAt {
		if w.short {
			w.buf.Write(p[:len(p)/2])
			return len(p) / 2, nil
		}
		return 0, errPeerGone
	}
	return w.buf.Write(p)
}

// The default RETR reads the file RetrChunk bytes at a time and writes each chunk whole, from
// the offset REST set, and counts what the writer took.
func TestRetrCopiesInChunks(t *testing.T) {
	const size = 3*RetrChunk + 1234
	const rest = 1000
	data := pattern(size)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f.bin"), data, 0o644))
	var rec recorder
	fsys, err := New(dir, Options{OnTransfer: rec.record})
	must(t, err)
	defer fsys.Close()

	h, err := fsys.GetHandle("/f.bin", os.O_RDONLY, rest)
	must(t, err)
	if _, err := h.Seek(rest, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var w chunkWriter
	n, err := io.Copy(&w, h)
	if err != nil || n != size-rest {
		t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, size-rest)
	}
	if !bytes.Equal(w.buf.Bytes(), data[rest:]) {
		t.Error("the writer got different bytes")
	}
	want := []int{RetrChunk, RetrChunk, RetrChunk, size - rest - 3*RetrChunk}
	if len(w.sizes) != len(want) {
		t.Fatalf("writes of %v, want %v", w.sizes, want)
	}
	for i := range want {
		if w.sizes[i] != want[i] {
			t.Fatalf("writes of %v, want %v", w.sizes, want)
		}
	}
	if p := h.(*File).Progress(); p != size-rest {
		t.Errorf("Progress = %d before Close, want %d", p, size-rest)
	}
	must(t, h.Close())
	tr := rec.take()
	if len(tr) != 1 || tr[0].Bytes != size-rest || tr[0].Err != nil {
		t.Errorf("transfers = %+v, want one of %d bytes", tr, size-rest)
	}
}

// A data connection that fails or takes less than a whole chunk ends the copy with its error
// (io.ErrShortWrite for the short one), and only what it took counts.
func TestRetrCopyStopsAtWriteError(t *testing.T) {
	const size = 3 * RetrChunk
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f.bin"), pattern(size), 0o644))
	for _, short := range []bool{false, true} {
		var rec recorder
		fsys, err := New(dir, Options{OnTransfer: rec.record})
		must(t, err)
		h, err := fsys.GetHandle("/f.bin", os.O_RDONLY, 0)
		must(t, err)
		w := &chunkWriter{failAt: 2, short: short}
		n, err := h.(io.WriterTo).WriteTo(w)
		wantN, wantErr := int64(RetrChunk), errPeerGone
		if short {
			wantN, wantErr = RetrChunk+RetrChunk/2, io.ErrShortWrite
		}
		if n != wantN || !errors.Is(err, wantErr) {
			t.Errorf("short=%v: WriteTo = %d, %v; want %d, %v", short, n, err, wantN, wantErr)
		}
		if len(w.sizes) != 2 {
			t.Errorf("short=%v: %d writes after the failure's, want it to stop at 2", short, len(w.sizes))
		}
		must(t, h.Close())
		if tr := rec.take(); len(tr) != 1 || tr[0].Bytes != wantN {
			t.Errorf("short=%v: transfers = %+v, want %d bytes counted", short, tr, wantN)
		}
		fsys.Close()
	}
}
