// Package relay is the latency relay of the WAN benchmark (issue 17): a TCP
// proxy that delays every byte by a fixed time in each direction, so that a
// connection through it has a real round trip on a machine whose kernel has
// no netem.
//
// The delay line is Shopify's toxiproxy: its latency toxic, fed through its
// stream channels, one pipeline per direction (so byte order is kept). Each
// chunk is stamped when it is read and released when its delay has passed,
// with up to 1,024 chunks in flight per direction, so throughput is not
// capped at one chunk per delay.
//
// The sockets are this package's own, not toxiproxy's Proxy, because a
// relay splits the TCP connection in two and must not add what a real path
// would not (measured with tcpdump through ssh, see bench/README.md "WAN"):
//   - its kernel would delay each ACK by up to 40 ms when the relay has
//     nothing to send back, where a real path's ACK comes back after a round
//     trip; ssh and sshd keep Nagle's algorithm on for sessions without a
//     terminal, so each small write waited for that ACK. The relay asks for
//     an immediate ACK (TCP_QUICKACK) after every read.
//   - loopback's MSS is 64 KiB, so every write under 64 KiB counts as small
//     for Nagle; MSS (default 1448, an Ethernet path's) clamps both legs.
//
// This package owns nothing of the daemon and must not be imported by it; it
// lives in its own module (bench/tools) so that toxiproxy's dependencies stay
// out of tunnelftpd's go.mod.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"golang.org/x/sys/unix"
)

// Options shape the emulated path.
type Options struct {
	// OneWay is the delay added to each direction (half the round trip),
	// a whole number of milliseconds (toxiproxy's unit).
	OneWay time.Duration
	// MSS clamps the segment size of both legs; 0 keeps the kernel's (64 KiB
	// on loopback). DefaultMSS is an Ethernet path's.
	MSS int
	// NoQuickAck leaves the relay's kernel to delay its ACKs (the control
	// case of the tests).
	NoQuickAck bool
	// Log receives one line per connection error; nil discards them.
	Log io.Writer
}

// DefaultMSS is the MSS of a path with a 1500-byte MTU and TCP timestamps.
const DefaultMSS = 1448

// bufferChunks is how many chunks may wait in one direction's delay line
// (the size toxiproxy's latency toxic asks for).
const bufferChunks = 1024

// Relay is one running relay.
type Relay struct {
	opt      Options
	upstream string
	ln       net.Listener
	log      *log.Logger
	dialer   net.Dialer

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  chan struct{}
	wg    sync.WaitGroup
}

// Start listens on listen ("127.0.0.1:0" picks a port) and forwards every
// connection to upstream through the delay line.
func Start(listen, upstream string, o Options) (*Relay, error) {
	if o.OneWay < 0 || o.OneWay%time.Millisecond != 0 {
		return nil, fmt.Errorf("relay: one-way delay %s is not a whole number of milliseconds", o.OneWay)
	}
	if o.MSS < 0 || o.MSS > 0 && o.MSS < 536 {
		return nil, fmt.Errorf("relay: MSS %d is below TCP's minimum of 536", o.MSS)
	}
	r := &Relay{opt: o, upstream: upstream, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	out := o.Log
	if out == nil {
		out = io.Discard
	}
	r.log = log.New(out, "relay: ", log.LstdFlags)
	lc := net.ListenConfig{Control: r.control}
	ln, err := lc.Listen(context.Background(), "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("relay: listening on %s: %w", listen, err)
	}
	r.ln = ln
	r.dialer = net.Dialer{Timeout: 10 * time.Second, Control: r.control}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// control sets the MSS on a socket before it listens or connects (an
// accepted socket inherits its listener's).
func (r *Relay) control(_, _ string, c syscall.RawConn) error {
	if r.opt.MSS == 0 {
		return nil
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, r.opt.MSS)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("relay: TCP_MAXSEG %d: %w", r.opt.MSS, serr)
	}
	return nil
}

// Addr is the address the relay listens on.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// OneWay is the delay added to each direction.
func (r *Relay) OneWay() time.Duration { return r.opt.OneWay }

// Dial connects to the relay (a convenience for tests and probes).
func (r *Relay) Dial() (net.Conn, error) { return net.Dial("tcp", r.Addr()) }

// Close stops listening, closes every relayed connection and waits for the
// relay's goroutines to end.
func (r *Relay) Close() {
	r.mu.Lock()
	select {
	case <-r.done:
		r.mu.Unlock()
		return
	default:
	}
	close(r.done)
	r.ln.Close()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// track registers c for Close; false once the relay is closing.
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.done:
		return false
	default:
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			select {
			case <-r.done:
			default:
				r.log.Printf("accept: %v", err)
			}
			return
		}
		r.wg.Add(1)
		go r.serve(c.(*net.TCPConn))
	}
}

// serve relays one connection: a delay line each way. A direction that ends
// (EOF) is passed on as a half-close once its delayed bytes are out; the
// connection is closed when both have ended, or at the first error.
func (r *Relay) serve(client *net.TCPConn) {
	defer r.wg.Done()
	if !r.track(client) {
		client.Close()
		return
	}
	defer r.untrack(client)
	defer client.Close()
	up, err := r.dialer.Dial("tcp", r.upstream)
	if err != nil {
		r.log.Printf("dialing %s: %v", r.upstream, err)
		return
	}
	upc := up.(*net.TCPConn)
	if !r.track(upc) {
		upc.Close()
		return
	}
	defer r.untrack(upc)
	defer upc.Close()
	var once sync.Once
	abort := func() { once.Do(func() { client.SetLinger(0); client.Close(); upc.Close() }) }
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.pipe(client, upc, abort) }()
	go func() { defer wg.Done(); r.pipe(upc, client, abort) }()
	wg.Wait()
}

// pipe moves src to dst through one delay line.
func (r *Relay) pipe(src, dst *net.TCPConn, abort func()) {
	in := make(chan *stream.StreamChunk, bufferChunks)
	out := make(chan *stream.StreamChunk)
	stub := toxics.NewToxicStub(in, out)
	lat := &toxics.LatencyToxic{Latency: r.opt.OneWay.Milliseconds()}
	go lat.Pipe(stub) // closes out once in is closed and drained
	wrote := make(chan error, 1)
	go func() {
		_, err := io.Copy(dst, stream.NewChanReader(out))
		if err == nil {
			err = dst.CloseWrite()
		}
		if err != nil {
			abort()         // the reader stops at its next read
			for range out { // let the toxic finish
			}
		}
		wrote <- err
	}()
	raw, _ := src.SyscallConn()
	w := stream.NewChanWriter(in)
	buf := make([]byte, 32<<10)
	var rerr error
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !r.opt.NoQuickAck && raw != nil {
				// Re-armed after every read: the kernel leaves quick-ACK
				// mode by itself.
				raw.Control(func(fd uintptr) {
					unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
				})
			}
			w.Write(buf[:n])
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rerr = err
			}
			break
		}
	}
	w.Close()
	if rerr != nil {
		abort()
	}
	<-wrote
}
