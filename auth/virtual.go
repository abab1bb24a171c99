package auth

import (
	"errors"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Account is one configured virtual user.
type Account struct {
	Name string
	// Hash is the password hash: bcrypt ($2a$, $2b$ or $2y$) or argon2id
	// in PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash,
	// standard base64 without padding, as the reference argon2 CLI writes
	// it). Plaintext is refused.
	Hash     string
	Root     string // directory the session is confined to; must not be empty
	ReadOnly bool
}

// Virtual is an immutable set of virtual users, safe for concurrent use.
type Virtual struct {
	users map[string]virtualUser
	// unknown stands in for the hash of a name that does not exist, so
	// that failing for it costs as much as failing a wrong password.
	unknown verifier
}

type virtualUser struct {
	user User
	hash verifier
}

// NewVirtual checks every account and returns the set. A name must be
// non-empty valid UTF-8 without whitespace, control characters, ':' or '/';
// the hash must pass CheckHash; Root must not be empty; names must be unique.
// Errors name the account at fault.
func NewVirtual(accounts []Account) (*Virtual, error) {
	v := &Virtual{users: make(map[string]virtualUser, len(accounts))}
	hashes := make([]verifier, 0, len(accounts))
	for i, a := range accounts {
		if err := checkName(a.Name); err != nil {
			return nil, fmt.Errorf("account #%d (name %q): %w", i+1, a.Name, err)
		}
		if _, dup := v.users[a.Name]; dup {
			return nil, fmt.Errorf("account %q: duplicate name", a.Name)
		}
		h, err := parseHash(a.Hash)
		if err != nil {
			return nil, fmt.Errorf("account %q: password hash: %w", a.Name, err)
		}
		if a.Root == "" {
			return nil, fmt.Errorf("account %q: root directory is empty", a.Name)
		}
		v.users[a.Name] = virtualUser{
			user: User{Name: a.Name, Root: a.Root, ReadOnly: a.ReadOnly},
			hash: h,
		}
		hashes = append(hashes, h)
	}
	v.unknown = dummyFor(hashes)
	return v, nil
}

// checkName rejects names that would be ambiguous in logs, in FTP's USER
// line or in passwd-style files.
func checkName(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	if !utf8.ValidString(name) {
		return errors.New("name is not valid UTF-8")
	}
	for _, r := range name {
		switch {
		case unicode.IsSpace(r):
			return errors.New("name contains whitespace")
		case unicode.IsControl(r):
			return errors.New("name contains a control character")
		case r == ':' || r == '/':
			return fmt.Errorf("name contains %q", r)
		}
	}
	return nil
}

// dummyFor returns the verifier used for unknown names: one with the cost
// shared by most accounts (the first such on a tie), so that an unknown name
// fails as slowly as a wrong password for a typical account. Accounts with
// other costs remain distinguishable by timing; keep costs uniform.
func dummyFor(hashes []verifier) verifier {
	if len(hashes) == 0 {
		return dummyBcrypt(bcrypt.DefaultCost)
	}
	count := make(map[string]int)
	best := hashes[0]
	for _, h := range hashes {
		k := h.costKey()
		count[k]++
		if count[k] > count[best.costKey()] {
			best = h
		}
	}
	return best.dummy()
}

// Authenticate verifies name and password. It returns ErrAuthFailed for an
// unknown user or a wrong password, and takes the same time in both cases
// (given uniform hash costs): an unknown name is checked against a dummy hash
// of the accounts' typical cost, so timing does not reveal which names exist.
// Empty passwords never authenticate. The returned User is the caller's to
// keep.
func (v *Virtual) Authenticate(name, password string) (*User, error) {
	if password == "" {
		return nil, ErrAuthFailed
	}
	u, ok := v.users[name]
	h := u.hash
	if !ok {
		h = v.unknown
		if h == nil { // zero Virtual: no users
			h = dummyBcrypt(bcrypt.DefaultCost)
		}
	}
	if !h.verify(password) || !ok {
		return nil, ErrAuthFailed
	}
	user := u.user
	return &user, nil
}

// Names returns the user names, sorted (for logging and check output).
func (v *Virtual) Names() []string {
	names := make([]string, 0, len(v.users))
	for n := range v.users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
