package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// maxBcryptPassword is the number of password bytes bcrypt looks at; it
// silently ignores the rest, so longer passwords are refused instead.
const maxBcryptPassword = 72

// Limits on argon2id parameters read from the configuration. The memory cap
// keeps one login from claiming more than 1 GiB; the others reject values
// that are either weak or absurd.
const (
	argon2MaxMemoryKiB = 1 << 20
	argon2MaxTime      = 100
	argon2MaxThreads   = 255
	argon2MinSalt      = 8
	argon2MinKey       = 16
	argon2MaxKey       = 128
)

// Parameters used by HashPasswordArgon2id.
const (
	argon2DefaultMemoryKiB = 64 * 1024
	argon2DefaultTime      = 3
	argon2DefaultThreads   = 2
	argon2DefaultSalt      = 16
	argon2DefaultKey       = 32
)

var errNotAHash = errors.New("not a bcrypt or argon2id hash (plaintext passwords are not accepted); make one with 'tunnelftpd passwd'")

// verifier checks a password against one parsed hash.
type verifier interface {
	// verify reports whether password matches. It does the full hashing
	// work whatever the outcome, except for inputs it rejects outright
	// regardless of the hash (see bcryptHash.verify).
	verify(password string) bool
	// costKey identifies the hash scheme and work parameters: two
	// verifiers with the same costKey take the same time to verify.
	costKey() string
	// dummy returns a verifier with the same cost that no known password
	// matches, used for unknown user names.
	dummy() verifier
}

// CheckHash returns nil if s is a supported, well-formed password hash,
// else an error saying what is wrong, phrased for an operator reading a
// config error. The error never quotes s (at most a parsed number such as a
// cost), since s may be a plaintext password pasted by mistake.
func CheckHash(s string) error {
	_, err := parseHash(s)
	return err
}

// parseHash parses a bcrypt or argon2id hash. Errors must not quote s.
func parseHash(s string) (verifier, error) {
	switch {
	case s == "":
		return nil, errors.New("password hash is empty; make one with 'tunnelftpd passwd'")
	case strings.HasPrefix(s, "$2"):
		return parseBcrypt(s)
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$argon2i$"), strings.HasPrefix(s, "$argon2d$"):
		return nil, errors.New("argon2i and argon2d hashes are not supported, only argon2id; make one with 'tunnelftpd passwd'")
	default:
		return nil, errNotAHash
	}
}

// HashPassword returns a bcrypt hash of password at bcrypt.DefaultCost.
func HashPassword(password string) (string, error) {
	if err := checkNewPassword(password); err != nil {
		return "", err
	}
	if len(password) > maxBcryptPassword {
		return "", fmt.Errorf("password is %d bytes long; bcrypt uses at most %d", len(password), maxBcryptPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: hashing password: %w", err)
	}
	return string(h), nil
}

// HashPasswordArgon2id returns an argon2id hash of password in PHC string
// format ($argon2id$v=19$m=65536,t=3,p=2$salt$key, unpadded base64), with a
// random 16-byte salt and a 32-byte key.
func HashPasswordArgon2id(password string) (string, error) {
	if err := checkNewPassword(password); err != nil {
		return "", err
	}
	salt := make([]byte, argon2DefaultSalt)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id: generating salt: %w", err)
	}
	h := &argon2idHash{
		memory:  argon2DefaultMemoryKiB,
		time:    argon2DefaultTime,
		threads: argon2DefaultThreads,
		salt:    salt,
	}
	h.key = h.derive(password, argon2DefaultKey)
	return h.String(), nil
}

func checkNewPassword(password string) error {
	if password == "" {
		return errors.New("password is empty")
	}
	return nil
}

// bcryptAlphabet is bcrypt's own base64 alphabet (not the standard one).
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// bcryptHash is a parsed bcrypt hash: $2b$<cost>$<22 salt><31 hash>.
type bcryptHash struct {
	hash []byte
	cost int
}

func parseBcrypt(s string) (*bcryptHash, error) {
	const (
		prefixLen = len("$2b$10$")
		total     = prefixLen + 22 + 31
	)
	if len(s) < 4 || s[3] != '$' || !strings.ContainsRune("aby", rune(s[2])) {
		return nil, errors.New("bcrypt: unsupported version; want $2a$, $2b$ or $2y$")
	}
	if len(s) != total || s[6] != '$' {
		return nil, fmt.Errorf("bcrypt: malformed hash; want $2b$<two-digit cost>$ followed by 53 characters, %d in all", total)
	}
	if !isDigit(s[4]) || !isDigit(s[5]) {
		return nil, errors.New("bcrypt: malformed hash; cost is not a two-digit number")
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if cost < bcrypt.MinCost {
		return nil, fmt.Errorf("bcrypt cost %d is below the minimum %d", cost, bcrypt.MinCost)
	}
	if cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost %d exceeds the maximum %d", cost, bcrypt.MaxCost)
	}
	for i := prefixLen; i < len(s); i++ {
		if strings.IndexByte(bcryptAlphabet, s[i]) < 0 {
			return nil, fmt.Errorf("bcrypt: malformed hash; invalid character at position %d", i+1)
		}
	}
	return &bcryptHash{hash: []byte(s), cost: cost}, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (h *bcryptHash) verify(password string) bool {
	// bcrypt ignores bytes past the 72nd, so such a password would match
	// on its prefix alone. Refusing depends only on the input, not on
	// the account, so it reveals nothing about which names exist.
	if len(password) > maxBcryptPassword {
		return false
	}
	return bcrypt.CompareHashAndPassword(h.hash, []byte(password)) == nil
}

func (h *bcryptHash) costKey() string { return fmt.Sprintf("bcrypt cost=%d", h.cost) }

// dummyBcryptTail is a 22-character salt and an all-zero 31-character hash.
// bcrypt does the same work for any salt, and no known password hashes to
// zeros, so the comparison simply fails.
const dummyBcryptTail = "piYQVO3CmXpsgcpAixZc2e" + "..............................."

func (h *bcryptHash) dummy() verifier { return dummyBcrypt(h.cost) }

func dummyBcrypt(cost int) *bcryptHash {
	return &bcryptHash{hash: fmt.Appendf(nil, "$2b$%02d$%s", cost, dummyBcryptTail), cost: cost}
}

// argon2idHash is a parsed argon2id hash in PHC string format.
type argon2idHash struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func parseArgon2id(s string) (*argon2idHash, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	f := strings.Split(s, "$")
	if len(f) != 6 {
		return nil, errors.New("argon2id: malformed hash; want $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>")
	}
	if f[2] != "v=19" {
		return nil, errors.New("argon2id: unsupported version; want v=19")
	}
	h := &argon2idHash{}
	if err := h.parseParams(f[3]); err != nil {
		return nil, err
	}
	var err error
	if h.salt, err = decodeB64(f[4]); err != nil {
		return nil, fmt.Errorf("argon2id: salt: %w", err)
	}
	if len(h.salt) < argon2MinSalt {
		return nil, fmt.Errorf("argon2id salt is %d bytes, below the minimum %d", len(h.salt), argon2MinSalt)
	}
	if h.key, err = decodeB64(f[5]); err != nil {
		return nil, fmt.Errorf("argon2id: hash: %w", err)
	}
	if len(h.key) < argon2MinKey || len(h.key) > argon2MaxKey {
		return nil, fmt.Errorf("argon2id hash is %d bytes, want %d to %d", len(h.key), argon2MinKey, argon2MaxKey)
	}
	return h, nil
}

// parseParams parses "m=65536,t=3,p=4", in that order as the reference
// implementation writes it, and checks the limits.
func (h *argon2idHash) parseParams(field string) error {
	badParams := errors.New("argon2id: bad parameters; want m=<KiB>,t=<passes>,p=<lanes> with decimal numbers")
	parts := strings.Split(field, ",")
	if len(parts) != 3 {
		return badParams
	}
	var vals [3]uint32
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(parts[i], name)
		if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
			return badParams
		}
		n, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return fmt.Errorf("argon2id: bad parameters; %s is out of range", strings.TrimSuffix(name, "="))
		}
		vals[i] = uint32(n)
	}
	m, t, p := vals[0], vals[1], vals[2]
	switch {
	case p < 1 || p > argon2MaxThreads:
		return fmt.Errorf("argon2id parallelism %d is outside 1 to %d", p, argon2MaxThreads)
	case t < 1 || t > argon2MaxTime:
		return fmt.Errorf("argon2id time cost %d is outside 1 to %d", t, argon2MaxTime)
	case m > argon2MaxMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB exceeds the limit of %d KiB", m, argon2MaxMemoryKiB)
	case m < 8*p:
		return fmt.Errorf("argon2id memory %d KiB is below the minimum of 8 KiB per lane (%d KiB for p=%d)", m, 8*p, p)
	}
	h.memory, h.time, h.threads = m, t, uint8(p)
	return nil
}

// decodeB64 decodes standard base64, unpadded as the reference argon2 CLI
// writes it, or padded. Its errors do not quote the input.
func decodeB64(s string) ([]byte, error) {
	enc := base64.RawStdEncoding
	if strings.HasSuffix(s, "=") {
		enc = base64.StdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("invalid base64")
	}
	return b, nil
}

func (h *argon2idHash) derive(password string, keyLen int) []byte {
	return argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(keyLen))
}

func (h *argon2idHash) verify(password string) bool {
	return subtle.ConstantTimeCompare(h.derive(password, len(h.key)), h.key) == 1
}

func (h *argon2idHash) costKey() string {
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d salt=%d key=%d", h.memory, h.time, h.threads, len(h.salt), len(h.key))
}

func (h *argon2idHash) dummy() verifier {
	// All-zero salt and key: IDKey does the same work, and no password
	// derives an all-zero key in practice.
	return &argon2idHash{
		memory:  h.memory,
		time:    h.time,
		threads: h.threads,
		salt:    make([]byte, len(h.salt)),
		key:     make([]byte, len(h.key)),
	}
}

// String returns the hash in PHC string format.
func (h *argon2idHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.memory, h.time, h.threads,
		base64.RawStdEncoding.EncodeToString(h.salt),
		base64.RawStdEncoding.EncodeToString(h.key))
}
