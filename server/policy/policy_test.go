package policy

import (
	"strings"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/access"
	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// TestCutLine: a message line longer than maxMessageLine is cut on a character boundary, never
// inside a UTF-8 sequence.
func TestCutLine(t *testing.T) {
	short := "hello"
	if got := cutLine(short); got != short {
		t.Errorf("cutLine(%q) = %q", short, got)
	}
	long := strings.Repeat("a", maxMessageLine-1) + "é" + "tail" // é straddles the limit
	got := cutLine(long)
	if len(got) != maxMessageLine-1 || !strings.HasSuffix(got, "a") {
		t.Errorf("cutLine of a line with é at the limit: %d bytes, ends %q", len(got), got[len(got)-3:])
	}
}

// TestAccessUser: anonymous is its own kind and never a read_only user (a rule's allow may give
// it a write-only /incoming); a virtual user keeps read_only.
func TestAccessUser(t *testing.T) {
	p := &Session{Cfg: &config.Config{}}
	if au := p.AccessUser(&auth.User{Name: "anonymous", Anonymous: true, ReadOnly: true}); au.Kind != access.Anonymous || au.ReadOnly {
		t.Errorf("anonymous: %+v", au)
	}
	if au := p.AccessUser(&auth.User{Name: "ro", ReadOnly: true}); au.Kind != access.Virtual || !au.ReadOnly {
		t.Errorf("read-only virtual user: %+v", au)
	}
}

// TestRefusalTakenOnce: the 421 a class prepared answers one 530 only.
func TestRefusalTakenOnce(t *testing.T) {
	p := &Session{}
	p.RefuseLogin("class full")
	if got := p.TakeRefusal(); got != "class full" {
		t.Errorf("TakeRefusal = %q", got)
	}
	if got := p.TakeRefusal(); got != "" {
		t.Errorf("second TakeRefusal = %q, want none", got)
	}
}
