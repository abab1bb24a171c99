package driver

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/tunnelftpd/tunnelftpd/access"
)

// errIsDir is DELE's refusal of a directory (RMD removes directories).
var errIsDir = errors.New("is a directory")

// errNotDir is MLSD's refusal of a file.
var errNotDir = errors.New("not a directory")

var _ ftpserver.ClientMessageError = (*Error)(nil)

// Error is the error of every operation of an [Fs] that names a file. Its
// ClientMessage is what the FTP client sees: the FTP path and what went
// wrong in plain words ("/dir/x: no such file"), never a system call, a
// host path or an error chain. Error() keeps the detail, for the log.
// errors.Is and errors.As see the cause through Unwrap.
type Error struct {
	Op   string // the operation: "open", "stat", "remove", …
	Path string // the FTP path ("/dir/x"); empty when the name itself is unusable
	Err  error  // the cause
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Op + ": " + e.Err.Error()
	}
	return e.Op + " " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ClientMessage is the reply text for the FTP client.
func (e *Error) ClientMessage() string {
	if e.Path == "" {
		return reason(e.Err)
	}
	return e.Path + ": " + reason(e.Err)
}

// wrap turns err from operation op on rel (a root-relative path) into an
// *Error naming the FTP path. nil stays nil, and an *Error is kept as is.
func wrap(op, rel string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Op: op, Path: ftpPath(rel), Err: err}
}

// reason says in plain words what err means for the client. A path that
// escapes the root, a dangling link and a link loop are all "no such file":
// the client must not learn where links lead outside its root.
func reason(err error) string {
	var errno syscall.Errno
	var refused *access.Denied
	switch {
	case errors.As(err, &refused):
		// "delete is not allowed here", or the message file's reserved name.
		return "permission denied (" + refused.Error() + ")"
	case errors.Is(err, errChmod):
		return "changing modes is not allowed here (modes come from the server's rules)"
	case errors.Is(err, errReadOnly):
		return "permission denied (read-only account)"
	case errors.Is(err, errChown):
		return "changing ownership is not allowed"
	case errors.Is(err, errRootDir):
		return "the root directory cannot be changed"
	case errors.Is(err, errNUL):
		return "invalid file name"
	case errors.Is(err, errNotRegular):
		return "not a regular file"
	case errors.Is(err, errIsDir), errors.Is(err, syscall.EISDIR):
		return "is a directory"
	case errors.Is(err, errNotDir), errors.Is(err, syscall.ENOTDIR):
		return "not a directory"
	case errors.Is(err, errTooMany):
		return errTooMany.Error()
	case errors.Is(err, errBadPattern):
		return "invalid wildcard pattern"
	case escapes(err), errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ELOOP):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, fs.ErrExist):
		return "already exists"
	case errors.Is(err, syscall.ENOTEMPTY):
		return "directory not empty"
	case errors.Is(err, syscall.ENAMETOOLONG):
		return "file name too long"
	case errors.Is(err, fs.ErrInvalid), errors.Is(err, syscall.EINVAL):
		return "invalid argument"
	case errors.As(err, &errno):
		// strerror's words ("no space left on device", "disk quota
		// exceeded", "input/output error"): plain, and what the control
		// connection's storage-reply mapping looks for.
		return errno.Error()
	}
	return "operation failed"
}

// escapes reports whether err is os.Root's refusal of a path (or link) that
// leads out of the root. os.Root has no exported error for it.
func escapes(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "path escapes from parent")
}
