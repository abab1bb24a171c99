package passive

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func user(name string) Share { return Share{Keys: []string{"ftp:" + name}, Max: 1} }

// TestShareLimitsPortsPerUser: a user at its limit waits (and gives up with
// errShareExhausted) while another user still gets a port; releasing the
// first user's grant lets it take one again.
func TestShareLimitsPortsPerUser(t *testing.T) {
	first, last := testutil.FreePortRange(t, 3)
	p := NewPool(first, last, nil, quietLog())
	pa, ga, err := p.acquire(0, user("a"))
	if err != nil {
		t.Fatal(err)
	}
	if port, _, err := p.acquire(100*time.Millisecond, user("a")); !errors.Is(err, errShareExhausted) {
		t.Fatalf("a second port for a: %d %v, want errShareExhausted", port, err)
	}
	if _, _, err := p.acquire(0, user("b")); err != nil {
		t.Fatalf("b: %v", err)
	}
	p.release(pa)
	ga.Release()
	ga.Release() // a second release does nothing
	if _, _, err := p.acquire(0, user("a")); err != nil {
		t.Fatalf("a after releasing: %v", err)
	}
	// Two keys: the SSH user counts too.
	both := Share{Keys: []string{"ftp:c", "ssh:7"}, Max: 1}
	if _, _, err := p.acquire(0, both); !errors.Is(err, errRangeExhausted) && err != nil {
		t.Fatal(err)
	}
}

// waitInLine starts acquire(wait, s) in a goroutine once the pool has n
// waiters (so that the order of calls is the order of arrival) and
// reports on got when it returns.
func waitInLine(t *testing.T, p *Pool, s Share, name string, got chan<- string, grants chan<- *Grant) {
	t.Helper()
	before := p.Waiting()
	go func() {
		port, g, err := p.acquire(5*time.Second, s)
		if err != nil {
			got <- name + ": " + err.Error()
			return
		}
		got <- name
		grants <- g
		_ = port
	}()
	testutil.WaitFor(t, 5*time.Second, time.Millisecond, name+" waiting", func() bool { return p.Waiting() > before })
}

// TestWaitersServedInArrivalOrder: with one port, PASVs of three users are
// served in the order they came, whoever releases.
func TestWaitersServedInArrivalOrder(t *testing.T) {
	first, _ := testutil.FreePortRange(t, 1)
	p := NewPool(first, first, nil, quietLog())
	port, g, err := p.acquire(0, user("holder"))
	if err != nil {
		t.Fatal(err)
	}
	got, grants := make(chan string, 3), make(chan *Grant, 3)
	for _, name := range []string{"a", "b", "c"} {
		waitInLine(t, p, user(name), name, got, grants)
	}
	var order []string
	for range 3 {
		p.release(port)
		g.Release()
		select {
		case name := <-got:
			order = append(order, name)
			g = <-grants
		case <-time.After(5 * time.Second):
			t.Fatalf("nobody served; so far %v", order)
		}
	}
	if want := []string{"a", "b", "c"}; !slicesEqual(order, want) {
		t.Errorf("served %v, want arrival order %v", order, want)
	}
}

// TestArrivalOrderSkipsUserAtLimit: a waiter of a user at its limit does
// not hold up those behind it: the port goes to the first waiter that may
// take one.
func TestArrivalOrderSkipsUserAtLimit(t *testing.T) {
	first, last := testutil.FreePortRange(t, 2)
	p := NewPool(first, last, nil, quietLog())
	if _, _, err := p.acquire(0, user("a")); err != nil { // a at its limit, for good
		t.Fatal(err)
	}
	other, og, err := p.acquire(0, user("x"))
	if err != nil {
		t.Fatal(err)
	}
	got, grants := make(chan string, 2), make(chan *Grant, 2)
	waitInLine(t, p, user("a"), "a", got, grants) // first, but a holds its one port
	waitInLine(t, p, user("b"), "b", got, grants)
	p.release(other)
	og.Release()
	select {
	case name := <-got:
		if name != "b" {
			t.Errorf("%s served first, want b (a is at its limit)", name)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("b was not served while a port was free")
	}
}

// TestSharesAcrossProcesses: two pools on their own descriptions of one
// lock file (two session processes) count a user's ports together, serve
// their waiters in arrival order across them, and a pool whose file is
// closed (its process gone) lets go of its user's tokens.
func TestSharesAcrossProcesses(t *testing.T) {
	first, last := testutil.FreePortRange(t, 2)
	path, pools := lockedPools(t, first, last, 2)
	a, b := pools[0], pools[1]

	// One user, two processes: one port between them.
	pa, ga, err := a.acquire(0, user("u"))
	if err != nil {
		t.Fatal(err)
	}
	if port, _, err := b.acquire(200*time.Millisecond, user("u")); !errors.Is(err, errShareExhausted) {
		t.Fatalf("u's second port, in the other process: %d %v, want errShareExhausted", port, err)
	}

	// Arrival order across the processes: with both ports held, v waits
	// in b, then w in a; when a frees a port, v (in b) gets it even
	// though w is in the process that freed it.
	pb, gb, err := b.acquire(0, user("other"))
	if err != nil {
		t.Fatal(err)
	}
	got, grants := make(chan string, 2), make(chan *Grant, 2)
	waitInLine(t, b, user("v"), "v", got, grants)
	waitInLine(t, a, user("w"), "w", got, grants)
	a.release(pa)
	ga.Release()
	select {
	case name := <-got:
		if name != "v" {
			t.Errorf("%s served first, want v (it came first, in the other process)", name)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("nobody served")
	}
	b.release(pb)
	gb.Release()
	if name := <-got; name != "w" {
		t.Errorf("then %s, want w", name)
	}

	// A process that dies lets go: u's token, taken in a fresh pool on
	// a third description, is free again once that description closes.
	fc, err := OpenLock(path)
	if err != nil {
		t.Fatal(err)
	}
	c := NewPool(first, last, fc, quietLog())
	var wg sync.WaitGroup
	for range 2 { // drain v's and w's ports
		g := <-grants
		wg.Add(1)
		go func() { defer wg.Done(); g.Release() }()
	}
	wg.Wait()
	a.release(first, last)
	b.release(first, last)
	if _, _, err := c.acquire(0, user("z")); err != nil {
		t.Fatalf("z in the third process: %v", err)
	}
	if _, _, err := a.acquire(0, user("z")); !errors.Is(err, errShareExhausted) {
		t.Fatalf("z's second port: %v, want errShareExhausted", err)
	}
	fc.Close() // the third process dies
	if _, _, err := a.acquire(0, user("z")); err != nil {
		t.Errorf("z after the process holding its token died: %v", err)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// lockedPools makes n pools on the range, each on its own description of
// one lock file (as n session processes have), closed at the end of the test;
// path is the file.
func lockedPools(t *testing.T, first, last, n int) (path string, pools []*Pool) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "passive.lock")
	for range n {
		f, err := OpenLock(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		pools = append(pools, NewPool(first, last, f, quietLog()))
	}
	return path, pools
}

func borrower(name string) Share {
	return Share{Keys: []string{"ftp:" + name}, Max: 1, Borrow: time.Second}
}

// TestBorrowBeyondShare: with Share.Borrow a user at its limit takes more ports while nobody
// else waits, always leaving one free (which another user then gets at once); without Borrow it
// gets none beyond its share; while another user waits it borrows none; a borrowed grant says
// so (Wrap gives its listener the short timeout).
func TestBorrowBeyondShare(t *testing.T) {
	first, last := testutil.FreePortRange(t, 5)
	p := NewPool(first, last, nil, quietLog())
	var grants []*Grant
	for i := range 4 {
		_, g, err := p.acquire(0, borrower("a"))
		if err != nil {
			t.Fatalf("a's PASV %d of 4 (share 1, borrowing): %v", i+1, err)
		}
		if b := g.Borrowed(); (i == 0) != (b == 0) || (i > 0 && b != time.Second) {
			t.Errorf("a's PASV %d: borrowed %v, want 0 for the first (its share), 1s after", i+1, b)
		}
		grants = append(grants, g)
	}
	if port, _, err := p.acquire(50*time.Millisecond, borrower("a")); !errors.Is(err, errShareExhausted) {
		t.Fatalf("a's fifth PASV took port %d (%v): the last free port must stay for another user", port, err)
	}
	pb, gb, err := p.acquire(0, borrower("b"))
	if err != nil {
		t.Fatalf("b with a holding 4 of 5 ports: %v", err)
	}
	// No port free now: b's next PASV waits (b is at its share too). a gives back one borrowed
	// port (its listener's TTL ran out): that one stays free, the last of the range; a second
	// goes to b's waiting PASV, borrowed.
	got, gch := make(chan string, 2), make(chan *Grant, 2)
	waitInLine(t, p, borrower("b"), "b", got, gch)
	grants[1].Release()
	p.release(first + 1) // grants[1]'s port: ports are handed out in order
	select {
	case name := <-got:
		t.Fatalf("b's waiting PASV took the last free port: %s", name)
	case <-time.After(300 * time.Millisecond):
	}
	grants[2].Release()
	p.release(first + 2)
	select {
	case name := <-got:
		if name != "b" {
			t.Fatalf("the freed port went to %q", name)
		}
		if g := <-gch; g.Borrowed() == 0 {
			t.Error("b's second port is beyond its share: want a borrowed grant")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b's waiting PASV got nothing when two ports were free")
	}
	p.release(pb)
	gb.Release()

	// Without Borrow, the share is strict.
	q := NewPool(first, last, nil, quietLog())
	if _, _, err := q.acquire(0, user("c")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.acquire(50*time.Millisecond, user("c")); !errors.Is(err, errShareExhausted) {
		t.Fatalf("without Borrow: %v, want errShareExhausted", err)
	}
}

// TestBorrowPastWaitersAtTheirLimit: PASVs of users each at their own limit do not stop one
// another borrowing (review): with a, b and c each holding their share of four ports and a and
// b waiting, the two ports c frees go to one borrower at once (one stays free), not to nobody
// until the waits run out. (A waiter that could take a port within its share does stop
// borrowing: TestBorrowAcrossProcesses.)
func TestBorrowPastWaitersAtTheirLimit(t *testing.T) {
	first, last := testutil.FreePortRange(t, 4)
	p := NewPool(first, last, nil, quietLog())
	for _, u := range []string{"a", "b"} {
		if _, _, err := p.acquire(0, borrower(u)); err != nil {
			t.Fatal(err)
		}
	}
	pc, gc, err := p.acquire(0, borrower("c"))
	if err != nil {
		t.Fatal(err)
	}
	got, gch := make(chan string, 2), make(chan *Grant, 2)
	waitInLine(t, p, borrower("a"), "a", got, gch)
	waitInLine(t, p, borrower("b"), "b", got, gch)
	start := time.Now()
	p.release(pc)
	gc.Release()
	select {
	case name := <-got:
		if name != "a" && name != "b" {
			t.Fatalf("first answer %q, want a borrowed port for a or b", name)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("a borrower got a port after %v, want at once", el)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("two ports free, two users at their limit waiting: nobody borrowed")
	}
}

// TestBorrowAcrossProcesses: with a lock file (per-connection processes), a user borrows
// ports beyond its share across processes, one port of the range stays free, and a PASV of
// another user waiting in one process stops borrowing in the other.
func TestBorrowAcrossProcesses(t *testing.T) {
	first, last := testutil.FreePortRange(t, 4)
	_, pools := lockedPools(t, first, last, 3)
	a, b, c := pools[0], pools[1], pools[2]
	if _, _, err := a.acquire(0, borrower("u")); err != nil {
		t.Fatal(err)
	}
	_, gb, err := b.acquire(0, borrower("u"))
	if err != nil || gb.Borrowed() == 0 {
		t.Fatalf("u's second port, in another process: %v (borrowed %v), want a borrowed one", err, gb.Borrowed())
	}
	// Two of four held: a third leaves one free; a fourth would not.
	if _, _, err := c.acquire(0, borrower("u")); err != nil {
		t.Fatalf("u's third port: %v", err)
	}
	if port, _, err := a.acquire(50*time.Millisecond, borrower("u")); !errors.Is(err, errShareExhausted) {
		t.Fatalf("u's fourth port %d (%v): the last port must stay free", port, err)
	}
	// v takes the last port; then w (another user) waits in c, and u may not borrow the port
	// b gives back while w waits: w gets it.
	pv, gv, err := b.acquire(0, borrower("v"))
	if err != nil {
		t.Fatalf("v: %v", err)
	}
	got, grants := make(chan string, 1), make(chan *Grant, 1)
	waitInLine(t, c, borrower("w"), "w", got, grants)
	gb.Release()
	b.release(first + 1)
	b.release(pv)
	gv.Release()
	// Two ports free now: u may not borrow one while w waits (nor after w took one: the last
	// must stay free).
	if port, _, err := a.acquire(50*time.Millisecond, borrower("u")); !errors.Is(err, errShareExhausted) {
		t.Fatalf("u borrowed port %d (%v) while w waited in another process", port, err)
	}
	select {
	case name := <-got:
		if name != "w" {
			t.Fatalf("served %s, want w", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("w got no port")
	}
}
