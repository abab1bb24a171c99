// Package auth decides who may log in and as what (Logins): the order in
// which the account sources are asked (virtual accounts, anonymous, the
// host's accounts through PAM) and require_ssh_user, given the tunnel's
// owner as plain values (Tunnel). It verifies a user name and password and
// yields the account's root directory, permissions and, for a system
// account, the identity the session must run as.
//
// It knows nothing about FTP commands, sessions or sockets, and it never
// opens user files: Root is handed back as configured for the caller to
// confine the session to. The only files it reads are the host's account
// lists for system accounts (ftpusers, /etc/shells, /etc/passwd) and what
// PAM reads. Passwords are only ever stored as bcrypt or argon2id hashes;
// plaintext is refused at configuration time.
package auth

import "errors"

// User is an authenticated account.
type User struct {
	Name     string
	Root     string // directory the session is confined to
	ReadOnly bool

	// Anonymous is set for a read-only anonymous login.
	Anonymous bool

	// System is set for a system account (PAM): the session must run with
	// UID, GID and Groups, and call Logout when it ends.
	System bool
	UID    int
	GID    int
	Groups []int
	// Logout closes the PAM session of a system account (nil otherwise).
	Logout func() error
}

// ErrAuthFailed is returned for any failed login (unknown user or wrong
// password alike), so callers cannot tell the two apart and neither can
// clients.
var ErrAuthFailed = errors.New("authentication failed")
