package ident

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startHelper runs Serve on a socket in a temporary directory.
func startHelper(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ident.sock")
	l, err := ListenHelper(path, 0o660)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(l, t.Logf) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

// TestHelperAnswersAsLookup: the helper's answer about a connection is
// what Lookup says about it (here, a connection of this process, which
// needs no privilege to look up).
func TestHelperAnswersAsLookup(t *testing.T) {
	path := startHelper(t)
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp", "[::]:0"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			srv, _ := accepted(t, tc.network, tc.addr)
			got, err := Ask(path, srv)
			if err != nil {
				t.Fatalf("Ask: %v", err)
			}
			want, err := Lookup(srv.LocalAddr(), srv.RemoteAddr())
			if err != nil {
				t.Fatal(err)
			}
			if *got != *want {
				t.Errorf("helper says %+v, Lookup %+v", *got, *want)
			}
			if got.PID != os.Getpid() {
				t.Errorf("pid %d, want ours %d", got.PID, os.Getpid())
			}
			// The connection is still ours and usable.
			if _, err := srv.Write([]byte("x")); err != nil {
				t.Errorf("the connection after Ask: %v", err)
			}
		})
	}
}

// rawQuery sends body with fds to the helper and returns its answer.
func rawQuery(t *testing.T, path string, body []byte, fds ...int) wirePeer {
	t.Helper()
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.(*net.UnixConn).WriteMsgUnix(body, oob, nil); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var w wirePeer
	if err := json.Unmarshal(buf[:n], &w); err != nil {
		t.Fatalf("answer %q: %v", buf[:n], err)
	}
	return w
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// steadyFDs is openFDs once it has not changed for 100 ms (2 s at most).
func steadyFDs(t *testing.T) int {
	n, since := openFDs(t), time.Now()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && time.Since(since) < 100*time.Millisecond; {
		time.Sleep(10 * time.Millisecond)
		if m := openFDs(t); m != n {
			n, since = m, time.Now()
		}
	}
	return n
}

// TestHelperRefusesBadQueries: no socket, a socket that is not TCP, an
// unknown query, several descriptors: each gets an error answer, and every
// descriptor passed is closed (the helper runs in this process here, so a
// leak would show in our own descriptor count).
func TestHelperRefusesBadQueries(t *testing.T) {
	path := startHelper(t)
	srv, _ := accepted(t, "tcp4", "127.0.0.1:0")
	tcp, err := srv.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpFile, err := udp.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer udpFile.Close()

	// Descriptors of the set-up (the helper's first connection, the
	// accepted pair) may still be closing: count once the number is steady.
	before := steadyFDs(t)
	for _, tc := range []struct {
		name string
		body []byte
		fds  []int
		want string
	}{
		{"no socket", []byte{query}, nil, "want one socket"},
		{"a pipe", []byte{query}, []int{int(r.Fd())}, "not a TCP socket"},
		{"a UDP socket", []byte{query}, []int{int(udpFile.Fd())}, "not a TCP socket"},
		{"unknown query", []byte{'X'}, []int{int(tcp.Fd())}, "unknown query"},
		{"long query", []byte("LLLL"), []int{int(tcp.Fd())}, "unknown query"},
		{"two sockets", []byte{query}, []int{int(tcp.Fd()), int(tcp.Fd())}, "got 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := rawQuery(t, path, tc.body, tc.fds...)
			if !strings.Contains(a.Error, tc.want) {
				t.Errorf("answer %+v, want an error saying %q", a, tc.want)
			}
			if a.PID != 0 || a.UID != 0 || a.Client != "" {
				t.Errorf("a refused query got peer data: %+v", a)
			}
		})
	}
	// The helper closes its end of each query connection just after
	// answering: wait (bounded) for the count to come back.
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open after the queries, %d before: the helper leaks what it is passed", after, before)
	}
}

// TestAskWithoutHelper: no helper listening is an error saying so, not a
// hang.
func TestAskWithoutHelper(t *testing.T) {
	srv, _ := accepted(t, "tcp4", "127.0.0.1:0")
	_, err := Ask(filepath.Join(t.TempDir(), "none.sock"), srv)
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("Ask without a helper: %v, want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// TestHelperHeld: the held query says whether the process named holds the peer socket of the
// connection passed: this process for a connection of its own, not a child of ours that holds
// nothing of it; a PID it cannot read is an error, not "not held".
func TestHelperHeld(t *testing.T) {
	path := startHelper(t)
	srv, _ := accepted(t, "tcp4", "127.0.0.1:0")
	held, err := AskHeld(path, srv, os.Getpid())
	if err != nil || !held {
		t.Errorf("our own connection: held %v, %v; want held", held, err)
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	held, err = AskHeld(path, srv, child.Process.Pid)
	if err != nil || held {
		t.Errorf("a process that does not hold it: held %v, %v; want not held", held, err)
	}
	// A process that is not there (beyond pid_max) holds nothing.
	if held, err := AskHeld(path, srv, 1<<30); err != nil || held {
		t.Errorf("a process that is not there: held %v, %v; want not held", held, err)
	}
	if _, err := AskHeld(path, srv, 0); err == nil {
		t.Error("PID 0 asked")
	}
	// The query as bytes: a bad PID, and a short query, are refused.
	tcp, err := srv.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	if a := rawQuery(t, path, []byte{queryHeld, 0, 0, 0, 0}, int(tcp.Fd())); !strings.Contains(a.Error, "bad process id") || a.Held {
		t.Errorf("PID 0 in the query: %+v", a)
	}
	if a := rawQuery(t, path, []byte{queryHeld, 1}, int(tcp.Fd())); a.Error != ErrUnknownQuery.Error() || a.Held {
		t.Errorf("a short held query: %+v", a)
	}
}

// TestAskHeldOldHelper: a helper that does not know the held query answers "unknown query",
// and AskHeld says so with ErrUnknownQuery (the daemon then asks who the peer is instead).
func TestAskHeldOldHelper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.sock")
	l, err := ListenHelper(path, 0o660)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 16), make([]byte, 64)
		c.ReadMsgUnix(buf, oob)
		if fds, err := receivedFDs(oob); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
		c.Write([]byte(`{"uid":0,"error":"unknown query"}`))
	}()
	srv, _ := accepted(t, "tcp4", "127.0.0.1:0")
	if _, err := AskHeld(path, srv, os.Getpid()); !errors.Is(err, ErrUnknownQuery) {
		t.Errorf("old helper: %v, want ErrUnknownQuery", err)
	}
}
