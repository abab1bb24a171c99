package servertest_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/internal/servertest"
	"github.com/tunnelftpd/tunnelftpd/server"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

func build(c *config.Config, log *slog.Logger) (servertest.Serving, error) {
	return server.New(c, server.Options{Log: log})
}

// TestStart: the helper's server takes both accounts, keeps them in their
// roots, applies Mutate and logs to Logs.
func TestStart(t *testing.T) {
	s := servertest.Start(t, servertest.Options{Ports: 2, Mutate: func(c *config.Config) { c.Banner = "servertest banner" }}, build)
	if s.Config.Passive.Last-s.Config.Passive.First != 1 {
		t.Errorf("passive range %s, want 2 ports", s.Config.Passive.Ports)
	}

	rc := s.Raw(t)
	if !strings.Contains(rc.Greeting, "servertest banner") {
		t.Errorf("greeting %q: Mutate not applied", rc.Greeting)
	}
	rc.Login(servertest.User, servertest.Password)
	rc.Stor("up.txt", []byte("payload"))
	if b, err := os.ReadFile(filepath.Join(s.Root, "up.txt")); err != nil || string(b) != "payload" {
		t.Errorf("stored file: %q, %v", b, err)
	}

	os.WriteFile(filepath.Join(s.RORoot, "r.txt"), []byte("read me"), 0o644)
	c := s.Login(t, servertest.ROUser, true)
	r, err := c.Retr("r.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, []byte("read me")) {
		t.Errorf("RETR as %s: %q", servertest.ROUser, got)
	}
	if err := c.Stor("no.txt", strings.NewReader("x")); err == nil {
		t.Errorf("read-only user could STOR")
	}
	if !strings.Contains(s.Logs.String(), "user="+servertest.User) {
		t.Errorf("logs do not name the login of %s:\n%s", servertest.User, s.Logs.String())
	}
}
