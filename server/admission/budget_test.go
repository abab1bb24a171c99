package admission

import (
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// newTestGate is a gate whose grace timers never fire during a test.
func newTestGate(t *testing.T, lim Limits) *Gate {
	lim.LoginTimeout = time.Hour
	return New(slog.New(slog.DiscardHandler), func() Limits { return lim }, nil, false)
}

// entry makes an entry of owner uid (-1: unidentified) that records its eviction in *evicted.
func entry(t *testing.T, g *Gate, owner int, sentLine bool, evicted *[]*Entry) *Entry {
	e := &Entry{Owner: owner, Known: owner >= 0, OwnerName: "u", SentLine: func() bool { return sentLine },
		Log: slog.New(slog.DiscardHandler)}
	e.Evict = func() { *evicted = append(*evicted, e) }
	t.Cleanup(func() { g.Leave(e) })
	return e
}

func admit(t *testing.T, g *Gate, e *Entry, lim Limits) (evicted []*Entry, refusal string) {
	t.Helper()
	lim.LoginTimeout = time.Hour
	return g.Admit(e, lim)
}

// TestAdmitMakesRoom: a new connection that finds max_sessions full closes one not logged in:
// one that has sent no command line before one that has, never one checking a PASS or logged
// in; with nothing to take it is refused, and nobody is evicted.
// Guards: the eviction choice of the pre-login budget.
func TestAdmitMakesRoom(t *testing.T) {
	lim := Limits{MaxSessions: 3}
	g := newTestGate(t, lim)
	var closed []*Entry
	talker := entry(t, g, -1, true, &closed)
	silent := entry(t, g, -1, false, &closed)
	checking := entry(t, g, -1, false, &closed)
	for _, e := range []*Entry{talker, silent, checking} {
		if ev, why := admit(t, g, e, lim); why != "" || len(ev) != 0 {
			t.Fatalf("admitting under the limit: evicted %d, refusal %q", len(ev), why)
		}
	}
	if !g.BeginCheck(checking) {
		t.Fatal("BeginCheck on an open connection")
	}
	fourth := entry(t, g, -1, false, &closed)
	ev, why := admit(t, g, fourth, lim)
	if why != "" || len(ev) != 1 || ev[0] != silent {
		t.Fatalf("fourth connection: evicted %v, refusal %q; want the silent one", ev, why)
	}
	g.Evict(ev)
	if len(closed) != 1 || closed[0] != silent {
		t.Errorf("closed %v, want the silent one", closed)
	}
	if !g.EndCheck(checking, true) {
		t.Fatal("EndCheck on an open connection")
	}
	// The talker is older, but the fourth has sent no line.
	fifth := entry(t, g, -1, true, &closed)
	if ev, why = admit(t, g, fifth, lim); why != "" || len(ev) != 1 || ev[0] != fourth {
		t.Fatalf("fifth connection: evicted %v, refusal %q; want the fourth", ev, why)
	}
	// Between two that have sent a line, the oldest goes.
	if ev, why = admit(t, g, entry(t, g, -1, true, &closed), lim); why != "" || len(ev) != 1 || ev[0] != talker {
		t.Fatalf("sixth connection: evicted %v, refusal %q; want the talker", ev, why)
	}
	// Left: checking (logged in), the fifth and the sixth. At max_sessions=1, even taking both
	// others would leave the logged-in one at the limit: refused, and nobody is taken.
	lim.MaxSessions = 1
	if ev, why = admit(t, g, entry(t, g, -1, false, &closed), lim); why != "Too many sessions (max_sessions=1); try again later" || ev != nil {
		t.Errorf("over a limit held by a logged-in session: evicted %v, refusal %q", ev, why)
	}
	if ev, why = admit(t, g, entry(t, g, -1, false, &closed), Limits{MaxSessions: 3}); why != "" || len(ev) != 1 || ev[0] != fifth {
		t.Errorf("after a refusal the candidates are intact: evicted %v, refusal %q; want the fifth", ev, why)
	}
}

// TestAdmitPerSSHUser: at max_sessions_per_ssh_user, the new connection takes the place of one
// of its own SSH user's connections, never another user's; with none to take it is refused with
// the user named.
func TestAdmitPerSSHUser(t *testing.T) {
	lim := Limits{MaxSessions: 10, MaxSessionsPerSSHUser: 1}
	g := newTestGate(t, lim)
	var closed []*Entry
	alice, bob := entry(t, g, 1001, false, &closed), entry(t, g, 1002, false, &closed)
	admit(t, g, bob, lim)
	admit(t, g, alice, lim)
	ev, why := admit(t, g, entry(t, g, 1001, false, &closed), lim)
	if why != "" || len(ev) != 1 || ev[0] != alice {
		t.Fatalf("alice's second connection: evicted %v, refusal %q; want alice's first", ev, why)
	}
	g.EndCheck(bob, true)
	b2 := entry(t, g, 1002, false, &closed)
	b2.OwnerName = "bob"
	ev, why = admit(t, g, b2, lim)
	if why != "Too many sessions for SSH user bob (max_sessions_per_ssh_user=1)" || ev != nil {
		t.Errorf("bob's second connection: evicted %v, refusal %q", ev, why)
	}
}

// TestHandedOffEvictedOnlyOnceStarted: a session handed off to a process of its own is not
// taken until the server holds its handle and the process said it is ready.
func TestHandedOffEvictedOnlyOnceStarted(t *testing.T) {
	lim := Limits{MaxSessions: 1}
	g := newTestGate(t, lim)
	var closed []*Entry
	h := entry(t, g, -1, false, &closed)
	h.HandedOff = true
	admit(t, g, h, lim)
	if _, why := admit(t, g, entry(t, g, -1, false, &closed), lim); why == "" {
		t.Fatal("a starting handed-off session was taken")
	}
	g.Attach(h)
	g.Event(h, EventStarted)
	if ev, why := admit(t, g, entry(t, g, -1, false, &closed), lim); why != "" || len(ev) != 1 || ev[0] != h {
		t.Errorf("after start: evicted %v, refusal %q", ev, why)
	}
}

// TestStartedBeforeAttachIsTrimmed: a handed-off session whose process reports it is ready
// before the server holds its handle (the report comes on its own goroutine, the handle once
// the start returns) is trimmed once it is attached, as one that reports after it: it does not
// stay past its grace until its login timeout.
// Guards: the trim Attach starts for a session that had started.
func TestStartedBeforeAttachIsTrimmed(t *testing.T) {
	long := Limits{MaxSessions: 10, Prelogin: 0, LoginTimeout: time.Hour}
	short := long
	short.LoginTimeout = time.Nanosecond // every connection is past its grace
	var lim atomic.Pointer[Limits]
	lim.Store(&long)
	asked := make(chan Limits, 10)
	g := New(slog.New(slog.DiscardHandler), func() Limits { l := *lim.Load(); asked <- l; return l }, nil, true)
	evicted := make(chan struct{})
	e := &Entry{Owner: 1, Known: true, OwnerName: "u", HandedOff: true, SentLine: func() bool { return false },
		Log: slog.New(slog.DiscardHandler), Evict: func() { close(evicted) }}
	t.Cleanup(func() { g.Leave(e) })
	if ev, why := g.Admit(e, long); why != "" || len(ev) != 0 {
		t.Fatalf("Admit: evicted %v, refusal %q", ev, why)
	}
	g.Event(e, EventStarted)
	// The trim EventStarted starts decides on the long limits: e is not stale for it, whenever
	// it takes the lock.
	if l := <-asked; l.LoginTimeout != time.Hour {
		t.Fatalf("the started trim saw %v", l.LoginTimeout)
	}
	lim.Store(&short)
	g.Attach(e)
	select {
	case <-evicted:
	case <-time.After(5 * time.Second):
		t.Fatal("a session past its grace that reported started before it was attached was not trimmed")
	}
}
