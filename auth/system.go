package auth

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// SystemOptions configure login by system accounts.
type SystemOptions struct {
	// Service is the PAM service name (a file in /etc/pam.d). Default "tunnelftpd".
	Service string
	// PAMConfDir, if set, is a directory read instead of /etc/pam.d (tests).
	PAMConfDir string
	// FtpUsers is a file of user names that may never log in, one per line
	// ('#' comments), as wu-ftpd's /etc/ftpusers. "" = none.
	FtpUsers string
	// MinUID refuses accounts with a lower uid (root included). Default 1000.
	MinUID int
	// Shells, if set, is a file of valid login shells (/etc/shells): an
	// account whose shell is not listed is refused.
	Shells string
	// Root is the directory a user is confined to: "" for the home
	// directory, or a path in which %u is replaced by the user name.
	Root string
	// Passwd is the passwd file read for the account's shell. Default "/etc/passwd".
	Passwd string
}

// Refusal is a failed system login with the reason, for the operator's log.
// It matches ErrAuthFailed with errors.Is; the client must see no more.
type Refusal struct {
	Reason    string
	beforePAM bool // refused by the daemon's own policy, PAM not asked
}

func (r *Refusal) Error() string        { return "authentication failed: " + r.Reason }
func (r *Refusal) Is(target error) bool { return target == ErrAuthFailed }

func refuse(format string, args ...any) error { return &Refusal{Reason: fmt.Sprintf(format, args...)} }

// refuseEarly is refuse for a refusal made before PAM was asked.
func refuseEarly(format string, args ...any) error {
	return &Refusal{Reason: fmt.Sprintf(format, args...), beforePAM: true}
}

// System logs in the host's accounts through PAM.
type System struct {
	opts SystemOptions
}

// NewSystem checks the options. It fails when this build has no PAM support
// (built without cgo), saying so.
func NewSystem(opts SystemOptions) (*System, error) {
	if !PAMAvailable {
		return nil, errors.New("system_users needs PAM, but this tunnelftpd was built without cgo; " +
			"rebuild with CGO_ENABLED=1 and a C compiler (Debian: apt-get install gcc; PAM is loaded at run time, no headers needed)")
	}
	if opts.Service == "" {
		opts.Service = "tunnelftpd"
	}
	if opts.Passwd == "" {
		opts.Passwd = "/etc/passwd"
	}
	if opts.Root != "" && !filepath.IsAbs(strings.ReplaceAll(opts.Root, "%u", "x")) {
		return nil, fmt.Errorf("system root %q must be an absolute path", opts.Root)
	}
	for _, f := range []string{opts.FtpUsers, opts.Shells} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
	}
	return &System{opts: opts}, nil
}

// dummyUser is the user name of pamDummy's transactions: not a valid
// account name anywhere (upper case is not allowed by useradd).
const dummyUser = "NOUSER"

// Authenticate checks a system account: the policy (ftpusers, minimum uid,
// shell), then PAM's auth and account stages, then opens a PAM session.
// rhost is the client's address, given to PAM as PAM_RHOST. A refusal
// before PAM still runs a PAM authentication for a user that does not
// exist (pamDummy), so that every refusal does the work of a wrong
// password; PAM's own delay after a failure is turned off, the caller
// delays every failure alike.
func (s *System) Authenticate(name, password, rhost string) (*User, error) {
	u, err := s.authenticate(name, password, rhost)
	var r *Refusal
	if errors.As(err, &r) && r.beforePAM {
		pamDummy(s.opts.Service, s.opts.PAMConfDir, password, rhost)
	}
	return u, err
}

func (s *System) authenticate(name, password, rhost string) (*User, error) {
	if err := checkName(name); err != nil {
		return nil, refuseEarly("invalid user name")
	}
	if password == "" {
		return nil, refuseEarly("empty password")
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, refuseEarly("no such system user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if listed, err := inList(s.opts.FtpUsers, name); err != nil {
		return nil, fmt.Errorf("reading ftpusers: %w", err)
	} else if listed {
		return nil, refuseEarly("user is listed in %s", s.opts.FtpUsers)
	}
	if uid < s.opts.MinUID || uid == 0 {
		return nil, refuseEarly("uid %d is below min_uid %d", uid, s.opts.MinUID)
	}
	if s.opts.Shells != "" {
		shell, err := loginShell(s.opts.Passwd, name)
		if err != nil {
			return nil, fmt.Errorf("reading the shell of %s: %w", name, err)
		}
		if ok, err := inList(s.opts.Shells, shell); err != nil {
			return nil, fmt.Errorf("reading shells: %w", err)
		} else if !ok {
			return nil, refuseEarly("shell %q is not in %s", shell, s.opts.Shells)
		}
	}
	var groups []int
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.Atoi(g); err == nil {
				groups = append(groups, n)
			}
		}
	}
	root := u.HomeDir
	if s.opts.Root != "" {
		root = strings.ReplaceAll(s.opts.Root, "%u", name)
	}
	logout, err := pamLogin(s.opts.Service, s.opts.PAMConfDir, name, password, rhost)
	if err != nil {
		return nil, err
	}
	return &User{Name: name, Root: root, System: true, UID: uid, GID: gid, Groups: groups, Logout: logout}, nil
}

// inList reports whether a line of file (comments and blanks skipped) is
// exactly item. An empty file name means an empty list.
func inList(file, item string) (bool, error) {
	if file == "" {
		return false, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == item {
			return true, nil
		}
	}
	return false, sc.Err()
}

// loginShell reads name's shell from a passwd file (os/user does not give it).
func loginShell(passwd, name string) (string, error) {
	f, err := os.Open(passwd)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[0] == name {
			return fields[6], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s not found in %s (accounts from NSS other than files have no shell check)", name, passwd)
}
