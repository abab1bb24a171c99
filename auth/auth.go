// Package auth decides who may log in and as what: it verifies a user name
// and password against configured accounts and yields the account's root
// directory and permissions.
//
// It knows nothing about FTP commands, sessions or the network, and it never
// touches the file system: Root is handed back as configured for the caller
// to confine the session to. Passwords are only ever stored as bcrypt or
// argon2id hashes; plaintext is refused at configuration time.
package auth

import "errors"

// User is an authenticated account.
type User struct {
	Name     string
	Root     string // directory the session is confined to
	ReadOnly bool
}

// ErrAuthFailed is returned for any failed login (unknown user or wrong
// password alike), so callers cannot tell the two apart and neither can
// clients.
var ErrAuthFailed = errors.New("authentication failed")
