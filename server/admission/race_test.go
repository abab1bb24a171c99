package admission

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGateConcurrentUse: admissions, evictions, PASS checks, handed-off events, trims and
// departures from many goroutines at once never race (run with -race), never evict an entry
// twice, and leave the gate empty.
// Guards: the gate's own lock (the pre-login state moved off Server.mu).
func TestGateConcurrentUse(t *testing.T) {
	lim := Limits{MaxSessions: 4, MaxSessionsPerSSHUser: 3, Prelogin: 1, PreloginPerSSHUser: 1, LoginTimeout: 4 * time.Millisecond}
	g := New(slog.New(slog.DiscardHandler), func() Limits { return lim }, func(LoginEvent) {}, false)
	var wg sync.WaitGroup
	var twice atomic.Int32
	stop := make(chan struct{})
	go func() { // the accept loop: the only caller of RoomForAnother
		for {
			select {
			case <-stop:
				return
			default:
				g.RoomForAnother()
			}
		}
	}()
	defer close(stop)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				var line atomic.Bool
				var evicted atomic.Int32
				e := &Entry{Owner: w % 3, Known: true, OwnerName: "u", HandedOff: i%3 == 0,
					SentLine: line.Load, Log: slog.New(slog.DiscardHandler)}
				e.Evict = func() {
					if evicted.Add(1) > 1 {
						twice.Add(1)
					}
				}
				ev, why := g.Admit(e, lim)
				g.Evict(ev)
				if why != "" {
					continue
				}
				if e.HandedOff {
					g.Attach(e)
					g.Event(e, EventStarted)
					g.Event(e, EventLine)
				} else {
					g.StartLoginTimer(e, time.Millisecond, func(string) {})
					line.Store(true)
				}
				switch i % 4 {
				case 0:
					if g.BeginCheck(e) {
						g.EndCheck(e, i%8 == 0)
					}
				case 1:
					g.EvictPrelogin()
				}
				g.Leave(e)
			}
		}()
	}
	wg.Wait()
	if n := twice.Load(); n != 0 {
		t.Errorf("%d entries evicted twice", n)
	}
	if n := g.waiting(); n != 0 {
		t.Errorf("%d entries left after every one left", n)
	}
}
