package access

import (
	"fmt"
	"io/fs"
	"strconv"
)

// Umask is the set of permission bits taken away from what a client creates: files get
// 0666 &^ umask, directories 0777 &^ umask (so "022" gives 0644 and 0755, "077" 0600 and 0700).
type Umask uint16

// DefaultUmask is the umask when the config sets none: 022.
const DefaultUmask Umask = 0o022

// ParseUmask reads an octal umask such as "022", "0027" or "077" (one to four octal digits, at
// most 0777).
func ParseUmask(s string) (Umask, error) {
	v, err := parsePerm(s, `"022"`)
	return Umask(v), err
}

// FileMode is the mode of a file created under u.
func (u Umask) FileMode() fs.FileMode { return 0o666 &^ fs.FileMode(u) }

// DirMode is the mode of a directory created under u.
func (u Umask) DirMode() fs.FileMode { return 0o777 &^ fs.FileMode(u) }

// String prints u as the config writes it ("022").
func (u Umask) String() string { return fmt.Sprintf("%03o", uint16(u)) }

// ParseMode reads the octal mode of a rule ("0640", "640"): permission bits only, at most 0777.
func ParseMode(s string) (fs.FileMode, error) {
	v, err := parsePerm(s, `"0640"`)
	return fs.FileMode(v), err
}

// parsePerm reads one to four octal digits holding nine permission bits at most.
func parsePerm(s, example string) (uint16, error) {
	if s == "" || len(s) > 4 {
		return 0, fmt.Errorf("%q is not an octal mode of 1 to 4 digits (example: %s)", s, example)
	}
	v, err := strconv.ParseUint(s, 8, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is not octal (example: %s)", s, example)
	}
	if v > 0o777 {
		return 0, fmt.Errorf("%q sets more than the permission bits 0777 (setuid, setgid and sticky are not allowed)", s)
	}
	return uint16(v), nil
}
