package passive

import (
	"errors"
	"io"
	"log/slog"
	"os"
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
	path := filepath.Join(t.TempDir(), "passive.lock")
	open := func() *os.File {
		f, err := OpenLock(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	fa, fb := open(), open()
	a := NewPool(first, last, fa, quietLog())
	b := NewPool(first, last, fb, quietLog())

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
