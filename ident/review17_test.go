package ident

import (
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestHelperIdleKeptConnectionsDoNotBlock: more kept connections than maxLookups, each idle
// after one query, leave the helper answering a new asker at once (the semaphore is taken per
// query, not per connection as before the helper kept connections).
func TestHelperIdleKeptConnectionsDoNotBlock(t *testing.T) {
	path := startHelper(t)
	srv, _ := accepted(t, "tcp4", "127.0.0.1:0")
	fd := tcpFD(t, srv)
	for i := range 2 * maxLookups {
		d, err := net.Dial("unixpacket", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if w, err := queryOn(d.(*net.UnixConn), heldBody(os.Getpid()), fd); err != nil || !w.Held {
			t.Fatalf("kept connection %d: %+v, %v", i+1, w, err)
		}
	}
	start := time.Now()
	if held, err := AskHeld(path, srv, os.Getpid()); err != nil || !held {
		t.Fatalf("a new asker behind %d idle kept connections: %v, %v", 2*maxLookups, held, err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("a new asker waited %v behind idle kept connections", el)
	}
}

// TestHelperBoundsOpenConnections: a member of the socket's group that opens many connections
// and sends nothing must not make the helper hold a goroutine and a descriptor for each (under
// MemoryMax=64M a few thousand are enough to have it killed): beyond maxOpen, none of them idle
// between queries, a new connection waits for one to end and is closed.
func TestHelperBoundsOpenConnections(t *testing.T) {
	saved := maxOpen
	t.Cleanup(func() { maxOpen = saved })
	maxOpen = 16
	path := startHelper(t)
	base := runtime.NumGoroutine()
	n := maxOpen + 50
	for range n {
		d, err := net.Dial("unixpacket", path)
		if err != nil {
			break // backlog full: the helper bounds them
		}
		t.Cleanup(func() { d.Close() })
	}
	// Wait (on the state, bounded) for the helper to have accepted what it will.
	bound := maxOpen + 2
	deadline := time.Now().Add(helperTimeout / 2)
	last := -1
	for time.Now().Before(deadline) {
		g := runtime.NumGoroutine() - base
		if g > bound {
			t.Fatalf("%d silent connections opened: the helper holds %d goroutines for them, want at most %d (maxOpen + 2)", n, g, bound)
		}
		if g == last {
			break
		}
		last = g
		time.Sleep(20 * time.Millisecond)
	}
}
