package driver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"syscall"

	"github.com/tunnelftpd/tunnelftpd/access"
	"golang.org/x/sys/unix"
)

// Policy decides what a session may do, and how what it creates is made. The server gives each
// session one built from the access package (an *access.Session satisfies it).
//
// At is asked once for each path an operation touches (one for most, two for a rename), with
// the clean absolute FTP path of the operation's target ("/", "/incoming/f.bin"): the directory
// for LIST and MKD, the file for RETR and STOR. It is never asked per byte of a transfer. The
// driver then checks the operation's verb against the decision (Decision.Check, whose error
// wraps os.ErrPermission so the client gets 550) and gives what it creates the decision's mode
// and group.
type Policy interface {
	At(p string) access.Decision
}

var errChmod = fmt.Errorf("changing modes is not allowed: they come from the umask and the rules: %w", os.ErrPermission)

// check asks the policy about verb v on rel; nil without a policy.
func (fs *Fs) check(op string, v access.Verb, rel string) error {
	if fs.opts.Policy == nil {
		return nil
	}
	return denied(op, fs.opts.Policy.At(ftpPath(rel)), v)
}

// denied is d.Check(v) as the error of operation op.
func denied(op string, d access.Decision, v access.Verb) error {
	if err := d.Check(v); err != nil {
		return &os.PathError{Op: op, Path: d.Path, Err: err}
	}
	return nil
}

// openFunc opens a path relative to the root (root.OpenFile, or GetHandle's non-blocking open).
type openFunc func(rel string, flag int, perm os.FileMode) (*os.File, error)

// openWrite opens rel for writing under the policy. What the open does decides the verb:
// creating the file is an upload; on an existing file O_TRUNC is an overwrite, O_APPEND an
// append, and a positioned write (REST then STOR, offset > 0) an append when it starts at or past
// the end and an overwrite when it starts before. There is no window between the decision and
// the open: the file is created with O_EXCL (so an existing file is never taken for a new one),
// an existing file is opened without O_CREATE and O_TRUNC, checked, and only then truncated.
// A file it creates gets the policy's mode (exactly: the process umask is undone by fchmod) and
// group; if the group cannot be given, the file is removed and the open fails.
func (fs *Fs) openWrite(op, rel string, flags int, offset int64, open openFunc) (*os.File, error) {
	d := fs.opts.Policy.At(ftpPath(rel))
	creating := flags&os.O_CREATE != 0
	canCreate := creating && d.Rights.Has(access.Upload)
	var lastErr error
	for range 3 {
		if canCreate {
			f, err := open(rel, flags|os.O_EXCL, d.FilePerm)
			if err == nil {
				if err := fs.made(f, rel, d.FilePerm, d.GID); err != nil {
					return nil, &os.PathError{Op: op, Path: d.Path, Err: err}
				}
				return f, nil
			}
			if !errors.Is(err, os.ErrExist) {
				return nil, err
			}
		}
		f, err := open(rel, flags&^(os.O_CREATE|os.O_EXCL|os.O_TRUNC), 0)
		if errors.Is(err, os.ErrNotExist) && creating {
			if !canCreate {
				return nil, denied(op, d, access.Upload)
			}
			lastErr = err // removed since the O_EXCL attempt: try creating again
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := checkExisting(op, d, f, flags, offset); err != nil {
			_ = f.Close()
			return nil, err
		}
		if flags&os.O_TRUNC != 0 {
			if err := f.Truncate(0); err != nil {
				_ = f.Close()
				return nil, &os.PathError{Op: op, Path: d.Path, Err: errors.Unwrap(err)}
			}
		}
		return f, nil
	}
	return nil, lastErr
}

// checkExisting decides the verb for writing into the existing file f (see openWrite).
func checkExisting(op string, d access.Decision, f *os.File, flags int, offset int64) error {
	v := access.Overwrite
	switch {
	case flags&os.O_TRUNC != 0:
	case flags&os.O_APPEND != 0:
		v = access.Append
	case offset > 0:
		fi, err := f.Stat()
		if err != nil {
			return &os.PathError{Op: op, Path: d.Path, Err: errors.Unwrap(err)}
		}
		if offset >= fi.Size() {
			v = access.Append
		}
	}
	return denied(op, d, v)
}

// made gives a file just created through f its mode and group; on failure it removes the file.
func (fs *Fs) made(f *os.File, rel string, perm os.FileMode, gid int) error {
	err := f.Chmod(perm)
	if err == nil && gid >= 0 {
		if err = f.Chown(-1, gid); err != nil {
			err = fmt.Errorf("cannot give the new file group %d: %w", gid, errors.Unwrap(err))
		}
	} else if err != nil {
		err = fmt.Errorf("cannot set the new file's mode: %w", errors.Unwrap(err))
	}
	if err != nil {
		_ = f.Close()
		_ = fs.root.Remove(rel)
	}
	return err
}

// mkdir creates one directory under the policy: verb mkdir, the policy's mode and group.
func (fs *Fs) mkdir(rel string) error {
	if fs.opts.Policy == nil {
		return fs.root.Mkdir(rel, dirPerm)
	}
	d := fs.opts.Policy.At(ftpPath(rel))
	if err := denied("mkdir", d, access.Mkdir); err != nil {
		return err
	}
	if err := fs.root.Mkdir(rel, d.DirPerm); err != nil {
		return err
	}
	err := fs.root.Chmod(rel, d.DirPerm)
	if err == nil && d.GID >= 0 {
		err = fs.root.Lchown(rel, -1, d.GID)
	}
	if err != nil {
		_ = fs.root.Remove(rel)
		return &os.PathError{Op: "mkdir", Path: ftpPath(rel), Err: fmt.Errorf("cannot give the new directory its mode or group: %w", unwrapPath(err))}
	}
	return nil
}

// remove removes a file or empty directory under the policy: verb delete for anything but a
// directory, rmdir for a directory, decided by the kernel (unlinkat without and then with
// AT_REMOVEDIR), not by a stat that could be stale.
func (fs *Fs) remove(rel string) error {
	if fs.opts.Policy == nil {
		return fs.root.Remove(rel)
	}
	d := fs.opts.Policy.At(ftpPath(rel))
	canDelete := denied("remove", d, access.Delete)
	canRmdir := denied("remove", d, access.Rmdir)
	if canDelete != nil && canRmdir != nil {
		return canDelete
	}
	return fs.inParent("remove", rel, func(dirfd int, name string) error {
		if canDelete == nil {
			err := unix.Unlinkat(dirfd, name, 0)
			// Unlinking a directory fails with EISDIR on Linux (EPERM in POSIX).
			if err != unix.EISDIR && (err != unix.EPERM || !isDirAt(dirfd, name)) {
				return err
			}
			if canRmdir != nil {
				return canRmdir
			}
		}
		err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		if err == unix.ENOTDIR && canDelete != nil {
			return canDelete // not a directory, and delete is refused
		}
		return err
	})
}

func isDirAt(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// rename renames under the policy: verb rename at both paths, and overwrite at the new path if
// something is there. Without overwrite the kernel refuses to replace (RENAME_NOREPLACE).
func (fs *Fs) rename(oldRel, newRel string) error {
	if fs.opts.Policy == nil {
		return fs.root.Rename(oldRel, newRel)
	}
	if err := fs.check("rename", access.Rename, oldRel); err != nil {
		return err
	}
	dst := fs.opts.Policy.At(ftpPath(newRel))
	if err := denied("rename", dst, access.Rename); err != nil {
		return err
	}
	noOverwrite := denied("rename", dst, access.Overwrite)
	if noOverwrite == nil {
		return fs.root.Rename(oldRel, newRel)
	}
	od, err := fs.root.Open(path.Dir(oldRel))
	if err != nil {
		return err
	}
	defer od.Close()
	nd, err := fs.root.Open(path.Dir(newRel))
	if err != nil {
		return err
	}
	defer nd.Close()
	oldName, newName := path.Base(oldRel), path.Base(newRel)
	err = ignoringEINTR(func() error {
		return unix.Renameat2(int(od.Fd()), oldName, int(nd.Fd()), newName, unix.RENAME_NOREPLACE)
	})
	if err == unix.EINVAL || err == unix.ENOSYS {
		// A file system without RENAME_NOREPLACE: check, then rename (a short window).
		if _, serr := fs.root.Lstat(newRel); serr == nil {
			return noOverwrite
		}
		return fs.root.Rename(oldRel, newRel)
	}
	switch err {
	case nil:
		return nil
	case unix.EEXIST:
		return noOverwrite
	default:
		return &os.LinkError{Op: "rename", Old: ftpPath(oldRel), New: ftpPath(newRel), Err: err}
	}
}

// inParent runs f with the directory holding rel open (inside the root) and rel's last name.
func (fs *Fs) inParent(op, rel string, f func(dirfd int, name string) error) error {
	d, err := fs.root.Open(path.Dir(rel))
	if err != nil {
		return err
	}
	defer d.Close()
	err = ignoringEINTR(func() error { return f(int(d.Fd()), path.Base(rel)) })
	if errno, ok := err.(syscall.Errno); ok {
		return &os.PathError{Op: op, Path: ftpPath(rel), Err: errno}
	}
	return err
}

// unwrapPath returns the error inside an *os.PathError (whose path is a root-relative name),
// so it can be re-wrapped with the FTP path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// errTooBig is returned by ReadMessageFile for a file over its limit.
var errTooBig = errors.New("file too big for a message")

// ReadMessageFile reads the small regular file name (an FTP path, e.g. "/pub/.message") for a
// message shown to the client. It needs no right (messages are the operator's, and the policy
// reserves their names), never blocks on a FIFO, and refuses anything but a regular file and
// files over max bytes. A missing file gives an error wrapping os.ErrNotExist.
func (fs *Fs) ReadMessageFile(name string, max int64) ([]byte, error) {
	const op = "read"
	rel, err := resolve(op, name)
	if err != nil {
		return nil, err
	}
	f, err := fs.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, &os.PathError{Op: op, Path: ftpPath(rel), Err: errNotRegular}
	}
	if fi.Size() > max {
		return nil, &os.PathError{Op: op, Path: ftpPath(rel), Err: errTooBig}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1)) // +1: a file that grew since the stat shows
	if err != nil {
		return nil, &os.PathError{Op: op, Path: ftpPath(rel), Err: errors.Unwrap(err)}
	}
	if int64(len(b)) > max {
		return nil, &os.PathError{Op: op, Path: ftpPath(rel), Err: errTooBig}
	}
	return b, nil
}
