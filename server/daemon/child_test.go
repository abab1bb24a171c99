package daemon

import (
	"bytes"
	"io"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMemfdWithHoldsTheData: the config handed to a session process is read
// back whole from the start of the file.
func TestMemfdWithHoldsTheData(t *testing.T) {
	data := bytes.Repeat([]byte("listen = \"127.0.0.1:2121\"\n"), 1000)
	f, err := memfdWith("test", data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
	}
}

// TestMemfdWithReportsAFailedWrite: when the data cannot be written whole
// (here: past the file size limit), memfdWith fails instead of handing a
// session process a truncated config.
func TestMemfdWithReportsAFailedWrite(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	// Process-wide: no other test of this package writes files meanwhile.
	// (Go ignores the SIGXFSZ that comes with it: the write returns EFBIG.)
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 1024, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	f, err := memfdWith("test", make([]byte, 4096))
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err == nil {
		f.Close()
		t.Fatal("no error for a config that could not be written whole")
	}
}
