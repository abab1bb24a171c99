package driver

import (
	"io/fs"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Listing a directory is one getdents pass for the names, then one lstat per
// entry, relative to the open directory. Large directories are stat'ed by a
// few goroutines at once, each over its own slice of the names, so the order
// stays the directory's: on a busy directory the lstat calls are most of the
// time of a LIST or MLSD.

// parallelStatMin is the size from which a listing's lstat calls are spread
// over several goroutines; below it, starting them costs more than it saves.
const parallelStatMin = 512

// maxStatWorkers bounds the goroutines of one listing.
const maxStatWorkers = 4

// statEntries lstats names inside the directory open as dir and returns their
// FileInfos in the same order. Entries removed since the names were read are
// left out, as os.File.Readdir does.
func statEntries(dir *os.File, names []string) ([]os.FileInfo, error) {
	dfd := int(dir.Fd())
	infos := make([]os.FileInfo, len(names))
	stats := make([]fileStat, len(names))
	errs := make([]error, len(names))
	one := func(i int) {
		st := &stats[i]
		err := ignoringEINTR(func() error { return unix.Fstatat(dfd, names[i], &st.sys, unix.AT_SYMLINK_NOFOLLOW) })
		switch {
		case err == nil:
			st.name = names[i]
			infos[i] = st
		case err == unix.ENOENT:
			// Gone since getdents: not listed.
		default:
			errs[i] = &os.PathError{Op: "lstat", Path: names[i], Err: err}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), maxStatWorkers)
	if len(names) < parallelStatMin || workers < 2 {
		for i := range names {
			one(i)
		}
	} else {
		var wg sync.WaitGroup
		chunk := (len(names) + workers - 1) / workers
		for lo := 0; lo < len(names); lo += chunk {
			hi := min(lo+chunk, len(names))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := lo; i < hi; i++ {
					one(i)
				}
			}()
		}
		wg.Wait()
	}
	out := infos[:0]
	for i, fi := range infos {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if fi != nil {
			out = append(out, fi)
		}
	}
	return out, nil
}

func ignoringEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

// fileStat is an os.FileInfo from an lstat, as os.Lstat builds it, except
// that Sys returns a *unix.Stat_t.
type fileStat struct {
	name string
	sys  unix.Stat_t
}

func (fs *fileStat) Name() string       { return fs.name }
func (fs *fileStat) Size() int64        { return fs.sys.Size }
func (fs *fileStat) IsDir() bool        { return fs.Mode().IsDir() }
func (fs *fileStat) ModTime() time.Time { return time.Unix(fs.sys.Mtim.Unix()) }
func (fs *fileStat) Sys() any           { return &fs.sys }

// Mode converts st_mode the way the os package does.
func (fs *fileStat) Mode() fs.FileMode {
	m := fs.sys.Mode
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}
