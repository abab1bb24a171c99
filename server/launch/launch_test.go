package launch

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTakeInetdSocketRefusesANonSocket: with a pipe on fd 0, --inetd fails
// with an error that keeps its cause (ENOTSOCK) and leaves fd 0 as it was.
func TestTakeInetdSocketRefusesANonSocket(t *testing.T) {
	saved, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(saved)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := unix.Dup2(int(r.Fd()), 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Dup2(saved, 0)

	sock, err := TakeInetdSocket()
	if err == nil {
		sock.Close()
		t.Fatal("fd 0 is a pipe, and TakeInetdSocket took it")
	}
	if !errors.Is(err, unix.ENOTSOCK) {
		t.Errorf("error %q does not wrap ENOTSOCK", err)
	}
	var st0, stPipe unix.Stat_t
	if unix.Fstat(0, &st0) != nil || unix.Fstat(int(r.Fd()), &stPipe) != nil || st0.Ino != stPipe.Ino {
		t.Error("fd 0 changed")
	}
}

func TestModeNames(t *testing.T) {
	for m, want := range map[Mode]string{ModeStandalone: "standalone", ModeInetd: "inetd", ModeInetdWait: "inetd-wait",
		ModeSystemd: "systemd", ModeSystemdAccept: "systemd-accept"} {
		if m.String() != want {
			t.Errorf("%d prints as %q, want %q", int(m), m, want)
		}
	}
	if !ModeInetd.Single() || !ModeSystemdAccept.Single() || ModeInetdWait.Single() || ModeSystemd.Single() || ModeStandalone.Single() {
		t.Error("Single() is true exactly for the modes that serve one connection")
	}
}
