package relay

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// upstream starts a listener whose connections are handled by h.
func upstream(t *testing.T, h func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); h(c) }()
		}
	}()
	return l.Addr().String()
}

func start(t *testing.T, up string, oneWay time.Duration) *Relay {
	t.Helper()
	r, err := Start("127.0.0.1:0", up, Options{OneWay: oneWay, MSS: DefaultMSS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// TestDelaysEachWay checks that each direction, on its own, takes at least
// the configured delay: the upstream stamps when a probe arrives and when it
// answers, so the two one-way times are measured apart (same clock, same
// process).
func TestDelaysEachWay(t *testing.T) {
	const oneWay = 20 * time.Millisecond
	arrived := make(chan time.Time, 16)
	up := upstream(t, func(c net.Conn) {
		b := make([]byte, 8)
		for {
			if _, err := io.ReadFull(c, b); err != nil {
				return
			}
			now := time.Now()
			arrived <- now
			binary.BigEndian.PutUint64(b, uint64(now.UnixNano()))
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	})
	r := start(t, up, oneWay)
	c, err := r.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var there, back []time.Duration
	b := make([]byte, 8)
	for range 8 {
		sent := time.Now()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		got := time.Now()
		at := <-arrived
		answered := time.Unix(0, int64(binary.BigEndian.Uint64(b)))
		there = append(there, at.Sub(sent))
		back = append(back, got.Sub(answered))
	}
	for name, ds := range map[string][]time.Duration{"client->upstream": there, "upstream->client": back} {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		if ds[0] < oneWay {
			t.Errorf("%s: fastest probe took %s, less than the configured %s", name, ds[0], oneWay)
		}
		// Generous: a shared 2-core machine adds scheduling delay, but a
		// median beyond twice the delay means the relay adds its own.
		if med := ds[len(ds)/2]; med > 2*oneWay {
			t.Errorf("%s: median %s, more than twice the configured %s", name, med, oneWay)
		}
		t.Logf("%s: %v", name, ds)
	}
}

// TestZeroDelayIsFast is the control: the same probe without delay comes
// back well under the delayed one's one-way time.
func TestZeroDelayIsFast(t *testing.T) {
	up := upstream(t, func(c net.Conn) { io.Copy(c, c) })
	r := start(t, up, 0)
	c, err := r.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rtts []time.Duration
	b := []byte{1}
	for range 8 {
		t0 := time.Now()
		c.Write(b)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	if rtts[len(rtts)/2] >= 20*time.Millisecond {
		t.Errorf("undelayed round trips %v: the relay itself adds time", rtts)
	}
}

// pattern is n bytes of a seeded stream, so order and content are checked
// by one hash.
func pattern(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b
}

// TestKeepsByteOrder sends different streams both ways at once, in writes of
// varying sizes, and checks both arrive byte for byte.
func TestKeepsByteOrder(t *testing.T) {
	const n = 16 << 20
	down := pattern(2, n)
	gotUp := make(chan [32]byte, 1)
	up := upstream(t, func(c net.Conn) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeChunked(c, down, 3)
		}()
		h := sha256.New()
		io.CopyN(h, c, n)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		gotUp <- s
		wg.Wait()
	})
	r := start(t, up, 5*time.Millisecond)
	c, err := r.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	upData := pattern(1, n)
	go writeChunked(c, upData, 4)
	got := make([]byte, n)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the downstream: %v", err)
	}
	if !bytes.Equal(got, down) {
		i := 0
		for i < n && got[i] == down[i] {
			i++
		}
		t.Fatalf("downstream differs from byte %d on", i)
	}
	select {
	case s := <-gotUp:
		if s != sha256.Sum256(upData) {
			t.Fatal("upstream bytes differ from what was sent")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("upstream never got all bytes")
	}
}

// writeChunked writes b in writes of pseudo-random sizes from 1 byte to 64 KiB.
func writeChunked(w io.Writer, b []byte, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	for len(b) > 0 {
		k := min(len(b), 1+rng.IntN(64<<10))
		if _, err := w.Write(b[:k]); err != nil {
			return
		}
		b = b[k:]
	}
}

// TestIsADelayLine checks that throughput is not one chunk per delay: 64 MiB
// through a 20 ms relay would take at least 2,048 x 20 ms = 41 s if each
// 32 KiB chunk waited for the one before it.
func TestIsADelayLine(t *testing.T) {
	const n = 64 << 20
	done := make(chan int64, 1)
	up := upstream(t, func(c net.Conn) {
		k, _ := io.Copy(io.Discard, c)
		done <- k
	})
	r := start(t, up, 20*time.Millisecond)
	c, err := r.Dial()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	t0 := time.Now()
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	select {
	case k := <-done:
		el := time.Since(t0)
		if k != n {
			t.Fatalf("upstream got %d of %d bytes", k, n)
		}
		if el > 10*time.Second {
			t.Fatalf("64 MiB took %s through a 20 ms relay: it is not a delay line", el)
		}
		t.Logf("64 MiB in %s (%.0f MiB/s)", el, float64(n)/(1<<20)/el.Seconds())
	case <-time.After(60 * time.Second):
		t.Fatal("upstream never got all bytes")
	}
}

func TestRejectsSubMillisecond(t *testing.T) {
	if _, err := Start("127.0.0.1:0", "127.0.0.1:1", Options{OneWay: 1500 * time.Microsecond}); err == nil {
		t.Fatal("a 1.5 ms delay was accepted; toxiproxy counts whole milliseconds")
	}
	if _, err := Start("127.0.0.1:0", "127.0.0.1:1", Options{MSS: 100}); err == nil {
		t.Fatal("an MSS of 100 was accepted")
	}
}

// TestClampsMSS: a client of the relay sends segments of at most the
// configured MSS (loopback's own is 64 KiB), and so does the relay's
// connection to the upstream.
func TestClampsMSS(t *testing.T) {
	got := make(chan int, 1)
	up := upstream(t, func(c net.Conn) {
		got <- maxseg(t, c.(*net.TCPConn))
		io.Copy(io.Discard, c)
	})
	r := start(t, up, time.Millisecond)
	c, err := r.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if m := maxseg(t, c.(*net.TCPConn)); m > DefaultMSS {
		t.Errorf("client side MSS %d, want at most %d", m, DefaultMSS)
	}
	if m := <-got; m > DefaultMSS {
		t.Errorf("upstream side MSS %d, want at most %d", m, DefaultMSS)
	}
}

func maxseg(t *testing.T, c *net.TCPConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var m int
	var serr error
	raw.Control(func(fd uintptr) { m, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG) })
	if serr != nil {
		t.Fatal(serr)
	}
	return m
}

// TestNoDelayedACKStall: an upstream with Nagle's algorithm on (as sshd for
// a session without a terminal) writes a small message, then, before any
// answer, a second one; Nagle holds the second until the first is ACKed.
// The relay ACKs at once, so the second arrives right after the first, not
// a delayed-ACK timeout (40 ms on Linux) later. The warm-up ping-pong puts
// the connection in the interactive mode where the kernel delays ACKs.
func TestNoDelayedACKStall(t *testing.T) {
	for _, quick := range []bool{true, false} {
		gap := nagleGap(t, Options{OneWay: 2 * time.Millisecond, MSS: DefaultMSS, NoQuickAck: !quick})
		t.Logf("quick ACKs %v: second small write arrived %s after the first", quick, gap)
		if quick && gap > 20*time.Millisecond {
			t.Errorf("with quick ACKs the second small write came %s after the first: a delayed-ACK stall", gap)
		}
	}
}

func nagleGap(t *testing.T, o Options) time.Duration {
	up := upstream(t, func(c net.Conn) {
		tc := c.(*net.TCPConn)
		b := make([]byte, 1)
		for range 40 { // ping-pong warm-up
			if _, err := io.ReadFull(c, b); err != nil {
				return
			}
			c.Write(b)
		}
		tc.SetNoDelay(false)
		if _, err := io.ReadFull(c, b); err != nil { // go
			return
		}
		c.Write([]byte("first"))
		c.Write([]byte("second"))
		io.Copy(io.Discard, c)
	})
	r, err := Start("127.0.0.1:0", up, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := r.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 1)
	for range 40 {
		c.Write(b)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
	}
	c.Write(b)
	first := make([]byte, 5)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	second := make([]byte, 6)
	if _, err := io.ReadFull(c, second); err != nil {
		t.Fatal(err)
	}
	if string(first)+string(second) != "firstsecond" {
		t.Fatalf("got %q %q", first, second)
	}
	return time.Since(t0)
}
