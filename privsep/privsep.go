// Package privsep switches a process to another account for good: the
// supplementary groups, then the real, effective and saved gid, then uid.
// It knows nothing about FTP; the server calls it right after a login and
// before the session touches any file.
package privsep

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Identity is an account to run as.
type Identity struct {
	Name   string
	UID    int
	GID    int
	Groups []int
}

// Lookup returns the identity of a user name, with its groups.
func Lookup(name string) (Identity, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return Identity{}, fmt.Errorf("looking up user %q: %w", name, err)
	}
	id := Identity{Name: name}
	id.UID, _ = strconv.Atoi(u.Uid)
	id.GID, _ = strconv.Atoi(u.Gid)
	gids, err := u.GroupIds()
	if err != nil {
		return Identity{}, fmt.Errorf("groups of %q: %w", name, err)
	}
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			id.Groups = append(id.Groups, n)
		}
	}
	return id, nil
}

// Drop makes every thread of the process run as id, with no way back: the
// real, effective and saved ids all change. It must be called as root. It
// checks the result and fails rather than continue half-switched.
func Drop(id Identity) error {
	if id.UID == 0 {
		return fmt.Errorf("refusing to run a session as root (user %q)", id.Name)
	}
	groups := id.Groups
	if len(groups) == 0 {
		groups = []int{id.GID}
	}
	// Go applies these to all threads (AllThreadsSyscall) on Linux.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups for %q: %w", id.Name, err)
	}
	if err := syscall.Setresgid(id.GID, id.GID, id.GID); err != nil {
		return fmt.Errorf("setresgid(%d) for %q: %w", id.GID, id.Name, err)
	}
	if err := syscall.Setresuid(id.UID, id.UID, id.UID); err != nil {
		return fmt.Errorf("setresuid(%d) for %q: %w", id.UID, id.Name, err)
	}
	r, e, s := unix.Getresuid()
	if r != id.UID || e != id.UID || s != id.UID {
		return fmt.Errorf("uid is %d/%d/%d after switching to %q (%d)", r, e, s, id.Name, id.UID)
	}
	if err := syscall.Setresuid(0, 0, 0); err == nil {
		return fmt.Errorf("could regain root after switching to %q", id.Name)
	}
	return nil
}

// IsRoot reports whether the process runs with effective uid 0.
func IsRoot() bool { return syscall.Geteuid() == 0 }
