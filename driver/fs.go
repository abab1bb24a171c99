// Package driver is the only code in tunnelftpd that touches user files: confinement, read-only
// mode, the access policy's hooks and transfer accounting.
//
// An [Fs] is the afero.Fs that ftpserverlib uses as a session's ClientDriver. Every operation goes
// through one [os.Root] opened at the user's root directory, so the kernel-assisted walk of os.Root
// refuses "..", absolute and relative symlinks that lead out, and dangling links whose target would
// be created outside. Nothing here may join a host path and hand it to os.Open, os.Stat or the
// like, and nothing outside this package may open user paths at all.
//
// Downloads and uploads go through [Fs.GetHandle]. It returns a [*File] that embeds *os.File and
// delegates ReadFrom to it, so Go's splice path (STOR) stays zero-copy while the bytes are
// counted; RETR copies through a buffer of its own, or with [Options.Sendfile] goes through
// sendfile (see [File.WriteTo]). It reports each finished transfer exactly once through
// [Options.OnTransfer].
//
// With [Options.Policy] set, every operation asks the policy first, once, with the verb it
// amounts to and the FTP path of its target (see [Policy]); files and directories it creates get
// the policy's mode and group. The policy never sees a byte of a transfer.
//
// Errors name paths relative to the root (as os.Root does) or as FTP paths, never as host paths.
// The one exception is [New], whose error names the directory for the operator's log.
package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
	"github.com/tunnelftpd/tunnelftpd/access"
	"golang.org/x/sys/unix"
)

// Modes given to files and directories created by clients, whatever mode the client or
// ftpserverlib asks for (the library always asks for os.ModePerm). The process umask still applies.
const (
	filePerm os.FileMode = 0o644
	dirPerm  os.FileMode = 0o755
)

// writeFlags are the open flags that can change a file; a read-only session refuses them all.
const writeFlags = os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_TRUNC | os.O_APPEND

var (
	errReadOnly   = fmt.Errorf("read-only session: %w", os.ErrPermission)
	errChown      = fmt.Errorf("changing ownership is not allowed: %w", os.ErrPermission)
	errRootDir    = fmt.Errorf("the root directory cannot be changed: %w", os.ErrPermission)
	errNUL        = fmt.Errorf("file name contains a NUL byte: %w", os.ErrInvalid)
	errNotRegular = errors.New("not a regular file")
)

// Compile-time checks of the interfaces ftpserverlib and afero look for.
var (
	_ afero.Fs                                    = (*Fs)(nil)
	_ afero.Lstater                               = (*Fs)(nil)
	_ ftpserver.ClientDriver                      = (*Fs)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer = (*Fs)(nil)
	_ ftpserver.ClientDriverExtensionFileList     = (*Fs)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir    = (*Fs)(nil)
)

// Options configure a confined file system.
type Options struct {
	// ReadOnly refuses every operation that could create, change or remove a file or directory,
	// with an error wrapping os.ErrPermission (ftpserverlib replies 550). The zero value allows
	// writes.
	ReadOnly bool
	// OnTransfer, if non-nil, is called exactly once for each file returned by GetHandle, after
	// the file is closed. It runs on the goroutine that closes the file, before the client gets
	// its 226 reply, so it should be quick.
	OnTransfer func(Transfer)
	// OnOpen, if non-nil, is called with each file GetHandle hands out, before the library gets
	// it: the session shows the running transfer (File.Progress) until OnTransfer.
	OnOpen func(*File)
	// Policy, if non-nil, decides every operation (on top of ReadOnly) and the mode and group of
	// what is created. Nil allows everything ReadOnly allows, with files 0644 and directories
	// 0755 less the process umask, as before policies existed.
	Policy Policy
	// Facts are the facts MLSD and MLST show until SetFacts changes them;
	// the zero value means AllFacts.
	Facts Facts
	// Sendfile makes RETR hand the file to the kernel (sendfile) instead of copying it through
	// a buffer of RetrChunk bytes (see File.WriteTo for why copying is the default).
	Sendfile bool
}

// Fs is an afero.Fs confined to one directory with os.Root. Safe for use by one FTP session.
//
// Fs implements ftpserverlib's ClientDriver and ClientDriverExtentionFileTransfer, and afero's
// Lstater. It deliberately does not implement ClientDriverExtensionSymlink: a symlink stored
// verbatim would not be followed out by os.Root, but other programs (sftp, a shell) would.
type Fs struct {
	root   *os.Root
	shared *sharedRoot // where root comes from; released by Close
	opts   Options
	facts  atomic.Uint32 // the Facts MLSD and MLST show

	closeOnce sync.Once
	closeErr  error

	mu   sync.Mutex
	open int           // files handed out by GetHandle whose Close has not finished
	idle chan struct{} // closed whenever open == 0
}

// New opens dir (which must exist and be a directory) as the root.
//
// The error, unlike every other error of this package, names dir: it is meant for the
// operator's log, not for the FTP client.
//
// The sessions of a process whose roots are the same directory share one handle to it (see
// sharedRoot): one descriptor per session, the control connection, instead of two.
func New(dir string, opts Options) (*Fs, error) {
	sr, err := openShared(dir)
	if err != nil {
		return nil, fmt.Errorf("driver: open root directory: %w", err)
	}
	idle := make(chan struct{})
	close(idle)
	fs := &Fs{root: sr.root, shared: sr, opts: opts, idle: idle}
	if opts.Facts == 0 {
		opts.Facts = AllFacts
	}
	fs.SetFacts(opts.Facts)
	return fs, nil
}

// Close releases the root directory handle. Files already handed out stay usable, because
// ftpserverlib ends a session before it closes an interrupted transfer's file. Calling Close
// again does nothing and returns the first call's result.
func (fs *Fs) Close() error {
	fs.closeOnce.Do(func() {
		if err := fs.shared.release(); err != nil {
			fs.closeErr = fmt.Errorf("driver: close root directory: %w", err)
		}
	})
	return fs.closeErr
}

// sharedRoot is one open root directory and the sessions using it. A login opens its root
// directory afresh and keeps the shared handle only if it is the same directory (device and
// inode), so a directory moved or replaced at the configured path is seen by the next login,
// while the sessions that had the old one keep it. Methods on os.Root are safe for concurrent
// use. 10,000 idle sessions took 20,000 descriptors without sharing, the whole hard limit of a
// machine the bench ran on (bench/README.md, "scale").
type sharedRoot struct {
	root     *os.Root
	key      string
	dev, ino uint64
	refs     int // guarded by sharedRoots.mu
}

var sharedRoots struct {
	mu sync.Mutex
	m  map[string]*sharedRoot
}

// openShared opens dir and returns the shared handle to it, with one more reference.
func openShared(dir string) (*sharedRoot, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	dev, ino, err := rootID(root)
	if err != nil {
		root.Close()
		return nil, err
	}
	sharedRoots.mu.Lock()
	defer sharedRoots.mu.Unlock()
	if sr := sharedRoots.m[dir]; sr != nil && sr.dev == dev && sr.ino == ino {
		sr.refs++
		root.Close()
		return sr, nil
	}
	sr := &sharedRoot{root: root, key: dir, dev: dev, ino: ino, refs: 1}
	if sharedRoots.m == nil {
		sharedRoots.m = map[string]*sharedRoot{}
	}
	sharedRoots.m[dir] = sr // an older handle for dir lives on until its last session ends
	return sr, nil
}

// rootID is the device and inode of the directory root names.
func rootID(root *os.Root) (dev, ino uint64, err error) {
	fi, err := root.Stat(".")
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, errors.New("no device and inode for the root directory")
	}
	return uint64(st.Dev), uint64(st.Ino), nil
}

// release drops one reference and closes the handle with the last.
func (sr *sharedRoot) release() error {
	sharedRoots.mu.Lock()
	sr.refs--
	last := sr.refs == 0
	if last && sharedRoots.m[sr.key] == sr {
		delete(sharedRoots.m, sr.key)
	}
	sharedRoots.mu.Unlock()
	if !last {
		return nil
	}
	return sr.root.Close()
}

// Wait blocks until every file handed out by GetHandle has been closed (and its OnTransfer has
// returned), or ctx is done.
//
// The server calls it before a single-session process exits, because ftpserverlib calls
// ClientDisconnected before an interrupted transfer's file is closed.
func (fs *Fs) Wait(ctx context.Context) error {
	fs.mu.Lock()
	idle := fs.idle
	fs.mu.Unlock()
	select {
	case <-idle:
		return nil
	default:
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		fs.mu.Lock()
		n := fs.open
		fs.mu.Unlock()
		return fmt.Errorf("driver: %d transfer(s) still open: %w", n, ctx.Err())
	}
}

// OpenTransfers is the number of files handed out by GetHandle whose Close has
// not finished: the transfers running now.
func (fs *Fs) OpenTransfers() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.open
}

// acquire and release count the files handed out by GetHandle, for Wait.
func (fs *Fs) acquire() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.open == 0 {
		fs.idle = make(chan struct{})
	}
	fs.open++
}

func (fs *Fs) release() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.open--
	if fs.open == 0 {
		close(fs.idle)
	}
}

// resolve maps an FTP path (always absolute, "/a/b") to a path relative to the root ("a/b", or
// "." for the root itself). path.Clean of "/"+name cannot climb above "/", and it drops trailing
// slashes, so "link/" names the link, not the directory it points to.
func resolve(op, name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", &Error{Op: op, Err: errNUL}
	}
	rel := strings.TrimPrefix(path.Clean("/"+name), "/")
	if rel == "" {
		rel = "."
	}
	return rel, nil
}

// ftpPath is the client's view of rel, used in errors and transfer records.
func ftpPath(rel string) string {
	if rel == "." {
		return "/"
	}
	return "/" + rel
}

// writable resolves name for an operation that changes something.
func (fs *Fs) writable(op, name string) (string, error) {
	rel, err := resolve(op, name)
	if err != nil {
		return "", err
	}
	if fs.opts.ReadOnly {
		return "", &Error{Op: op, Path: ftpPath(rel), Err: errReadOnly}
	}
	return rel, nil
}

// changeable resolves name for an operation that must never apply to the root itself
// (the root belongs to the operator's configuration, not to the user).
func (fs *Fs) changeable(op, name string) (string, error) {
	rel, err := fs.writable(op, name)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return "", &Error{Op: op, Path: "/", Err: errRootDir}
	}
	return rel, nil
}

// Name returns the name of this file system type.
func (fs *Fs) Name() string { return "tunnelftpd" }

// Create creates or truncates the named file, with mode 0644 (less the umask).
func (fs *Fs) Create(name string) (afero.File, error) {
	return fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm)
}

// Open opens the named file or directory for reading. It returns the bare *os.File, which keeps
// zero-copy transfers and fd-relative directory listings.
func (fs *Fs) Open(name string) (afero.File, error) {
	return fs.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens the named file with the given flags. perm is ignored: a file it creates gets
// mode 0644 (less the umask). Flags that can change the file are refused in a read-only session.
func (fs *Fs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := fs.openFile("open", name, flag)
	if err != nil {
		return nil, err // never a typed-nil *os.File inside an afero.File
	}
	return f, nil
}

// openFile is OpenFile's work, its errors naming the FTP path (wrap).
func (fs *Fs) openFile(op, name string, flag int) (*os.File, error) {
	f, err := fs.openFileAt(op, name, flag)
	if err != nil {
		rel, _ := resolve(op, name)
		return nil, wrap(op, rel, err)
	}
	return f, nil
}

func (fs *Fs) openFileAt(op, name string, flag int) (*os.File, error) {
	if flag&writeFlags != 0 {
		rel, err := fs.writable(op, name)
		if err != nil {
			return nil, err
		}
		if fs.opts.Policy != nil {
			return fs.openWrite(op, rel, flag, 0, fs.root.OpenFile)
		}
		return fs.root.OpenFile(rel, flag, filePerm)
	}
	rel, err := resolve(op, name)
	if err != nil {
		return nil, err
	}
	f, err := fs.root.OpenFile(rel, flag, filePerm)
	if err != nil || fs.opts.Policy == nil {
		return f, err
	}
	// Reading a directory handle lists it; reading a file retrieves it.
	v := access.Retrieve
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		v = access.List
	}
	if err := fs.check(op, v, rel); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// Mkdir creates the named directory with mode 0755 (less the umask), or with the policy's mode
// and group; perm is ignored.
func (fs *Fs) Mkdir(name string, perm os.FileMode) error {
	rel, err := fs.writable("mkdir", name)
	if err != nil {
		return err
	}
	return wrap("mkdir", rel, fs.mkdir(rel))
}

// MkdirAll creates the named directory and any missing parents with mode 0755 (less the umask),
// or, under a policy, each one as Mkdir would (mkdir allowed at each); perm is ignored.
func (fs *Fs) MkdirAll(name string, perm os.FileMode) error {
	rel, err := fs.writable("mkdir", name)
	if err != nil {
		return err
	}
	if fs.opts.Policy == nil {
		return wrap("mkdir", rel, fs.root.MkdirAll(rel, dirPerm))
	}
	if rel == "." {
		return nil
	}
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		sub := rel[:i]
		fi, err := fs.root.Stat(sub)
		if err == nil && fi.IsDir() {
			continue
		}
		if err := fs.mkdir(sub); err != nil && !errors.Is(err, os.ErrExist) {
			return wrap("mkdir", sub, err)
		}
	}
	return nil
}

// Remove removes the named file (DELE): anything but a directory (RMD, that is RemoveDir,
// removes those), a symlink itself wherever it points. The kernel tells a directory (unlinkat
// without AT_REMOVEDIR), so one swapped in meanwhile is refused too. The root itself is refused.
// Under a policy it needs delete.
func (fs *Fs) Remove(name string) error {
	rel, err := fs.changeable("remove", name)
	if err != nil {
		return err
	}
	if err := fs.check("remove", access.Delete, rel); err != nil {
		return wrap("remove", rel, err)
	}
	return wrap("remove", rel, fs.inParent("remove", rel, func(dirfd int, name string) error {
		err := unix.Unlinkat(dirfd, name, 0)
		// Unlinking a directory fails with EISDIR on Linux (EPERM in POSIX).
		if err == unix.EISDIR || err == unix.EPERM && isDirAt(dirfd, name) {
			return errIsDir
		}
		return err
	}))
}

// RemoveDir removes an empty directory (RMD). Unlike Remove, it refuses
// anything that is not a directory, a symlink to one included.
func (fs *Fs) RemoveDir(name string) error {
	rel, err := fs.changeable("rmdir", name)
	if err != nil {
		return err
	}
	fi, err := fs.root.Lstat(rel)
	if err != nil {
		return wrap("rmdir", rel, err)
	}
	if !fi.IsDir() {
		return &Error{Op: "rmdir", Path: ftpPath(rel), Err: syscall.ENOTDIR}
	}
	if err := fs.check("rmdir", access.Rmdir, rel); err != nil {
		return wrap("rmdir", rel, err)
	}
	return wrap("rmdir", rel, fs.root.Remove(rel))
}

// ReadDir lists a directory the way listings show it (see [Fs.List]):
// links that resolve inside the root as their targets, under their own
// names; dangling links, links that lead out and links back to a directory
// on the way (loops) left out; names holding control characters left out.
//
// Under a policy it needs list on the directory: refusing it hides the directory's names but
// leaves uploads into it alone.
func (fs *Fs) ReadDir(name string) ([]os.FileInfo, error) {
	rel, err := resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	if err := fs.check("readdir", access.List, rel); err != nil {
		return nil, wrap("readdir", rel, err)
	}
	return fs.entries(rel)
}

// hasControl reports whether s holds an ASCII control character.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

// RemoveAll removes the named path and everything below it (ftpserverlib's SITE RMDIR). The root
// itself is refused. A symlink is removed, never followed. Under a policy it needs both delete
// and rmdir at the path (what is below it is not asked one by one).
func (fs *Fs) RemoveAll(name string) error {
	rel, err := fs.changeable("removeall", name)
	if err != nil {
		return err
	}
	if fs.opts.Policy != nil {
		d := fs.opts.Policy.At(ftpPath(rel))
		if err := denied("removeall", d, access.Delete); err != nil {
			return wrap("removeall", rel, err)
		}
		if err := denied("removeall", d, access.Rmdir); err != nil {
			return wrap("removeall", rel, err)
		}
	}
	return wrap("removeall", rel, fs.root.RemoveAll(rel))
}

// Rename renames oldname to newname, both inside the root. Renaming the root, or over it, is
// refused. Under a policy it needs rename at both paths, and replacing what is at newname also
// needs overwrite there.
func (fs *Fs) Rename(oldname, newname string) error {
	oldRel, err := fs.changeable("rename", oldname)
	if err != nil {
		return err
	}
	newRel, err := fs.changeable("rename", newname)
	if err != nil {
		return err
	}
	// The error names the old path: the client named both, and the new name is the likelier
	// culprit only for "exists" or a missing parent, which the old name still explains.
	return wrap("rename", oldRel, fs.rename(oldRel, newRel))
}

// Stat returns a FileInfo describing the named file, following symlinks that stay in the root.
func (fs *Fs) Stat(name string) (os.FileInfo, error) {
	rel, err := resolve("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := fs.root.Stat(rel)
	if err != nil {
		return nil, wrap("stat", rel, err)
	}
	return fi, nil
}

// LstatIfPossible returns a FileInfo describing the named file without following a final
// symlink. The boolean is always true.
func (fs *Fs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	rel, err := resolve("lstat", name)
	if err != nil {
		return nil, true, err
	}
	fi, err := fs.root.Lstat(rel)
	if err != nil {
		return nil, true, wrap("lstat", rel, err)
	}
	return fi, true, nil
}

// Chmod changes the permission bits of the named file. Only the nine permission bits of mode are
// applied: setuid, setgid and sticky bits are dropped. The root itself is refused. Under a policy
// it needs overwrite at the path, and is refused where a rule sets the mode.
func (fs *Fs) Chmod(name string, mode os.FileMode) error {
	rel, err := fs.changeable("chmod", name)
	if err != nil {
		return err
	}
	if fs.opts.Policy != nil {
		if err := fs.chmodAllowed(rel); err != nil {
			return err
		}
	}
	return wrap("chmod", rel, fs.root.Chmod(rel, mode.Perm()))
}

// Chown is always refused with an error wrapping os.ErrPermission: clients never change
// ownership.
func (fs *Fs) Chown(name string, uid, gid int) error {
	rel, err := resolve("chown", name)
	if err != nil {
		return err
	}
	return &Error{Op: "chown", Path: ftpPath(rel), Err: errChown}
}

// Chtimes changes the access and modification times of the named file (MFMT).
func (fs *Fs) Chtimes(name string, atime, mtime time.Time) error {
	rel, err := fs.writable("chtimes", name)
	if err != nil {
		return err
	}
	if err := fs.check("chtimes", access.Mfmt, rel); err != nil {
		return wrap("chtimes", rel, err)
	}
	return wrap("chtimes", rel, fs.root.Chtimes(rel, atime, mtime))
}
