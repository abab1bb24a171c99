package driver

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listing formats: the `ls -l` line of LIST and STAT, and the RFC 3659 facts
// of MLSD and MLST. Both are appended to one buffer per listing.

// recent is how far back `ls -l` shows the time of day instead of the year
// (GNU ls: half a Gregorian year). Entries dated in the future show the year.
const recent = 15778476 * time.Second

// Facts is a set of RFC 3659 facts that MLSD and MLST show (OPTS MLST selects
// them).
type Facts uint32

// The facts tunnelftpd knows, in the order they are shown.
const (
	FactType     Facts = 1 << iota // type=file, dir, cdir, pdir or OS.unix=…
	FactSize                       // size=bytes (not for directories)
	FactModify                     // modify=YYYYMMDDHHMMSS, UTC
	FactPerm                       // perm=letters of what this user may do (RFC 3659 7.5.5)
	FactUnixMode                   // unix.mode=0644
	FactUnique                     // unique=an id shared by names of one file
)

// AllFacts are all the facts tunnelftpd knows; it is the default selection.
const AllFacts = FactType | FactSize | FactModify | FactPerm | FactUnixMode | FactUnique

var factNames = []string{"type", "size", "modify", "perm", "unix.mode", "unique"}

// ParseFacts reads the fact list of OPTS MLST ("type;size;" or empty for
// none), ignoring case and facts it does not know, as RFC 3659 7.9 says.
func ParseFacts(list string) Facts {
	var f Facts
	for _, name := range strings.Split(list, ";") {
		for i, known := range factNames {
			if strings.EqualFold(strings.TrimSpace(name), known) {
				f |= 1 << i
			}
		}
	}
	return f
}

// String is the selection as OPTS MLST's reply lists it: "type;size;".
func (f Facts) String() string {
	var b strings.Builder
	for i, name := range factNames {
		if f&(1<<i) != 0 {
			b.WriteString(name)
			b.WriteByte(';')
		}
	}
	return b.String()
}

// Feature is FEAT's MLST line after "MLST ": every known fact, with a "*"
// after those selected ("type*;size*;…;").
func (f Facts) Feature() string {
	var b strings.Builder
	for i, name := range factNames {
		b.WriteString(name)
		if f&(1<<i) != 0 {
			b.WriteByte('*')
		}
		b.WriteByte(';')
	}
	return b.String()
}

// SetFacts selects the facts MLSD and MLST show from now on.
func (fs *Fs) SetFacts(f Facts) { fs.facts.Store(uint32(f)) }

// facts is the current selection.
func (fs *Fs) currentFacts() Facts { return Facts(fs.facts.Load()) }

// statOf returns the stat data behind fi (*unix.Stat_t from a listing,
// *syscall.Stat_t from os.Root.Stat), or ok=false.
func statOf(fi os.FileInfo) (st statData, ok bool) {
	switch s := fi.Sys().(type) {
	case *unix.Stat_t:
		return statData{dev: s.Dev, ino: s.Ino, nlink: uint64(s.Nlink), uid: s.Uid, gid: s.Gid, rdev: s.Rdev, mode: s.Mode}, true
	case *syscall.Stat_t:
		return statData{dev: s.Dev, ino: s.Ino, nlink: uint64(s.Nlink), uid: s.Uid, gid: s.Gid, rdev: s.Rdev, mode: s.Mode}, true
	}
	return statData{}, false
}

// statData is the part of a stat the listings show.
type statData struct {
	dev, ino, nlink, rdev uint64
	uid, gid              uint32
	mode                  uint32
}

// modeString is the ten-character mode of `ls -l`: the type letter
// (-dlpscb), then rwx for owner, group and others, with s/S (setuid, setgid)
// and t/T (sticky) in the execute places.
func modeString(m os.FileMode) [10]byte {
	var b [10]byte
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&os.ModeSymlink != 0:
		b[0] = 'l'
	case m&os.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&os.ModeSocket != 0:
		b[0] = 's'
	case m&os.ModeCharDevice != 0:
		b[0] = 'c'
	case m&os.ModeDevice != 0:
		b[0] = 'b'
	case m.IsRegular():
		b[0] = '-'
	default:
		b[0] = '?'
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		b[1+i] = '-'
		if m&(1<<(8-i)) != 0 {
			b[1+i] = rwx[i]
		}
	}
	special := func(at int, set bool, lower, upper byte) {
		if !set {
			return
		}
		if b[at] == 'x' {
			b[at] = lower
		} else {
			b[at] = upper
		}
	}
	special(3, m&os.ModeSetuid != 0, 's', 'S')
	special(6, m&os.ModeSetgid != 0, 's', 'S')
	special(9, m&os.ModeSticky != 0, 't', 'T')
	return b
}

// appendPadded appends s right-aligned (left=false) or left-aligned in width.
func appendPadded(buf []byte, s []byte, width int, left bool) []byte {
	pad := width - len(s)
	if left {
		buf = append(buf, s...)
	}
	for ; pad > 0; pad-- {
		buf = append(buf, ' ')
	}
	if !left {
		buf = append(buf, s...)
	}
	return buf
}

// appendLsLine appends the `ls -l` line of fi under name, with CRLF:
//
//	-rw-r--r--    1 1000     1000          1000 Dec  1 19:26 name
//	drwxr-xr-x    2 1000     1000          4096 Mar  4  2019 old dir
//	crw-rw-rw-    1 0        0           1,   3 Jan  5 10:00 null
//
// Owner and group are numeric ids (as vsftpd shows by default), times UTC.
func appendLsLine(buf []byte, fi os.FileInfo, name string, now time.Time) []byte {
	var num [24]byte
	m := modeString(fi.Mode())
	buf = append(buf, m[:]...)
	st, _ := statOf(fi)
	nlink := st.nlink
	if nlink == 0 {
		nlink = 1
	}
	buf = append(buf, ' ')
	buf = appendPadded(buf, strconv.AppendUint(num[:0], nlink, 10), 4, false)
	buf = append(buf, ' ')
	buf = appendPadded(buf, strconv.AppendUint(num[:0], uint64(st.uid), 10), 8, true)
	buf = append(buf, ' ')
	buf = appendPadded(buf, strconv.AppendUint(num[:0], uint64(st.gid), 10), 8, true)
	buf = append(buf, ' ')
	if fi.Mode()&os.ModeDevice != 0 {
		dev := strconv.AppendUint(num[:0], uint64(unix.Major(st.rdev)), 10)
		dev = append(dev, ',')
		dev = appendPadded(dev, strconv.AppendUint(nil, uint64(unix.Minor(st.rdev)), 10), 4, false)
		buf = appendPadded(buf, dev, 13, false)
	} else {
		buf = appendPadded(buf, strconv.AppendInt(num[:0], fi.Size(), 10), 13, false)
	}
	buf = append(buf, ' ')
	mt := fi.ModTime().UTC()
	if mt.After(now) || now.Sub(mt) > recent {
		buf = mt.AppendFormat(buf, "Jan _2  2006")
	} else {
		buf = mt.AppendFormat(buf, "Jan _2 15:04")
	}
	buf = append(buf, ' ')
	buf = append(buf, name...)
	return append(buf, '\r', '\n')
}

// mlsxType is the type fact's value of an entry; kind overrides it for the
// listed directory ("cdir") and its parent ("pdir").
func mlsxType(m os.FileMode, kind string) string {
	switch {
	case kind != "":
		return kind
	case m.IsDir():
		return "dir"
	case m.IsRegular():
		return "file"
	case m&os.ModeNamedPipe != 0:
		return "OS.unix=fifo"
	case m&os.ModeSocket != 0:
		return "OS.unix=socket"
	case m&os.ModeCharDevice != 0:
		return "OS.unix=chrdev"
	case m&os.ModeDevice != 0:
		return "OS.unix=blkdev"
	}
	return "OS.unix=unknown"
}

// appendFacts appends an MLSD/MLST entry with CRLF: the selected facts, each
// ending in ";", a space, then name.
func appendFacts(buf []byte, facts Facts, fi os.FileInfo, kind, perm, name string) []byte {
	st, hasStat := statOf(fi)
	m := fi.Mode()
	if facts&FactType != 0 {
		buf = append(buf, "type="...)
		buf = append(buf, mlsxType(m, kind)...)
		buf = append(buf, ';')
	}
	if facts&FactSize != 0 && !m.IsDir() {
		buf = append(buf, "size="...)
		buf = strconv.AppendInt(buf, fi.Size(), 10)
		buf = append(buf, ';')
	}
	if facts&FactModify != 0 {
		buf = append(buf, "modify="...)
		buf = fi.ModTime().UTC().AppendFormat(buf, "20060102150405")
		buf = append(buf, ';')
	}
	if facts&FactPerm != 0 {
		buf = append(buf, "perm="...)
		buf = append(buf, perm...)
		buf = append(buf, ';')
	}
	if facts&FactUnixMode != 0 {
		buf = append(buf, "unix.mode="...)
		mode := uint64(m.Perm())
		if hasStat {
			mode = uint64(st.mode & 0o7777)
		}
		buf = append(buf, '0')
		buf = appendPaddedZero(buf, strconv.AppendUint(nil, mode, 8), 3)
		buf = append(buf, ';')
	}
	if facts&FactUnique != 0 && hasStat {
		buf = append(buf, "unique="...)
		buf = strconv.AppendUint(buf, st.dev, 16)
		buf = append(buf, 'g')
		buf = strconv.AppendUint(buf, st.ino, 16)
		buf = append(buf, ';')
	}
	buf = append(buf, ' ')
	buf = append(buf, name...)
	return append(buf, '\r', '\n')
}

// appendPaddedZero appends s with leading zeros up to width.
func appendPaddedZero(buf, s []byte, width int) []byte {
	for i := len(s); i < width; i++ {
		buf = append(buf, '0')
	}
	return append(buf, s...)
}
