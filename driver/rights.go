package driver

import (
	"os"
	"path"
	"slices"

	"github.com/tunnelftpd/tunnelftpd/access"
)

// The perm fact of MLSD and MLST (RFC 3659 7.5.5) says what this session may
// do with an entry. It is worked out from the entry's mode and owner, the
// directory holding it, the identity the session runs as and the account's
// read-only flag, the same checks the kernel and the driver apply when the
// client tries.

// cred is the identity the session's file operations run with.
type cred struct {
	uid, gid uint32
	groups   []uint32
}

// currentCred is the process's effective identity (a session switches to its
// user's identity before its driver is made).
func currentCred() cred {
	c := cred{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
	if gs, err := os.Getgroups(); err == nil {
		for _, g := range gs {
			c.groups = append(c.groups, uint32(g))
		}
	}
	return c
}

// Access bits, as in access(2).
const (
	mayExec  = 1
	mayWrite = 2
	mayRead  = 4
)

// may reports whether c passes the permission check want (mayRead|…) on an
// entry of mode m owned by uid:gid, as the kernel decides it (root passes
// read and write always, execute if anyone may execute or it is a directory).
func (c cred) may(m os.FileMode, st statData, want uint32) bool {
	if c.uid == 0 {
		if want&mayExec != 0 && !m.IsDir() && m.Perm()&0o111 == 0 {
			return false
		}
		return true
	}
	perm := uint32(m.Perm())
	var bits uint32
	switch {
	case st.uid == c.uid:
		bits = perm >> 6
	case st.gid == c.gid || slices.Contains(c.groups, st.gid):
		bits = perm >> 3
	default:
		bits = perm
	}
	return bits&want == want
}

// dirRights is what the session may do inside one directory: the part of an
// entry's perm fact that depends on the directory holding it.
type dirRights struct {
	change bool // may create, remove and rename entries here (w and x, not read-only)
	sticky bool // sticky directory: only the owner of an entry (or of the directory) may remove it
	uid    uint32
}

// rightsIn works out dirRights for the directory dir (nil when unknown, as
// for the root's parent: nothing may be changed there).
func (fs *Fs) rightsIn(c cred, dir os.FileInfo) dirRights {
	if dir == nil || fs.opts.ReadOnly {
		return dirRights{}
	}
	st, _ := statOf(dir)
	return dirRights{
		change: c.may(dir.Mode(), st, mayWrite|mayExec),
		sticky: dir.Mode()&os.ModeSticky != 0,
		uid:    st.uid,
	}
}

// rightsAt is what the access policy allows at the FTP path p (everything
// without a policy; the mode bits and ReadOnly are checked apart).
func (fs *Fs) rightsAt(p string) access.Rights {
	if fs.opts.Policy == nil {
		return access.AllRights
	}
	return fs.opts.Policy.At(p).Rights
}

// perm is the perm fact of fi, seen at the FTP path at, in a directory with
// rights in; isRoot marks the user's root, which can never be removed or
// renamed. Each letter needs both the kernel's permission (mode bits, owner,
// sticky directory) and the access policy's verb: at the entry itself, or,
// for what a directory lets one create or remove in it, at a name inside it.
func (fs *Fs) perm(c cred, fi os.FileInfo, in dirRights, isRoot bool, at string) string {
	st, _ := statOf(fi)
	m := fi.Mode()
	r := fs.rightsAt(at)
	var p []byte
	removable := in.change && !isRoot &&
		(!in.sticky || c.uid == 0 || c.uid == st.uid || c.uid == in.uid)
	writable := !fs.opts.ReadOnly && c.may(m, st, mayWrite)
	add := func(letter byte, ok bool) {
		if ok {
			p = append(p, letter)
		}
	}
	if m.IsDir() {
		// c: create files, d: remove the directory, e: enter it, f: rename
		// it, l: list it, m: make directories, p: remove entries.
		inside := writable && c.may(m, st, mayExec)
		ri := access.Rights(0)
		if inside {
			ri = fs.rightsAt(path.Join(at, "new"))
		}
		add('c', inside && ri.Has(access.Upload))
		add('d', removable && r.Has(access.Rmdir))
		add('e', c.may(m, st, mayExec))
		add('f', removable && r.Has(access.Rename))
		add('l', c.may(m, st, mayRead|mayExec) && r.Has(access.List))
		add('m', inside && ri.Has(access.Mkdir))
		add('p', inside && ri.Has(access.Delete))
		return string(p)
	}
	// a: append (APPE), d: delete, f: rename, r: retrieve, w: store.
	regular := m.IsRegular()
	add('a', regular && writable && r.Has(access.Append))
	add('d', removable && r.Has(access.Delete))
	add('f', removable && r.Has(access.Rename))
	add('r', regular && c.may(m, st, mayRead) && r.Has(access.Retrieve))
	add('w', regular && writable && r.Has(access.Overwrite))
	return string(p)
}
