package server

import (
	"regexp"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// TestRetrModeByPeer: under retr_sendfile = "auto" (the default) a client that reads the data
// connection itself, here the test process (ident sees it: it holds the peer socket, and it is
// not sshd), gets sendfile; true and false force the mode. The login line says which (retr=).
// Through sshd, "auto" copies: e2e's testIdentity checks that with a real sshd.
func TestRetrModeByPeer(t *testing.T) {
	for _, tc := range []struct {
		mode config.SendfileMode
		want string
	}{
		{config.SendfileAuto, "sendfile"},
		{config.SendfileOff, "copy"},
		{config.SendfileOn, "sendfile"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			ts := startServer(t, 1, func(c *config.Config) { c.RetrSendfile = tc.mode })
			dialRaw(t, ts.Addr).Login(testUser, testPassword)
			re := regexp.MustCompile(`msg=login user=alice .* retr=` + tc.want + `\b`)
			waitFor(t, 5*time.Second, "login line with retr="+tc.want, func() bool { return re.MatchString(ts.Logs.String()) })
		})
	}
}
