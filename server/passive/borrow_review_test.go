package passive

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// TestBorrowKeepsOnePortFreeAcrossProcesses (review of d377147): borrowing checks that two
// ports are free (freePorts) and then takes one (take), with nothing held between the two
// across processes. Processes of one user that borrow at the same moment can each see two
// free ports and each take one, leaving none for another user. Here a user holds its share
// (1 of 4 ports); three processes (pools on their own descriptions of one lock file) borrow
// at once: at most two may succeed, so that one port stays free.
func TestBorrowKeepsOnePortFreeAcrossProcesses(t *testing.T) {
	first, last := testutil.FreePortRange(t, 4)
	_, pools := lockedPools(t, first, last, 4)
	share, gs, err := pools[0].acquire(0, borrower("u"))
	if err != nil || gs.Borrowed() != 0 {
		t.Fatalf("u's share: %v (borrowed %v)", err, gs.Borrowed())
	}
	defer func() { pools[0].release(share); gs.Release() }()
	const rounds = 300
	for round := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		ports := make([]int, 3)
		grants := make([]*Grant, 3)
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ports[i], grants[i], _ = pools[i+1].acquire(0, borrower("u"))
			}()
		}
		close(start)
		wg.Wait()
		n := 0
		for i := range 3 {
			if grants[i] != nil {
				n++
				pools[i+1].release(ports[i])
				grants[i].Release()
			}
		}
		if n > 2 {
			t.Fatalf("round %d: %d ports borrowed at once by processes of one user with 3 free: none left for another user (want at most 2)", round+1, n)
		}
	}
}

// TestBorrowedPortShortWhileTransferWaits (review of d377147): a borrowed port that no data
// connection reaches must come back within Share.Borrow. Clients send their transfer command
// right after PASV, and the library then sits in Accept with its own deadline
// (accept_timeout); listener.Accept stops the TTL, so the borrowed port is held for
// accept_timeout and a PASV of another user that waits for it fails.
func TestBorrowedPortShortWhileTransferWaits(t *testing.T) {
	first, last := testutil.FreePortRange(t, 3)
	p := NewPool(first, last, nil, quietLog())
	ps, gs, err := p.acquire(0, borrower("u")) // u's share, in another session
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.release(ps); gs.Release() }()
	o := &Offer{Pool: p, Range: p.String(), Wait: 2 * time.Second, AcceptTimeout: time.Minute,
		DataTimeout: time.Minute, Log: quietLog()}
	o.SetShare(borrower("u"))
	defer o.Close()
	port, _, ok := o.FetchNext()
	if !ok {
		t.Fatalf("u's borrowed PASV: %s", o.Failed())
	}
	for { // end the hand-out of spares, as the library does once it bound the first
		if _, _, more := o.FetchNext(); !more {
			break
		}
	}
	inner, err := net.ListenTCP("tcp", &net.TCPAddr{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	l, err := o.Wrap(inner)
	if err != nil {
		t.Fatal(err)
	}
	// The library's Open on RETR: Accept with the accept_timeout deadline; no client comes.
	inner.SetDeadline(time.Now().Add(time.Minute))
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	// v takes the port left free; w then waits, and must get u's borrowed port once it is
	// released unused after Borrow (1 s), within w's wait.
	pv, gv, err := p.acquire(0, user("v"))
	if err != nil {
		t.Fatalf("v: %v", err)
	}
	defer func() { p.release(pv); gv.Release() }()
	start := time.Now()
	pw, gw, err := p.acquire(3*time.Second, user("w"))
	if err != nil {
		t.Fatalf("w waited %v: %v; want u's borrowed port back after Borrow = 1s (its data connection never came)",
			time.Since(start).Round(time.Millisecond), err)
	}
	p.release(pw)
	gw.Release()
}
