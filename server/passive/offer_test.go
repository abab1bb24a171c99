package passive

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/ident"
	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// hideProcesses points ident at a /proc that has the socket tables
// (/proc/self/net) but no process directories, for the rest of the test:
// ident.HeldBy then cannot list any process's descriptors, as for a daemon
// that is not root, even when the test runs as root. The test must not run
// in parallel with others (ident.ProcRoot is global).
func hideProcesses(t *testing.T) {
	t.Helper()
	root := t.TempDir()
	if err := os.Symlink("/proc/self/net", filepath.Join(root, "net")); err != nil {
		t.Fatal(err)
	}
	saved := ident.ProcRoot
	ident.ProcRoot = root
	t.Cleanup(func() { ident.ProcRoot = saved })
	if _, known := ident.HeldBy(os.Getpid(), 1); known {
		t.Fatal("with the process directories hidden, HeldBy still lists this process's descriptors")
	}
}

// heldStub is a stand-in for the identity helper's held query: it records
// what it was asked and answers held, known. allow calls it on the
// caller's goroutine.
type heldStub struct {
	held, known bool

	asked []int // the PIDs asked about
	conns []net.Conn
}

func (s *heldStub) Held(c net.Conn, pid int) (bool, bool) {
	s.asked = append(s.asked, pid)
	s.conns = append(s.conns, c)
	return s.held, s.known
}

// TestAllowAsksHelperOnlyWhenHeldByCannotTell: under passive.same_owner
// with the control peer's owner and PID known, a data connection of the
// same uid is checked with ident.HeldBy, and only where that cannot tell
// (this process cannot list the PID's descriptors) with the Held field
// (the identity helper), asked about that PID. The helper's "held" accepts,
// "not held" drops, "cannot tell" leaves the uid check alone; a uid
// mismatch drops before anything is asked.
func TestAllowAsksHelperOnlyWhenHeldByCannotTell(t *testing.T) {
	uid := os.Getuid()
	self := os.Getpid()
	const gone = 1 << 30 // beyond any pid_max: no such process
	const sameOwnerDrop = "dropped data connection from another process of the same owner"
	const otherOwnerDrop = "dropped data connection from another owner"
	cases := []struct {
		name string
		// hidden: ident cannot list any process's descriptors.
		hidden   bool
		ownerUID int
		ownerPID int
		nilHeld  bool // no helper at all (Held is nil)
		stub     heldStub
		want     bool
		asked    bool   // the stub must be asked (with ownerPID), or must not be
		log      string // a line the log must have ("" = no warning at all)
	}{
		// HeldBy can answer by itself: the stub, which would say the
		// opposite, is not asked.
		{name: "HeldBy sees it held", ownerUID: uid, ownerPID: self,
			stub: heldStub{held: false, known: true}, want: true},
		{name: "HeldBy: the process is not there", ownerUID: uid, ownerPID: gone,
			stub: heldStub{held: true, known: true}, want: false, log: sameOwnerDrop},
		{name: "HeldBy: gone, even with descriptors hidden", hidden: true, ownerUID: uid, ownerPID: gone,
			stub: heldStub{held: true, known: true}, want: false, log: sameOwnerDrop},
		// HeldBy cannot list PID 1's descriptors: the helper decides.
		{name: "helper says held", hidden: true, ownerUID: uid, ownerPID: 1,
			stub: heldStub{held: true, known: true}, want: true, asked: true},
		{name: "helper says not held", hidden: true, ownerUID: uid, ownerPID: 1,
			stub: heldStub{held: false, known: true}, want: false, asked: true, log: sameOwnerDrop},
		{name: "helper cannot tell", hidden: true, ownerUID: uid, ownerPID: 1,
			stub: heldStub{held: false, known: false}, want: true, asked: true},
		{name: "no helper", hidden: true, ownerUID: uid, ownerPID: 1, nilHeld: true, want: true},
		// Another uid: dropped before any process is looked at.
		{name: "another owner", hidden: true, ownerUID: uid + 1, ownerPID: 1,
			stub: heldStub{held: true, known: true}, want: false, log: otherOwnerDrop},
		{name: "another owner, HeldBy could see", ownerUID: uid + 1, ownerPID: self,
			stub: heldStub{held: true, known: true}, want: false, log: otherOwnerDrop},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hidden {
				hideProcesses(t)
			}
			// Its peer socket is owned by this process's uid and held by this process.
			c, _ := testutil.TCPPair(t)
			var logs bytes.Buffer
			o := &Offer{
				Control:   c.RemoteAddr(),
				Owner:     &ident.Peer{UID: tc.ownerUID, PID: tc.ownerPID},
				SameOwner: true,
				Log:       slog.New(slog.NewTextHandler(&logs, nil)),
			}
			stub := tc.stub // a fresh copy: nothing asked yet
			if !tc.nilHeld {
				o.Held = stub.Held
			}
			if got := o.allow(c); got != tc.want {
				t.Errorf("allow = %v, want %v; log:\n%s", got, tc.want, logs.String())
			}
			switch {
			case tc.asked && (len(stub.asked) != 1 || stub.asked[0] != tc.ownerPID || stub.conns[0] != c):
				t.Errorf("Held asked about PIDs %v (conns %v), want once about the owner's PID %d and this connection",
					stub.asked, stub.conns, tc.ownerPID)
			case !tc.asked && len(stub.asked) != 0:
				t.Errorf("Held asked about PIDs %v; HeldBy could answer (or the uid differs): not to be asked", stub.asked)
			}
			switch {
			case tc.log != "" && !strings.Contains(logs.String(), tc.log):
				t.Errorf("log lacks %q:\n%s", tc.log, logs.String())
			case tc.log == "" && logs.Len() != 0:
				t.Errorf("accepted, yet logged:\n%s", logs.String())
			}
			if tc.log == sameOwnerDrop && !strings.Contains(logs.String(), "want_pid="+strconv.Itoa(tc.ownerPID)) {
				t.Errorf("drop line does not name the owner's PID %d:\n%s", tc.ownerPID, logs.String())
			}
		})
	}
}
