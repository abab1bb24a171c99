package ctrl

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTransferFailureReplies: each way a transfer can fail after its 150
// gets its code and plain words, from the error as the copy returns it
// (wrapped by os and net, as splice and sendfile wrap them) or, for a
// listing, from the library's text.
func TestTransferFailureReplies(t *testing.T) {
	splice := func(errno syscall.Errno) error {
		return &os.PathError{Op: "write", Path: "/up.bin", Err: os.NewSyscallError("splice", errno)}
	}
	netErr := func(err error) error {
		return &net.OpError{Op: "read", Net: "tcp", Err: err}
	}
	for _, tc := range []struct {
		name  string
		err   error
		cut   string
		code  string
		words string
	}{
		{"stalled (watchdog deadline)", netErr(os.ErrDeadlineExceeded), "", "426", "no data moved for 2m0s (data_timeout)"},
		{"reset, in splice", splice(syscall.ECONNRESET), "", "426", "reset"},
		{"broken pipe", netErr(os.NewSyscallError("write", syscall.EPIPE)), "", "426", "reset"},
		{"unreachable", netErr(os.NewSyscallError("read", syscall.ETIMEDOUT)), "", "426", "unreachable"},
		{"closed", netErr(net.ErrClosed), "", "426", "Connection closed; transfer aborted"},
		{"cut by shutdown", netErr(os.ErrDeadlineExceeded), "the server is shutting down", "426", "the server is shutting down"},
		{"disk full", splice(syscall.ENOSPC), "", "452", "insufficient storage space"},
		{"disk full, cut meanwhile", splice(syscall.ENOSPC), "the server is shutting down", "452", "insufficient storage space"},
		{"quota", splice(syscall.EDQUOT), "", "552", "disk quota"},
		{"file too large", &os.PathError{Op: "write", Path: "/f", Err: syscall.EFBIG}, "", "552", "file too large"},
		{"local I/O error", &os.PathError{Op: "read", Path: "/f", Err: syscall.EIO}, "", "451", "local error"},
		{"anything else", errors.New("odd"), "", "451", "local error"},
	} {
		got := transferFailure(tc.err, tc.cut, 2*time.Minute)
		if !strings.HasPrefix(got, tc.code+" ") || !strings.Contains(got, tc.words) || !strings.HasSuffix(got, "\r\n") ||
			strings.Contains(got, "splice") || strings.Contains(got, "tcp") {
			t.Errorf("%s: %q, want %s with %q in plain words", tc.name, got, tc.code, tc.words)
		}
	}
	// A listing: the error comes back from the library's text.
	for suffix, code := range map[string]string{
		"read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout":                      "426",
		"write tcp 127.0.0.1:1->127.0.0.1:2: write: connection reset by peer": "426",
		"write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe":              "426",
		"open x: no space left on device":                                     "452",
		"something else":                                                      "451",
	} {
		line := fmt.Sprintf("550 Issue during transfer: network error: error transferring data: %s\r\n", suffix)
		if got := transferFailure(errorFromText([]byte(line)), "", time.Minute); !strings.HasPrefix(got, code+" ") {
			t.Errorf("library reply %q: %q, want %s", line, got, code)
		}
	}
}
