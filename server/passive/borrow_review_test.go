package passive

import (
	"path/filepath"
	"sync"
	"testing"

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
	path := filepath.Join(t.TempDir(), "passive.lock")
	pools := make([]*Pool, 4)
	for i := range pools {
		f, err := OpenLock(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		pools[i] = NewPool(first, last, f, quietLog())
	}
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
