package logging

import (
	"io"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/driver"
)

// TestXferLineFields: wu-ftpd field order, access mode r/a, status c/i, and
// names with blanks kept to one field.
func TestXferLineFields(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 5, 7, 0, time.UTC)
	for _, tc := range []struct {
		t    driver.Transfer
		mode byte
		want string
	}{
		{driver.Transfer{Path: "/a b.txt", Bytes: 42, Duration: 1600 * time.Millisecond}, 'r',
			"Sat Nov 28 09:05:07 2026 2 203.0.113.9 42 /a_b.txt b _ o r alice ftp 0 * c\n"},
		{driver.Transfer{Path: "/up", Upload: true, Bytes: 7, Err: io.ErrUnexpectedEOF}, 'a',
			"Sat Nov 28 09:05:07 2026 0 203.0.113.9 7 /up b _ i a alice ftp 0 * i\n"},
	} {
		if got := xferLine(tc.t, "203.0.113.9", "alice", tc.mode, now); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}
