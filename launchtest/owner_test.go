package launchtest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestSameOwnerRefusesClosedPeer: a data connection whose peer has already
// closed by the time the daemon accepts it is dropped, and the transfer
// waits for the client's own connection. The kernel reports such a socket
// (no inode: FIN_WAIT, TIME_WAIT) as owned by uid 0, so for a root client
// (the test process) it used to pass passive.same_owner wherever the uid
// is all that can be checked: in a system user's session process, which
// can no longer see the client's process. The daemon took the dead
// connection for the transfer, closed the port, and the client's own
// connection was refused (the "victim's transfer fails" of issue 18).
func TestSameOwnerRefusesClosedPeer(t *testing.T) {
	needSystemUsers(t) // and a root client, whose uid 0 is what a closed socket reports
	u := addSysUser(t)
	f, _ := sysFixtureOpts(t, "", testutil.DaemonOptions{PortCount: 1})
	serveStandalone(t, f)
	if err := os.WriteFile(filepath.Join(u.home, testutil.HelloName), []byte(testutil.HelloText), 0o644); err != nil {
		t.Fatal(err)
	}
	rc := testutil.DialRaw(t, f.Addr)
	rc.Login(u.name, sysPassword)
	for i := range 3 {
		port := rc.Epsv()
		// The racer connects and closes before the transfer command, so
		// its connection waits, dead, in the listen queue.
		racer := rc.DialData(port)
		racer.Close()
		rc.Send("RETR %s", testutil.HelloName)
		if got := string(rc.Receive(port)); got != testutil.HelloText {
			t.Fatalf("transfer %d: got %q", i, got)
		}
	}
	f.WaitLog(regexp.MustCompile(`msg="dropped data connection: cannot identify its owner".*already closed`), 5*time.Second)
}
