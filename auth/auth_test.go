package auth

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// testBcrypt returns a cheap bcrypt hash of password with its version
// prefix ("$2a$", "$2b$" or "$2y$") swapped in.
func testBcrypt(t *testing.T, password, prefix string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + string(h[4:])
}

// testArgon2id returns a cheap argon2id hash of password.
func testArgon2id(t *testing.T, password string) string {
	t.Helper()
	h := &argon2idHash{memory: 64, time: 1, threads: 1, salt: []byte("0123456789abcdef")}
	h.key = h.derive(password, 32)
	return h.String()
}

// padArgon2id adds base64 padding to the salt and key of an argon2id hash
// made by testArgon2id (16-byte salt, 32-byte key).
func padArgon2id(h string) string {
	f := strings.Split(h, "$")
	f[4] += "=="
	f[5] += "="
	return strings.Join(f, "$")
}

func TestAuthenticate(t *testing.T) {
	long := strings.Repeat("x", 72)
	accounts := []Account{
		{Name: "alice", Hash: testBcrypt(t, "a-pass", "$2a$"), Root: "/srv/alice"},
		{Name: "bob", Hash: testBcrypt(t, "b-pass", "$2b$"), Root: "/srv/bob", ReadOnly: true},
		{Name: "yves", Hash: testBcrypt(t, "y-pass", "$2y$"), Root: "/srv/yves"},
		{Name: "ada", Hash: testArgon2id(t, "ad-pass"), Root: "/srv/ada"},
		{Name: "padded", Hash: padArgon2id(testArgon2id(t, "p-pass")), Root: "/srv/p"},
		{Name: "long", Hash: testBcrypt(t, long, "$2b$"), Root: "/srv/long"},
		{Name: "émile", Hash: testBcrypt(t, "é-pass", "$2b$"), Root: "/srv/emile"},
	}
	v, err := NewVirtual(accounts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, password string
		want                 *User // nil: want ErrAuthFailed
	}{
		{"bcrypt 2a good", "alice", "a-pass", &User{Name: "alice", Root: "/srv/alice"}},
		{"bcrypt 2a wrong", "alice", "b-pass", nil},
		{"bcrypt 2b good read-only", "bob", "b-pass", &User{Name: "bob", Root: "/srv/bob", ReadOnly: true}},
		{"bcrypt 2b wrong", "bob", "B-pass", nil},
		{"bcrypt 2y good", "yves", "y-pass", &User{Name: "yves", Root: "/srv/yves"}},
		{"bcrypt 2y wrong", "yves", "y-pas", nil},
		{"argon2id good", "ada", "ad-pass", &User{Name: "ada", Root: "/srv/ada"}},
		{"argon2id wrong", "ada", "ad-pasS", nil},
		{"argon2id padded good", "padded", "p-pass", &User{Name: "padded", Root: "/srv/p"}},
		{"utf-8 name good", "émile", "é-pass", &User{Name: "émile", Root: "/srv/emile"}},
		{"72-byte password good", "long", long, &User{Name: "long", Root: "/srv/long"}},
		{"bytes past 72 not ignored", "long", long + "y", nil},
		{"unknown user", "mallory", "a-pass", nil},
		{"unknown user empty password", "mallory", "", nil},
		{"empty user", "", "a-pass", nil},
		{"names are case-sensitive", "Alice", "a-pass", nil},
		{"another user's password", "alice", "ad-pass", nil},
		{"empty password", "alice", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Authenticate(tt.user, tt.password)
			if tt.want == nil {
				if !errors.Is(err, ErrAuthFailed) || got != nil {
					t.Fatalf("Authenticate(%q) = %+v, %v; want nil, ErrAuthFailed", tt.user, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate(%q): %v", tt.user, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Authenticate(%q) = %+v, want %+v", tt.user, *got, *tt.want)
			}
		})
	}
}

func TestAuthenticateReturnsCopy(t *testing.T) {
	v, err := NewVirtual([]Account{{Name: "alice", Hash: testBcrypt(t, "pw", "$2b$"), Root: "/srv/alice", ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := v.Authenticate("alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	u.Root, u.ReadOnly = "/", false
	u, err = v.Authenticate("alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if u.Root != "/srv/alice" || !u.ReadOnly {
		t.Fatalf("changing a returned User changed the set: got %+v", *u)
	}
}

func TestZeroVirtual(t *testing.T) {
	var v Virtual
	if _, err := v.Authenticate("alice", "pw"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("zero Virtual: got %v, want ErrAuthFailed", err)
	}
	if n := v.Names(); len(n) != 0 {
		t.Fatalf("zero Virtual Names() = %q", n)
	}
}

func TestCheckHashAccepts(t *testing.T) {
	b := testBcrypt(t, "pw", "$2b$")
	a := testArgon2id(t, "pw")
	f := strings.Split(a, "$")
	if len(f) != 6 {
		t.Fatalf("testArgon2id made %q", a)
	}
	tests := map[string]string{
		"bcrypt 2a":        "$2a$" + b[4:],
		"bcrypt 2b":        b,
		"bcrypt 2y":        "$2y$" + b[4:],
		"bcrypt cost 31":   "$2b$31$" + b[7:],
		"argon2id":         a,
		"argon2id padded":  padArgon2id(a),
		"argon2id maximum": "$argon2id$v=19$m=1048576,t=100,p=255$" + f[4] + "$" + f[5],
		"argon2id minimum": "$argon2id$v=19$m=8,t=1,p=1$" + f[4] + "$" + f[5],
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			if err := CheckHash(h); err != nil {
				t.Fatalf("CheckHash: %v", err)
			}
		})
	}
}

func TestCheckHashRejects(t *testing.T) {
	b := testBcrypt(t, "pw", "$2b$")
	const (
		salt = "MDEyMzQ1Njc4OWFiY2RlZg"                      // 16 bytes
		key  = "3q2+7w3q2+7w3q2+7w3q2+7w3q2+7w3q2+7w3q2+7w0" // 32 bytes
	)
	argon := func(version, params, salt, key string) string {
		return "$argon2id$" + version + "$" + params + "$" + salt + "$" + key
	}
	if err := CheckHash(argon("v=19", "m=65536,t=3,p=4", salt, key)); err != nil {
		t.Fatalf("the base argon2id hash of this table is rejected: %v", err)
	}
	tests := []struct {
		name, hash, want string
	}{
		{"plaintext", "secret", "plaintext passwords are not accepted"},
		{"plaintext with spaces", "correct horse battery staple", "plaintext passwords are not accepted"},
		{"empty", "", "empty"},
		{"md5crypt", "$1$abc", "not a bcrypt or argon2id hash"},
		{"sha512crypt", "$6$saltsalt$" + strings.Repeat("x", 86), "not a bcrypt or argon2id hash"},
		{"bcrypt truncated", "$2b$xx", "bcrypt: malformed"},
		{"bcrypt unknown minor", "$2z", "bcrypt: unsupported version"},
		{"bcrypt 2x", "$2x$" + b[4:], "bcrypt: unsupported version"},
		{"bcrypt no minor", "$2$" + b[4:], "bcrypt: unsupported version"},
		{"bcrypt cost 3", "$2b$03$" + b[7:], "bcrypt cost 3 is below the minimum 4"},
		{"bcrypt cost 32", "$2b$32$" + b[7:], "bcrypt cost 32 exceeds the maximum 31"},
		{"bcrypt cost not digits", "$2b$1a$" + b[7:], "cost is not a two-digit number"},
		{"bcrypt one-digit cost", "$2b$4$" + b[7:] + "x", "bcrypt: malformed"},
		{"bcrypt too short", b[:59], "bcrypt: malformed"},
		{"bcrypt too long", b + "x", "bcrypt: malformed"},
		{"bcrypt bad character", b[:30] + "!" + b[31:], "invalid character at position 31"},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=4$" + salt + "$" + key, "only argon2id"},
		{"argon2d", "$argon2d$v=19$m=65536,t=3,p=4$" + salt + "$" + key, "only argon2id"},
		{"argon2id wrong version", argon("v=16", "m=65536,t=3,p=4", salt, key), "unsupported version"},
		{"argon2id no version", "$argon2id$m=65536,t=3,p=4$" + salt + "$" + key, "malformed"},
		{"argon2id missing key", "$argon2id$v=19$m=65536,t=3,p=4$" + salt, "malformed"},
		{"argon2id extra field", argon("v=19", "m=65536,t=3,p=4", salt, key) + "$x", "malformed"},
		{"argon2id missing param", argon("v=19", "m=65536,t=3", salt, key), "bad parameters"},
		{"argon2id params out of order", argon("v=19", "t=3,m=65536,p=4", salt, key), "bad parameters"},
		{"argon2id signed param", argon("v=19", "m=+65536,t=3,p=4", salt, key), "bad parameters"},
		{"argon2id empty param", argon("v=19", "m=,t=3,p=4", salt, key), "bad parameters"},
		{"argon2id param overflows", argon("v=19", "m=4294967296,t=3,p=4", salt, key), "out of range"},
		{"argon2id m too big", argon("v=19", "m=4194304,t=3,p=4", salt, key), "argon2id memory 4194304 KiB exceeds the limit of 1048576 KiB"},
		{"argon2id m below 8p", argon("v=19", "m=31,t=3,p=4", salt, key), "below the minimum of 8 KiB per lane"},
		{"argon2id t zero", argon("v=19", "m=65536,t=0,p=4", salt, key), "time cost 0"},
		{"argon2id t too big", argon("v=19", "m=65536,t=101,p=4", salt, key), "time cost 101"},
		{"argon2id p zero", argon("v=19", "m=65536,t=3,p=0", salt, key), "parallelism 0"},
		{"argon2id p too big", argon("v=19", "m=65536,t=3,p=256", salt, key), "parallelism 256"},
		{"argon2id bad base64 salt", argon("v=19", "m=65536,t=3,p=4", "not*base64", key), "salt: invalid base64"},
		{"argon2id bad base64 key", argon("v=19", "m=65536,t=3,p=4", salt, key[:len(key)-1]+"!"), "hash: invalid base64"},
		{"argon2id bad padding", argon("v=19", "m=65536,t=3,p=4", salt+"=", key), "salt: invalid base64"},
		{"argon2id short salt", argon("v=19", "m=65536,t=3,p=4", "YWJjZGVmZw", key), "salt is 7 bytes"},
		{"argon2id short key", argon("v=19", "m=65536,t=3,p=4", salt, "YWJjZGVmZ2hpamtsbW5v"), "hash is 15 bytes"},
		{"argon2id long key", argon("v=19", "m=65536,t=3,p=4", salt, strings.Repeat("QUJD", 43)), "hash is 129 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckHash(tt.hash)
			if err == nil {
				t.Fatal("CheckHash accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.hash != "" && strings.Contains(err.Error(), tt.hash) {
				t.Errorf("error %q contains the input", err)
			}
		})
	}
}

func TestNewVirtualRejects(t *testing.T) {
	good := testBcrypt(t, "pw", "$2b$")
	ok := Account{Name: "alice", Hash: good, Root: "/srv/alice"}
	tests := []struct {
		name     string
		accounts []Account
		want     []string // substrings of the error
	}{
		{"duplicate name", []Account{ok, {Name: "bob", Hash: good, Root: "/b"}, ok}, []string{`account "alice"`, "duplicate"}},
		{"empty name", []Account{ok, {Hash: good, Root: "/x"}}, []string{"account #2", "name is empty"}},
		{"space in name", []Account{{Name: "al ice", Hash: good, Root: "/x"}}, []string{`"al ice"`, "whitespace"}},
		{"tab in name", []Account{{Name: "al\tice", Hash: good, Root: "/x"}}, []string{`"al\tice"`, "whitespace"}},
		{"non-breaking space in name", []Account{{Name: "al\u00a0ice", Hash: good, Root: "/x"}}, []string{"whitespace"}},
		{"control char in name", []Account{{Name: "al\x00ice", Hash: good, Root: "/x"}}, []string{`"al\x00ice"`, "control character"}},
		{"escape in name", []Account{{Name: "al\x1bice", Hash: good, Root: "/x"}}, []string{"control character"}},
		{"colon in name", []Account{{Name: "al:ice", Hash: good, Root: "/x"}}, []string{`"al:ice"`, `':'`}},
		{"slash in name", []Account{{Name: "../alice", Hash: good, Root: "/x"}}, []string{`"../alice"`, `'/'`}},
		{"invalid utf-8 name", []Account{{Name: "al\xffice", Hash: good, Root: "/x"}}, []string{"not valid UTF-8"}},
		{"empty root", []Account{ok, {Name: "bob", Hash: good}}, []string{`account "bob"`, "root directory is empty"}},
		{"plaintext hash", []Account{{Name: "bob", Hash: "hunter2", Root: "/x"}}, []string{`account "bob"`, "plaintext passwords are not accepted"}},
		{"empty hash", []Account{{Name: "bob", Root: "/x"}}, []string{`account "bob"`, "password hash is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVirtual(tt.accounts)
			if err == nil {
				t.Fatalf("NewVirtual accepted it: %q", v.Names())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, a := range tt.accounts {
				if a.Hash != "" && strings.Contains(err.Error(), a.Hash) {
					t.Errorf("error %q contains a password hash", err)
				}
			}
		})
	}
}

func TestNames(t *testing.T) {
	h := testBcrypt(t, "pw", "$2b$")
	v, err := NewVirtual([]Account{
		{Name: "carol", Hash: h, Root: "/c"},
		{Name: "alice", Hash: h, Root: "/a"},
		{Name: "bob", Hash: h, Root: "/b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(v.Names(), ",")
	if got != "alice,bob,carol" {
		t.Fatalf("Names() = %s, want alice,bob,carol", got)
	}
	empty, err := NewVirtual(nil)
	if err != nil {
		t.Fatalf("NewVirtual(nil): %v", err)
	}
	if n := empty.Names(); len(n) != 0 {
		t.Fatalf("empty Names() = %q", n)
	}
}

func TestHashPassword(t *testing.T) {
	max := strings.Repeat("p", 72)
	tests := []struct {
		name, password string
		wantErr        string // empty: want success
	}{
		{"ordinary", "correct horse battery staple", ""},
		{"72 bytes", max, ""},
		{"empty", "", "password is empty"},
		{"73 bytes", max + "p", "password is 73 bytes long; bcrypt uses at most 72"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := HashPassword(tt.password)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("HashPassword error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckHash(h); err != nil {
				t.Fatalf("CheckHash(HashPassword()): %v", err)
			}
			if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != bcrypt.DefaultCost {
				t.Fatalf("cost = %d, %v; want %d", cost, err, bcrypt.DefaultCost)
			}
			v, err := NewVirtual([]Account{{Name: "u", Hash: h, Root: "/u"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Authenticate("u", tt.password); err != nil {
				t.Fatalf("right password: %v", err)
			}
			if _, err := v.Authenticate("u", tt.password[1:]); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("wrong password: got %v, want ErrAuthFailed", err)
			}
		})
	}
}

func TestHashPasswordArgon2id(t *testing.T) {
	if _, err := HashPasswordArgon2id(""); err == nil {
		t.Fatal("HashPasswordArgon2id accepted an empty password")
	}
	h1, err := HashPasswordArgon2id("pw")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := HashPasswordArgon2id("pw")
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Fatal("two hashes of the same password are equal: salt is not random")
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=65536,t=3,p=2$") || strings.Contains(h1, "=$") || strings.HasSuffix(h1, "=") {
		t.Fatalf("unexpected format %q", h1)
	}
	v, err := NewVirtual([]Account{{Name: "u", Hash: h1, Root: "/u"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate("u", "pw"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if _, err := v.Authenticate("u", "pW"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong password: got %v, want ErrAuthFailed", err)
	}
}

// TestHashPasswordArgon2idReference checks interoperability with the
// reference argon2 CLI: echo -n password | argon2 somesalt -id -t 2 -m 16 -p 4 -l 32 -e
func TestHashPasswordArgon2idReference(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"
	v, err := NewVirtual([]Account{{Name: "u", Hash: ref, Root: "/u"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate("u", "password"); err != nil {
		t.Fatalf("reference hash: %v", err)
	}
}
