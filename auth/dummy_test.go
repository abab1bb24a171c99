package auth

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func testBcryptCost(t *testing.T, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestDummyHash checks that an unknown name is verified against a real
// bcrypt hash at least as costly as the accounts', which is what makes
// failing for it take as long as a wrong password.
func TestDummyHash(t *testing.T) {
	min := testBcryptCost(t, bcrypt.MinCost)
	five := testBcryptCost(t, bcrypt.MinCost+1)
	tests := []struct {
		name     string
		hashes   []string
		wantCost int
	}{
		{"no accounts", nil, bcrypt.DefaultCost},
		{"one cost", []string{min, min}, bcrypt.MinCost},
		{"most common cost", []string{min, five, five}, bcrypt.MinCost + 1},
		{"tie goes to the first", []string{five, min}, bcrypt.MinCost + 1},
		{"argon2id minority", []string{min, min, testArgon2id(t, "pw")}, bcrypt.MinCost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var accounts []Account
			for i, h := range tt.hashes {
				accounts = append(accounts, Account{Name: string(rune('a' + i)), Hash: h, Root: "/r"})
			}
			v, err := NewVirtual(accounts)
			if err != nil {
				t.Fatal(err)
			}
			d, ok := v.unknown.(*bcryptHash)
			if !ok {
				t.Fatalf("dummy is %T, want a bcrypt hash", v.unknown)
			}
			if err := CheckHash(string(d.hash)); err != nil {
				t.Fatalf("dummy hash is not valid: %v", err)
			}
			cost, err := bcrypt.Cost(d.hash)
			if err != nil {
				t.Fatal(err)
			}
			if cost != tt.wantCost {
				t.Fatalf("dummy cost %d, want %d", cost, tt.wantCost)
			}
			// A mismatch (not a format error) proves bcrypt ran in full.
			if err := bcrypt.CompareHashAndPassword(d.hash, []byte("pw")); !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
				t.Fatalf("comparing with the dummy: %v, want a mismatch", err)
			}
		})
	}
}

func TestDummyHashArgon2id(t *testing.T) {
	h := testArgon2id(t, "pw")
	v, err := NewVirtual([]Account{{Name: "a", Hash: h, Root: "/r"}})
	if err != nil {
		t.Fatal(err)
	}
	real := v.users["a"].hash
	if v.unknown.costKey() != real.costKey() {
		t.Fatalf("dummy %s, want %s", v.unknown.costKey(), real.costKey())
	}
	if v.unknown.verify("pw") {
		t.Fatal("the dummy matched the account's password")
	}
}

// countingVerifier records that verification was attempted; with accept set
// it matches any password.
type countingVerifier struct {
	verifier
	calls  int
	accept bool
}

func (c *countingVerifier) verify(password string) bool {
	c.calls++
	return c.verifier.verify(password) || c.accept
}

// TestUnknownUserIsVerified checks that an unknown name does the hashing
// work rather than returning early.
func TestUnknownUserIsVerified(t *testing.T) {
	v, err := NewVirtual([]Account{{Name: "alice", Hash: testBcryptCost(t, bcrypt.MinCost), Root: "/r"}})
	if err != nil {
		t.Fatal(err)
	}
	c := &countingVerifier{verifier: v.unknown}
	v.unknown = c
	for _, name := range []string{"mallory", "", "Alice"} {
		before := c.calls
		if _, err := v.Authenticate(name, "pw"); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("Authenticate(%q): %v, want ErrAuthFailed", name, err)
		}
		if c.calls != before+1 {
			t.Fatalf("Authenticate(%q) did not verify against the dummy hash", name)
		}
	}
	if u, err := v.Authenticate("alice", "pw"); err != nil || u.Name != "alice" {
		t.Fatalf("known user: %v, %v", u, err)
	}
	if c.calls != 3 {
		t.Fatalf("a known user was verified against the dummy hash")
	}
	// Even a password that matches the dummy hash must not let anyone in.
	c.accept = true
	if u, err := v.Authenticate("mallory", "pw"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("unknown user matching the dummy hash: %v, %v; want ErrAuthFailed", u, err)
	}
}
