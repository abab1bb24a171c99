package passive

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestPortLockAcrossProcesses: two pools with their own open file
// descriptions of one lock file (as two session processes have) never hand
// out the same port, even before anything is bound.
func TestPortLockAcrossProcesses(t *testing.T) {
	first, _ := testutil.FreePortRange(t, 1)
	path := filepath.Join(t.TempDir(), "passive.lock")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fa, err := OpenLock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := OpenLock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	a := NewPool(first, first, fa, log)
	b := NewPool(first, first, fb, log)

	pa, _, err := a.acquire(0, Share{})
	if err != nil || pa != first {
		t.Fatalf("A: %d %v", pa, err)
	}
	if p, _, err := b.acquire(200*time.Millisecond, Share{}); !errors.Is(err, errRangeExhausted) {
		t.Fatalf("B got port %d (%v) that A holds", p, err)
	}
	got := make(chan bool, 1)
	go func() { _, _, err := b.acquire(5*time.Second, Share{}); got <- err == nil }()
	testutil.WaitFor(t, 4*time.Second, time.Millisecond, "B waiting for a port", func() bool { return b.Waiting() == 1 })
	a.release(pa)
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("B did not get the port after A released it")
		}
	case <-time.After(4 * time.Second):
		t.Fatal("B still waiting")
	}
}

// TestPoolSkipsForeignPortsUntilFree: a port marked as held by another
// program is not handed out while it is held, and is again once it is free.
func TestPoolSkipsForeignPortsUntilFree(t *testing.T) {
	first, last := testutil.FreePortRange(t, 2)
	l, err := listenTCPPort(first)
	if err != nil {
		t.Fatal(err)
	}
	// Held before the pool's first PASV: foreign from the start.
	p := NewPool(first, last, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.survey()
	for i := 0; i < 3; i++ {
		port, _, err := p.acquire(0, Share{})
		if err != nil || port != last {
			t.Fatalf("acquire with %d foreign: %d %v, want %d", first, port, err, last)
		}
		if extra := p.extra(2, 0); len(extra) != 0 {
			t.Fatalf("extra handed out %v; %d is foreign and %d taken", extra, first, last)
		}
		p.release(port)
	}
	l.Close()
	got := map[int]bool{}
	for i := 0; i < 2; i++ {
		port, _, err := p.acquire(0, Share{})
		if err != nil {
			t.Fatal(err)
		}
		got[port] = true
		p.release(port)
	}
	if !got[first] {
		t.Errorf("port %d never handed out again after its other holder let go", first)
	}
}

// TestCandidatesSkipNewlyHeldPort: a port another program takes after the
// pool's survey is handed out as the first candidate only with spares to
// fall back on; without spares (a busy range) it gets a trial bind, is
// marked foreign and skipped, so the PASV does not fail because of it.
func TestCandidatesSkipNewlyHeldPort(t *testing.T) {
	first, last := testutil.FreePortRange(t, 3)
	p := NewPool(first, last, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.survey() // all free then
	l, err := listenTCPPort(first)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, _, err := p.candidates(0, 2, Share{})
	if err != nil || len(got) != 3 || got[0] != first {
		t.Fatalf("candidates with spares: %v %v, want %d first and two spares", got, err, first)
	}
	p.release(got...)
	// No spares free: the held first port must be skipped.
	mid, _, err := p.acquire(0, Share{})
	if err != nil {
		t.Fatal(err)
	}
	lastPort, _, err := p.acquire(0, Share{})
	if err != nil {
		t.Fatal(err)
	}
	p.release(lastPort)
	p.next = 0 // start the round at the held port again
	got, _, err = p.candidates(0, 2, Share{})
	if err != nil || len(got) != 1 || got[0] != lastPort {
		t.Fatalf("candidates without spares: %v %v, want [%d] (%d held elsewhere, %d reserved)", got, err, lastPort, first, mid)
	}
	if !p.foreign[0] {
		t.Errorf("port %d not marked foreign after its trial bind failed", first)
	}
}

// TestPoolExtraReservesSpares: extra reserves free ports besides the one
// acquired, and release frees them all.
func TestPoolExtraReservesSpares(t *testing.T) {
	first, last := testutil.FreePortRange(t, 4)
	p := NewPool(first, last, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a, _, err := p.acquire(0, Share{})
	if err != nil {
		t.Fatal(err)
	}
	extra := p.extra(2, 0)
	if len(extra) != 2 || p.InUse() != 3 {
		t.Fatalf("extra(2) = %v with %d in use, want two more reserved", extra, p.InUse())
	}
	for _, e := range extra {
		if e == a || e < first || e > last {
			t.Fatalf("extra gave %d (acquired %d, range %d-%d)", e, a, first, last)
		}
	}
	p.release(append(extra, a)...)
	if n := p.InUse(); n != 0 {
		t.Fatalf("%d ports in use after release", n)
	}
}

// TestProbeSeesSpecificAddressListeners: a port some program listens on at
// 127.0.0.1 only is busy for the library's wildcard bind too.
func TestProbeSeesSpecificAddressListeners(t *testing.T) {
	first, _ := testutil.FreePortRange(t, 1)
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", first))
	if err != nil {
		t.Fatal(err)
	}
	if err := probeBind(first); err == nil || !isAddrInUse(err) {
		t.Errorf("probe of a port listened on at 127.0.0.1: %v, want address in use", err)
	}
	l.Close()
	if err := probeBind(first); err != nil {
		t.Errorf("probe of a free port: %v", err)
	}
}

// TestOpenPortLockRefusesUnsafeFiles: a symlink, or a file others may
// write, is not used as the lock file.
func TestOpenPortLockRefusesUnsafeFiles(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared.lock")
	os.WriteFile(shared, nil, 0o666)
	os.Chmod(shared, 0o666)
	link := filepath.Join(dir, "link.lock")
	os.Symlink(filepath.Join(dir, "target"), link)
	for _, p := range []string{shared, link} {
		if f, err := OpenLock(p); err == nil {
			f.Close()
			t.Errorf("OpenLock(%s) accepted an unsafe file", p)
		}
	}
	good := filepath.Join(dir, "sub", "passive.lock")
	f, err := OpenLock(good)
	if err != nil {
		t.Fatalf("OpenLock(%s): %v", good, err)
	}
	f.Close()
}

// TestSurveyOnFirstPASVNotAtStart: making a pool binds nothing (a
// per-connection process makes one before its banner); the first PASV
// surveys the range, so ports held from the start are never offered.
func TestSurveyOnFirstPASVNotAtStart(t *testing.T) {
	first, last := testutil.FreePortRange(t, 4)
	held := []int{first, first + 1, first + 2}
	for _, port := range held {
		l, err := listenTCPPort(port)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	p := NewPool(first, last, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := range p.foreign {
		if p.foreign[i] {
			t.Fatalf("port %d marked before any PASV", first+i)
		}
	}
	got, _, err := p.candidates(0, 2, Share{})
	if err != nil || len(got) != 1 || got[0] != last {
		t.Fatalf("first PASV's candidates: %v %v, want only %d (%v held since before)", got, err, last, held)
	}
}

// listenTCPPort binds port on the wildcard address, as the library does.
func listenTCPPort(port int) (net.Listener, error) {
	return net.ListenTCP("tcp", &net.TCPAddr{Port: port})
}
