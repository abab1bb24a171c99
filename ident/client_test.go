package ident

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// queryOn sends body with fd on an open connection to the helper and returns the answer, or
// the error of the send or of the read.
func queryOn(c *net.UnixConn, body []byte, fd int) (wirePeer, error) {
	var w wirePeer
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.WriteMsgUnix(body, unix.UnixRights(fd), nil); err != nil {
		return w, err
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return w, err
	}
	return w, json.Unmarshal(buf[:n], &w)
}

func heldBody(pid int) []byte {
	return binary.LittleEndian.AppendUint32([]byte{queryHeld}, uint32(pid))
}

// tcpFD is a descriptor of srv's socket, closed at the end of the test.
func tcpFD(t *testing.T, srv net.Conn) int {
	t.Helper()
	f, err := srv.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// TestHelperAnswersQueriesOnOneConnection: the helper answers one query after another on the
// same connection (a Client keeps its connections), each right, and closes a connection that
// stays idle for helperIdle.
func TestHelperAnswersQueriesOnOneConnection(t *testing.T) {
	// Restored after the helper has stopped (cleanups run last in, first out).
	saved := helperIdle
	t.Cleanup(func() { helperIdle = saved })
	helperIdle = 300 * time.Millisecond
	path := startHelper(t)
	srv, _ := accepted(t, "tcp4", "127.0.0.1:0")
	fd := tcpFD(t, srv)
	d, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := d.(*net.UnixConn)
	for i, body := range [][]byte{heldBody(os.Getpid()), {query}, heldBody(1 << 30), heldBody(os.Getpid())} {
		w, err := queryOn(c, body, fd)
		if err != nil {
			t.Fatalf("query %d on the same connection: %v", i+1, err)
		}
		if w.Error != "" {
			t.Fatalf("query %d: %+v", i+1, w)
		}
		wantHeld := body[0] == queryHeld && i != 2
		if body[0] == queryHeld && w.Held != wantHeld {
			t.Errorf("query %d: held %v, want %v", i+1, w.Held, wantHeld)
		}
		if body[0] == query && w.PID != os.Getpid() {
			t.Errorf("query %d (lookup): pid %d, want ours %d", i+1, w.PID, os.Getpid())
		}
	}
	// Idle past helperIdle: the helper closes it.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 16)); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: read %v, want EOF from the helper closing it", err)
	}
	if el := time.Since(start); el < 200*time.Millisecond || el > 3*time.Second {
		t.Errorf("idle connection closed after %v, want about helperIdle (300ms)", el)
	}
}

// TestHelperEvictsOldestIdle: with maxOpen connections open, a new one closes the connection
// idle the longest between queries; the others, and the new one, keep answering.
func TestHelperEvictsOldestIdle(t *testing.T) {
	saved := maxOpen
	t.Cleanup(func() { maxOpen = saved })
	maxOpen = 2
	path := startHelper(t)
	srv, _ := accepted(t, "tcp4", "127.0.0.1:0")
	fd := tcpFD(t, srv)
	dial := func() *net.UnixConn {
		d, err := net.Dial("unixpacket", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d.(*net.UnixConn)
	}
	first, second := dial(), dial()
	for _, c := range []*net.UnixConn{first, second} {
		if w, err := queryOn(c, heldBody(os.Getpid()), fd); err != nil || !w.Held {
			t.Fatalf("query: %+v, %v", w, err)
		}
		time.Sleep(10 * time.Millisecond) // first is idle the longer
	}
	third := dial()
	if w, err := queryOn(third, heldBody(os.Getpid()), fd); err != nil || !w.Held {
		t.Fatalf("the connection beyond maxOpen: %+v, %v", w, err)
	}
	first.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := first.Read(make([]byte, 16)); !errors.Is(err, io.EOF) {
		t.Errorf("the connection idle the longest: read %v, want EOF (closed to make room)", err)
	}
	for i, c := range []*net.UnixConn{second, third} {
		if w, err := queryOn(c, heldBody(os.Getpid()), fd); err != nil || !w.Held {
			t.Errorf("connection %d after the eviction: %+v, %v", i+2, w, err)
		}
	}
}

// TestClientKeepsConnection: a Client asks its next query on the connection of the last, and
// queries asked at once each get their own answer.
func TestClientKeepsConnection(t *testing.T) {
	path := startHelper(t)
	h := &Client{Path: path}
	defer h.Close()
	srv, _ := accepted(t, "tcp4", "127.0.0.1:0")
	if held, err := h.AskHeld(srv, os.Getpid()); err != nil || !held {
		t.Fatalf("AskHeld: %v, %v", held, err)
	}
	h.mu.Lock()
	if len(h.idle) != 1 {
		t.Fatalf("%d connections kept after a query, want 1", len(h.idle))
	}
	kept := h.idle[0].c
	h.mu.Unlock()
	p, err := h.Ask(srv)
	if err != nil || p.PID != os.Getpid() {
		t.Fatalf("Ask: %+v, %v", p, err)
	}
	h.mu.Lock()
	if len(h.idle) != 1 || h.idle[0].c != kept {
		t.Errorf("the second query did not use the kept connection (%d kept)", len(h.idle))
	}
	h.mu.Unlock()

	// At once: each answer is its own query's (held by us, or not by a process that is not there).
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pid, want := os.Getpid(), true
			if i%2 == 1 {
				pid, want = 1<<30, false
			}
			if held, err := h.AskHeld(srv, pid); err != nil || held != want {
				errs <- errors.Join(err, errors.New("wrong answer"))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	h.mu.Lock()
	if n := len(h.idle); n < 1 || n > clientMaxIdle {
		t.Errorf("%d connections kept, want 1 to %d", n, clientMaxIdle)
	}
	h.mu.Unlock()
}

// oneShotHelper answers every query on a connection with answer, then closes it (what a helper
// from before Client did); it counts the connections.
func oneShotHelper(t *testing.T, answer string) (path string, conns func() int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "oneshot.sock")
	l, err := ListenHelper(path, 0o660)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			buf, oob := make([]byte, 16), make([]byte, 64)
			c.ReadMsgUnix(buf, oob)
			if fds, err := receivedFDs(oob); err == nil {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
			c.Write([]byte(answer))
			c.Close()
		}
	}()
	return path, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestClientRedials: a kept connection the helper has closed (a helper that answers once per
// connection, or one restarted) is given up at the next query, which dials and gets its answer.
func TestClientRedials(t *testing.T) {
	path, conns := oneShotHelper(t, `{"held":true}`)
	h := &Client{Path: path}
	defer h.Close()
	srv, _ := accepted(t, "tcp4", "127.0.0.1:0")
	for i := range 3 {
		if held, err := h.AskHeld(srv, os.Getpid()); err != nil || !held {
			t.Fatalf("query %d to a helper that closes after each: %v, %v", i+1, held, err)
		}
	}
	if n := conns(); n != 3 {
		t.Errorf("%d connections for 3 queries, want 3 (one each)", n)
	}

	// A real helper, stopped and started again on the same socket.
	dir := t.TempDir()
	sock := filepath.Join(dir, "ident.sock")
	serve := func() (stop func()) {
		l, err := ListenHelper(sock, 0o660)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- Serve(l, t.Logf) }()
		return func() {
			l.Close()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	stop := serve()
	h2 := &Client{Path: sock}
	defer h2.Close()
	if held, err := h2.AskHeld(srv, os.Getpid()); err != nil || !held {
		t.Fatalf("first helper: %v, %v", held, err)
	}
	stop()
	stop = serve()
	defer stop()
	if held, err := h2.AskHeld(srv, os.Getpid()); err != nil || !held {
		t.Errorf("after the helper restarted: %v, %v", held, err)
	}
}

// BenchmarkAskHeld: a held query on a new connection each time (Ask, AskHeld) against one kept
// by a Client. The helper runs in this process, so the figure is the sum of both sides' work.
func BenchmarkAskHeld(b *testing.B) {
	path := filepath.Join(b.TempDir(), "ident.sock")
	l, err := ListenHelper(path, 0o660)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go Serve(l, nil)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Skip(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	srv, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	b.Run("dial-each", func(b *testing.B) {
		for b.Loop() {
			if held, err := AskHeld(path, srv, os.Getpid()); err != nil || !held {
				b.Fatal(held, err)
			}
		}
	})
	b.Run("kept", func(b *testing.B) {
		h := &Client{Path: path}
		defer h.Close()
		for b.Loop() {
			if held, err := h.AskHeld(srv, os.Getpid()); err != nil || !held {
				b.Fatal(held, err)
			}
		}
	})
}
