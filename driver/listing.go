package driver

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/tunnelftpd/tunnelftpd/access"
)

// Listings (LIST, NLST, MLSD, MLST, STAT with a path) are made here, through
// ftpserverlib's ClientDriverExtensionLister.
//
// Symbolic links are shown as what they lead to, under their own names, the
// way `ls -lL` shows them: a link that resolves inside the root lists with
// its target's type, mode, size, time and unique id, and SIZE, MDTM, RETR,
// CWD and MLST follow it too. Three kinds of link are left out of every
// listing, so that no client sees an entry it then cannot use:
//   - a dangling link, and a link that leads out of the root (os.Root refuses
//     both; every command answers "no such file" for them);
//   - a link to a directory that is the listed directory or one on the way
//     to it (a loop, which would make recursive clients such as `lftp
//     mirror` and `wget -m` walk forever). Such a link still works when
//     named: CWD into it, RETR through it.
//
// Special files (FIFOs, sockets, devices) are listed with their `ls -l`
// letter (p, s, c, b) and an "OS.unix=" type in MLSD; RETR refuses them.

const (
	// maxMatches caps the names one wildcard may match: mget and mdelete
	// of a bigger set should be split up.
	maxMatches = 10000
)

var (
	errTooMany    = fmt.Errorf("the wildcard matches more than %d names; narrow it down", maxMatches)
	errBadPattern = errors.New("bad wildcard pattern")
)

var _ ftpserver.ClientDriverExtensionLister = (*Fs)(nil)

// List is ftpserverlib's ClientDriverExtensionLister: what command shows for
// param (the argument as sent) in the working directory cwd.
//
//   - LIST and STAT: `ls -l` lines; NLST: names. The argument may start
//     with ls options ("-la", ignored unless a file of that name exists) and
//     be a directory (its entries), a file (that file) or, in its last
//     component, a wildcard pattern with *, ? and [...] (the matching entries;
//     a leading "." must be matched explicitly, as in a shell). Files and
//     matches are shown with the argument's directory part as given
//     ("sub/*.txt" lists "sub/a.txt"), and so are NLST's names of a
//     directory's entries, so that clients can use them as they are (mget);
//     LIST and STAT show a directory's entries under their bare names.
//   - MLSD: the facts of a directory's entries, after a "cdir" entry for the
//     directory itself and a "pdir" for its parent (none at the root).
//   - MLST: the facts of one file or directory, under the path as given (the
//     working directory's absolute path when none is given).
func (fs *Fs) List(command, cwd, param string) ([]byte, error) {
	now := time.Now()
	switch command {
	case "MLST":
		return fs.mlst(cwd, param)
	case "MLSD":
		return fs.mlsd(cwd, param)
	case "LIST", "STAT", "NLST":
	default:
		return nil, &Error{Op: "list", Err: fmt.Errorf("%s is not a listing command: %w", command, os.ErrInvalid)}
	}
	arg := fs.stripOptions(cwd, param)
	names, infos, err := fs.match(command, cwd, arg)
	if err != nil {
		return nil, err
	}
	var buf []byte
	for i, fi := range infos {
		if command == "NLST" {
			buf = append(append(buf, names[i]...), '\r', '\n')
		} else {
			buf = appendLsLine(buf, fi, names[i], now)
		}
	}
	return buf, nil
}

// join makes an FTP argument absolute against cwd.
func join(cwd, arg string) string {
	if path.IsAbs(arg) {
		return path.Clean(arg)
	}
	return path.Join("/", cwd, arg)
}

// stripOptions drops leading ls options ("-la", "-l -a") from a LIST/NLST/
// STAT argument, unless a file of that very name exists.
func (fs *Fs) stripOptions(cwd, arg string) string {
	for strings.HasPrefix(arg, "-") {
		if rel, err := resolve("lstat", join(cwd, arg)); err == nil {
			if _, err := fs.root.Lstat(rel); err == nil {
				return arg
			}
		}
		word, rest, _ := strings.Cut(arg, " ")
		if strings.Trim(word[1:], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1") != "" {
			return arg
		}
		arg = strings.TrimLeft(rest, " ")
	}
	return arg
}

// match resolves a LIST/NLST/STAT argument into the entries to show and the
// names to show them under: a directory's entries bare (but after the
// argument for NLST, as mget wants them), a file or wildcard match under
// the argument's directory part as given, as `ls` shows them.
func (fs *Fs) match(command, cwd, arg string) ([]string, []os.FileInfo, error) {
	full := join(cwd, arg)
	rel, err := resolve("list", full)
	if err != nil {
		return nil, nil, err
	}
	fi, err := fs.root.Stat(rel)
	switch {
	case err == nil && fi.IsDir():
		infos, err := fs.listable(rel)
		if err != nil {
			return nil, nil, err
		}
		names := make([]string, len(infos))
		for i, e := range infos {
			names[i] = e.Name()
			if command == "NLST" {
				names[i] = shownName(arg, e.Name())
			}
		}
		return names, infos, nil
	case err == nil:
		name := arg
		if name == "" {
			name = fi.Name()
		}
		return []string{name}, []os.FileInfo{fi}, nil
	}
	dirArg, pattern := path.Split(arg)
	if !hasMeta(pattern) || hasMeta(dirArg) {
		return nil, nil, wrap("list", rel, err)
	}
	if _, perr := path.Match(pattern, ""); perr != nil {
		return nil, nil, &Error{Op: "list", Path: full, Err: errBadPattern}
	}
	dirRel, err := resolve("list", join(cwd, dirArg))
	if err != nil {
		return nil, nil, err
	}
	all, err := fs.listable(dirRel)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	var infos []os.FileInfo
	for _, e := range all {
		if ok, _ := path.Match(pattern, e.Name()); !ok || e.Name()[0] == '.' && pattern[0] != '.' {
			continue
		}
		if len(infos) == maxMatches {
			return nil, nil, &Error{Op: "list", Path: full, Err: errTooMany}
		}
		names = append(names, dirArg+e.Name())
		infos = append(infos, e)
	}
	if len(infos) == 0 {
		return nil, nil, &Error{Op: "list", Path: full, Err: os.ErrNotExist}
	}
	return names, infos, nil
}

// shownName is an entry of the directory named by arg as a listing shows
// it: bare for the working directory, else after the argument as given.
func shownName(arg, name string) string {
	switch {
	case arg == "" || arg == ".":
		return name
	case strings.HasSuffix(arg, "/"):
		return arg + name
	}
	return arg + "/" + name
}

// hasMeta reports whether s holds a wildcard character.
func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[`) }

// mlsd lists a directory's facts, with cdir and pdir entries first.
func (fs *Fs) mlsd(cwd, param string) ([]byte, error) {
	rel, err := resolve("mlsd", join(cwd, param))
	if err != nil {
		return nil, err
	}
	dir, err := fs.root.Stat(rel)
	if err != nil {
		return nil, wrap("mlsd", rel, err)
	}
	if !dir.IsDir() {
		return nil, &Error{Op: "mlsd", Path: ftpPath(rel), Err: errNotDir}
	}
	infos, err := fs.listable(rel)
	if err != nil {
		return nil, err
	}
	facts := fs.currentFacts()
	c := currentCred()
	var parent os.FileInfo
	if rel != "." {
		parent, _ = fs.root.Stat(path.Dir(rel))
	}
	at := ftpPath(rel)
	buf := appendFacts(nil, facts, dir, "cdir", fs.perm(c, dir, fs.rightsIn(c, parent), rel == ".", at), ".")
	if parent != nil {
		var grand os.FileInfo
		if pr := path.Dir(rel); pr != "." {
			grand, _ = fs.root.Stat(path.Dir(pr))
		}
		buf = appendFacts(buf, facts, parent, "pdir", fs.perm(c, parent, fs.rightsIn(c, grand), path.Dir(rel) == ".", path.Dir(at)), "..")
	}
	in := fs.rightsIn(c, dir)
	for _, fi := range infos {
		buf = appendFacts(buf, facts, fi, "", fs.perm(c, fi, in, false, path.Join(at, fi.Name())), fi.Name())
	}
	return buf, nil
}

// mlst gives the facts of one file or directory under the name as given.
func (fs *Fs) mlst(cwd, param string) ([]byte, error) {
	full := join(cwd, param)
	rel, err := resolve("mlst", full)
	if err != nil {
		return nil, err
	}
	fi, err := fs.root.Stat(rel)
	if err != nil {
		return nil, wrap("mlst", rel, err)
	}
	name := param
	if name == "" {
		name = full
	}
	c := currentCred()
	var parent os.FileInfo
	if rel != "." {
		parent, _ = fs.root.Stat(path.Dir(rel))
	}
	return appendFacts(nil, fs.currentFacts(), fi, "", fs.perm(c, fi, fs.rightsIn(c, parent), rel == ".", ftpPath(rel)), name), nil
}

// listable is entries of a directory the client lists: under a policy, list
// must be allowed there.
func (fs *Fs) listable(rel string) ([]os.FileInfo, error) {
	if err := fs.check("list", access.List, rel); err != nil {
		return nil, wrap("list", rel, err)
	}
	return fs.entries(rel)
}

// entries lists the directory rel: one getdents pass, one lstat per entry,
// names with control characters left out (the library writes names into
// replies line by line, so such a name, made outside FTP, could inject a fake
// reply or listing line), then links resolved as the package comment says.
func (fs *Fs) entries(rel string) ([]os.FileInfo, error) {
	d, err := fs.root.Open(rel)
	if err != nil {
		return nil, wrap("readdir", rel, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{Op: "readdir", Path: ftpPath(rel), Err: err}
	}
	shown := names[:0]
	for _, n := range names {
		if !hasControl(n) {
			shown = append(shown, n)
		}
	}
	infos, err := statEntries(d, shown)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, &Error{Op: pe.Op, Path: ftpPath(path.Join(rel, pe.Path)), Err: pe.Err}
		}
		return nil, wrap("readdir", rel, err)
	}
	return fs.resolveLinks(rel, infos), nil
}

// resolveLinks replaces each link among the entries of directory rel by its
// target (under the link's name), or drops it: dangling, leading out, or a
// loop back to a directory on the way to rel.
func (fs *Fs) resolveLinks(rel string, infos []os.FileInfo) []os.FileInfo {
	var onPath map[[2]uint64]bool // dev/ino of rel and its ancestors, when needed
	out := infos[:0]
	for _, fi := range infos {
		if fi.Mode()&os.ModeSymlink == 0 {
			out = append(out, fi)
			continue
		}
		target, err := fs.root.Stat(path.Join(rel, fi.Name()))
		if err != nil {
			continue // dangling, leading out of the root, or a chain too long
		}
		if target.IsDir() {
			if onPath == nil {
				onPath = fs.dirsOnPath(rel)
			}
			if st, ok := statOf(target); !ok || onPath[[2]uint64{st.dev, st.ino}] {
				continue
			}
		}
		out = append(out, &linked{name: fi.Name(), FileInfo: target})
	}
	return out
}

// dirsOnPath returns the identities of the directory rel and of every
// directory on the way to it from the root, links followed.
func (fs *Fs) dirsOnPath(rel string) map[[2]uint64]bool {
	ids := map[[2]uint64]bool{}
	for p := rel; ; p = path.Dir(p) {
		if fi, err := fs.root.Stat(p); err == nil {
			if st, ok := statOf(fi); ok {
				ids[[2]uint64{st.dev, st.ino}] = true
			}
		}
		if p == "." {
			return ids
		}
	}
}

// linked is a link's target listed under the link's name.
type linked struct {
	os.FileInfo
	name string
}

func (l *linked) Name() string { return l.name }
