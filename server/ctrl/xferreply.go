package ctrl

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Transfer results. The library answers every transfer that fails after
// its 150 with "550 Issue during transfer: network error: error
// transferring data: read tcp ...: i/o timeout": a permanent failure, in
// Go's words. Clients then give up instead of retrying. The reply is
// chosen here instead, from the copy error (the driver hands it to the
// session before the library writes its reply) or, for listings, which
// have no file, from the library's text:
//   - 426 when the data connection was cut: the data_timeout watchdog, a
//     reset or vanished client, the server shutting down;
//   - 452 for a full disk, 552 for an exhausted quota or a file too large;
//   - 451 for any other local error.
// The text is plain words, never an error chain. Each such transfer is
// logged as incomplete (xferlog i).

// xferReplies is Conn's part in transfer results.
type xferReplies struct {
	mu          sync.Mutex
	dataTimeout time.Duration // data_timeout, named in the 426 of a stalled transfer
	pending     string        // the reply chosen for the transfer that just failed
	open        bool          // a 150 was written and the transfer's final reply was not yet
	cut         string        // why the server cut the data connection ("" = it did not)
	closeAfter  bool          // close the control connection after the transfer's final reply
}

// TransferFailed records the error of a transfer that failed, before its
// reply is written (the driver closes the file first).
func (c *Conn) TransferFailed(err error) {
	c.xfer.mu.Lock()
	defer c.xfer.mu.Unlock()
	c.xfer.pending = transferFailure(err, c.xfer.cut, c.xfer.dataTimeout)
}

// CutTransfer says why the server is about to cut the running transfer's
// data connection; the control connection closes after its final reply.
func (c *Conn) CutTransfer(why string) {
	c.xfer.mu.Lock()
	defer c.xfer.mu.Unlock()
	c.xfer.cut, c.xfer.closeAfter = why, true
}

// transferReply returns the reply that replaces b, a reply of the library,
// when b ends a failed transfer ("" otherwise), and whether the control
// connection must close after this reply (the server cut the transfer).
// A failed transfer's reply is the first error reply after its 150: the
// library's text for it varies (the driver's plain words for a file's
// error, "Issue during transfer: …" with Go's chain for a listing's). A 426
// is left alone: ABOR's own, already right.
func (c *Conn) transferReply(b []byte) (reply string, closeAfter bool) {
	if len(b) >= 4 && b[3] == ' ' && (bytes.HasPrefix(b, []byte("150")) || bytes.HasPrefix(b, []byte("125"))) {
		c.xfer.mu.Lock()
		c.xfer.open, c.xfer.pending = true, "" // a new transfer: nothing chosen for it yet
		c.xfer.mu.Unlock()
		return "", false
	}
	if !endsTransfer(b) {
		return "", false
	}
	c.xfer.mu.Lock()
	defer c.xfer.mu.Unlock()
	closeAfter = c.xfer.closeAfter
	open := c.xfer.open
	reply = c.xfer.pending
	// Whatever this reply is, the transfer is over: a reply chosen for an
	// aborted one (ABOR) or for one whose data connection never opened
	// must not answer a later command.
	c.xfer.open, c.xfer.pending = false, ""
	if !open || b[0] == '2' || bytes.HasPrefix(b, []byte("426")) {
		return "", closeAfter
	}
	if reply == "" {
		// A listing (no file, so no error handed over): from the text.
		reply = transferFailure(errorFromText(b), c.xfer.cut, c.xfer.dataTimeout)
	}
	return reply, closeAfter
}

// transferFailure is the reply (with its line end) to a transfer that
// failed with err after its 150; cut is why the server cut it, if it did.
func transferFailure(err error, cut string, dataTimeout time.Duration) string {
	var code int
	var text string
	var opErr *net.OpError
	switch {
	case errors.Is(err, syscall.ENOSPC):
		code, text = 452, "Transfer aborted: insufficient storage space (the disk is full)"
	case errors.Is(err, syscall.EDQUOT):
		code, text = 552, "Transfer aborted: exceeded storage allocation (disk quota)"
	case errors.Is(err, syscall.EFBIG):
		code, text = 552, "Transfer aborted: exceeded storage allocation (file too large)"
	case cut != "":
		code, text = 426, "Connection closed; transfer aborted: "+cut
	case errors.Is(err, os.ErrDeadlineExceeded):
		code, text = 426, fmt.Sprintf("Connection closed; transfer aborted: no data moved for %s (data_timeout)", dataTimeout)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		code, text = 426, "Connection closed; transfer aborted: the data connection was reset"
	case errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		code, text = 426, "Connection closed; transfer aborted: the client is unreachable"
	case errors.Is(err, net.ErrClosed), errors.As(err, &opErr):
		code, text = 426, "Connection closed; transfer aborted"
	default:
		code, text = 451, "Transfer aborted: local error in processing"
	}
	return fmt.Sprintf("%d %s\r\n", code, text)
}

// errorFromText recovers the system error at the end of a library reply
// (its text ends with Go's message for it).
func errorFromText(b []byte) error {
	line := bytes.TrimRight(b, "\r\n")
	for _, e := range []struct {
		suffix string
		err    error
	}{
		{"i/o timeout", os.ErrDeadlineExceeded},
		{syscall.ECONNRESET.Error(), syscall.ECONNRESET},
		{syscall.EPIPE.Error(), syscall.EPIPE},
		{syscall.ETIMEDOUT.Error(), syscall.ETIMEDOUT},
		{syscall.ENOSPC.Error(), syscall.ENOSPC},
		{syscall.EDQUOT.Error(), syscall.EDQUOT},
		{syscall.EFBIG.Error(), syscall.EFBIG},
		{"use of closed network connection", net.ErrClosed},
	} {
		if bytes.HasSuffix(line, []byte(e.suffix)) {
			return e.err
		}
	}
	return nil
}
