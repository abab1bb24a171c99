package auth

import "fmt"

// Tunnel is what is known of the SSH tunnel a login comes through, as plain
// values: package ident finds them, auth only reads them.
type Tunnel struct {
	// SSHUser is the owner of the control connection's peer socket, the SSH
	// user whose tunnel it is ("" if unknown).
	SSHUser string
	// Verified says SSHUser may be taken as the tunnel's owner: the peer was
	// identified, and its process, where it could be seen, is an sshd
	// session (a local program of the same user is not a tunnel).
	Verified bool
	// Host is the client's address, handed to PAM as PAM_RHOST.
	Host string
}

// SystemLogin checks a system account: *System does, through PAM.
type SystemLogin interface {
	Authenticate(name, password, rhost string) (*User, error)
}

// LoginOptions are the account sources of a Logins.
type LoginOptions struct {
	// Accounts are the virtual accounts.
	Accounts []Account
	// SSHUsers binds virtual accounts to an SSH user (require_ssh_user):
	// account name → the SSH user whose tunnel its logins must come through.
	// Accounts not in it may come through any tunnel.
	SSHUsers map[string]string
	// AnonymousRoot enables read-only anonymous login ("anonymous" or
	// "ftp", any password) confined to this directory; "" = off.
	AnonymousRoot string
	// System checks the host's accounts, tried last; nil = none.
	System SystemLogin
}

// Logins is the login decision: which source is asked first, what counts
// as anonymous, and whether a login bound to an SSH user came through that
// user's tunnel.
type Logins struct {
	virtual  *Virtual
	sshUsers map[string]string
	anonRoot string
	system   SystemLogin
}

// NewLogins checks the virtual accounts (see NewVirtual).
func NewLogins(o LoginOptions) (*Logins, error) {
	v, err := NewVirtual(o.Accounts)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return &Logins{virtual: v, sshUsers: o.SSHUsers, anonRoot: o.AnonymousRoot, system: o.System}, nil
}

// Authenticate decides a login through tunnel t. It tries, in order: the
// virtual accounts (a match bound to an SSH user is refused unless t is
// that user's verified tunnel), anonymous, the system accounts. A failure
// is ErrAuthFailed, or matches it (Refusal), unless a source itself failed.
func (l *Logins) Authenticate(name, password string, t Tunnel) (*User, error) {
	u, err := l.virtual.Authenticate(name, password)
	switch {
	case err == nil:
		if want, bound := l.sshUsers[u.Name]; bound && (!t.Verified || t.SSHUser != want) {
			return nil, &Refusal{Reason: "not tunnelled by SSH user " + want + " (require_ssh_user)"}
		}
		return u, nil
	case l.anonRoot != "" && (name == "anonymous" || name == "ftp"):
		return &User{Name: name, Root: l.anonRoot, ReadOnly: true, Anonymous: true}, nil
	case l.system != nil:
		return l.system.Authenticate(name, password, t.Host)
	}
	return nil, err
}

// Kind names the kind of account, for the log: system, anonymous or virtual.
func (u *User) Kind() string {
	switch {
	case u.System:
		return "system"
	case u.Anonymous:
		return "anonymous"
	}
	return "virtual"
}
