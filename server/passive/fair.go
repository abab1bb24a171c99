package passive

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Fair shares of a tiny range. One user with many sessions that keep
// sending PASV would otherwise hold every port (each held until its data
// connection comes, or accept_timeout), and a second user would wait in
// vain. So:
//   - a user (each of its keys: the FTP user, and the SSH user where known)
//     holds at most MaxPerUser ports at once. Each PASV takes one token per
//     key, held with the port until the listener lets it go; across the
//     processes sharing the lock file, a token is an OFD lock on a byte of
//     the user's own region of the file, so it is counted across processes
//     like the ports themselves, and a process that dies lets go of it;
//   - PASVs that must wait are served in arrival order, across users and
//     across processes: when a port is free, it goes to the first waiter
//     that may take one (the waiters of a user at its limit are skipped,
//     not served out of turn). In one process the queue is a list; with a
//     lock file it is a table in the file, numbered from a counter there,
//     each entry kept alive by a lock only its process holds.

// Share is what a PASV counts against the per-user limits: the keys of its
// session (its FTP user, and its SSH user where known) and the limit.
// A zero Share (no keys, or Max 0) has no limit.
//
// With Borrow set, a PASV of a user at its limit may still take a port
// beyond it ("borrow" one) while no PASV of another user waits and at least
// one port of the range stays free after it: one user's parallel sessions
// (lftp mirror --parallel) use the range when nobody else needs it, and
// another user still finds a free port at once. A borrowed port that no data
// connection reaches within Borrow is released (not after accept_timeout),
// so ports borrowed and left unused are back within Borrow for a user who
// waits.
type Share struct {
	Keys   []string
	Max    int
	Borrow time.Duration
}

// MaxShare is the highest per-user limit (the size of a user's region of
// token bytes in the lock file).
const MaxShare = 64

// share is a Share with its keys hashed.
type share struct {
	keys []uint64
	max  int
}

func (s Share) hashed() share {
	if s.Max <= 0 || len(s.Keys) == 0 {
		return share{}
	}
	sh := share{max: min(s.Max, MaxShare)}
	for _, k := range s.Keys {
		h := fnv.New64a()
		io.WriteString(h, k)
		sh.keys = append(sh.keys, h.Sum64())
	}
	return sh
}

// Layout of the lock file beyond the port bytes (offset N = port N).
const (
	queueData   = 1 << 20        // the waiters' table: next number, then the slots
	queueSlots  = 256            // waiters at once across the processes
	slotSize    = 32             // number, limit, key count, two keys
	queueMutex  = 1 << 21        // lock byte guarding the table
	slotAlive   = queueMutex + 1 // + slot: held by the process of a live entry
	tokenRegion = 1 << 32        // + bucket*MaxShare + j: a user's tokens
	tokenBucket = 1 << 24
)

func tokenOffset(key uint64, j int) int64 {
	return tokenRegion + int64(key%tokenBucket)*MaxShare + int64(j)
}

// waiter is a PASV waiting for a port.
type waiter struct {
	seq  uint64
	sh   share
	slot int // its slot in the lock file's table; -1 without a lock file
	mine bool
}

// tokens held by this process, per key: bit j = token j. p.mu guards it.
type tokenSet map[uint64]uint64

// lockedElsewhere reports whether another open file description holds a
// lock on byte off of the lock file (ours never conflict with ourselves).
func (p *Pool) lockedElsewhere(off int64) bool {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: off, Len: 1}
	if err := unix.FcntlFlock(p.lock.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return true // cannot tell: take it as held
	}
	return lk.Type != unix.F_UNLCK
}

func (p *Pool) lockByte(off int64, wait bool) bool {
	cmd := unix.F_OFD_SETLK
	if wait {
		cmd = unix.F_OFD_SETLKW
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: off, Len: 1}
	for {
		err := unix.FcntlFlock(p.lock.Fd(), cmd, &lk)
		if err != unix.EINTR {
			return err == nil
		}
	}
}

func (p *Pool) unlockByte(off int64) {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart, Start: off, Len: 1}
	unix.FcntlFlock(p.lock.Fd(), unix.F_OFD_SETLK, &lk) //nolint:errcheck // unlocking cannot fail
}

// freeToken returns a token of key this process may take under limit max,
// or -1. p.mu held.
func (p *Pool) freeToken(key uint64, limit int) int {
	held := p.tokens[key]
	for j := range limit {
		if held&(1<<j) != 0 {
			continue
		}
		if p.lock != nil && p.lockedElsewhere(tokenOffset(key, j)) {
			continue
		}
		return j
	}
	return -1
}

// mayTake reports whether a PASV of share sh could take its tokens now.
// p.mu held.
func (p *Pool) mayTake(sh share) bool {
	for _, k := range sh.keys {
		if p.freeToken(k, sh.max) < 0 {
			return false
		}
	}
	return true
}

// slotFree reports whether the port of slot could be taken now. p.mu held.
func (p *Pool) slotFree(slot int) bool {
	return !p.busy[slot] && !p.foreign[slot] && (p.lock == nil || !p.lockedElsewhere(int64(p.first+slot)))
}

// anyPortFree reports whether some port could be taken now. p.mu held.
func (p *Pool) anyPortFree() bool {
	for slot := range p.busy {
		if p.slotFree(slot) {
			return true
		}
	}
	return false
}

// takeTokens takes one token per key of sh; false (nothing taken) if one
// is not free. p.mu held.
func (p *Pool) takeTokens(sh share) ([]heldToken, bool) {
	var got []heldToken
	for _, k := range sh.keys {
		j := p.freeToken(k, sh.max)
		if j >= 0 && p.lock != nil && !p.lockByte(tokenOffset(k, j), false) {
			j = -1 // another process took it just now
		}
		if j < 0 {
			p.dropTokens(got)
			return nil, false
		}
		p.tokens[k] |= 1 << j
		got = append(got, heldToken{k, j})
	}
	return got, true
}

// heldToken is token j of a key.
type heldToken struct {
	key uint64
	j   int
}

// dropTokens gives tokens back. p.mu held.
func (p *Pool) dropTokens(ts []heldToken) {
	for _, t := range ts {
		p.tokens[t.key] &^= 1 << t.j
		if p.tokens[t.key] == 0 {
			delete(p.tokens, t.key)
		}
		if p.lock != nil {
			p.unlockByte(tokenOffset(t.key, t.j))
		}
	}
}

// Grant is the tokens one PASV holds; Release gives them back (once).
type Grant struct {
	p        *Pool
	tokens   []heldToken
	borrowed time.Duration // a port beyond the share: released after this unused
}

// Borrowed is how long the PASV's port may wait for its data connection when
// it was taken beyond the user's share (Share.Borrow), 0 when within it.
func (g *Grant) Borrowed() time.Duration {
	if g == nil {
		return 0
	}
	return g.borrowed
}

// freePorts counts the ports that could be taken now. p.mu held.
func (p *Pool) freePorts() int {
	n := 0
	for slot := range p.busy {
		if p.slotFree(slot) {
			n++
		}
	}
	return n
}

// otherUserWaits reports whether a PASV of another user (other keys) than sh
// waits for a port it could take within its share. (One at its own limit
// does not stop sh borrowing: it may borrow too.) ws is the queue. p.mu held.
func (p *Pool) otherUserWaits(sh share, ws []*waiter) bool {
	for _, o := range ws {
		if !slices.Equal(o.sh.keys, sh.keys) && p.mayTake(o.sh) {
			return true
		}
	}
	return false
}

// borrowLocked takes a port beyond the share sh is at the limit of, when
// Share.Borrow allows it: no other user waits, and a port stays free after.
// With a lock file, the check and the take run under the waiters' table's
// lock, which every borrow and every PASV that joins the queue takes: two
// processes cannot both take the last port but one, nor borrow past a user
// that has just joined the queue. p.mu held.
func (p *Pool) borrowLocked(sh share, borrow time.Duration, probeErr *error) (int, *Grant, bool) {
	if borrow <= 0 || len(sh.keys) == 0 || p.mayTake(sh) {
		return 0, nil, false
	}
	ws := p.queue
	if p.lock != nil {
		p.lockByte(queueMutex, true)
		defer p.unlockByte(queueMutex)
		ws = p.tableWaiters()
	}
	if p.freePorts() < 2 || p.otherUserWaits(sh, ws) {
		return 0, nil, false
	}
	slot, ok := p.takeNext(probeErr)
	if !ok {
		return 0, nil, false
	}
	p.next = (slot + 1) % len(p.busy)
	return p.first + slot, &Grant{p: p, borrowed: borrow}, true
}

// Release gives the tokens back; a nil Grant or a second call does nothing.
func (g *Grant) Release() {
	if g == nil || g.p == nil {
		return
	}
	g.p.mu.Lock()
	g.p.dropTokens(g.tokens)
	g.tokens = nil
	p := g.p
	g.p = nil
	p.notifyLocked()
	p.mu.Unlock()
}

// notifyLocked wakes this process's waiters. p.mu held.
func (p *Pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// join queues a PASV of share sh. p.mu held.
func (p *Pool) join(sh share) *waiter {
	w := &waiter{sh: sh, slot: -1, mine: true}
	if p.lock == nil {
		p.seq++
		w.seq = p.seq
		p.queue = append(p.queue, w)
		return w
	}
	p.withTable(func(tab []byte) {
		next := binary.LittleEndian.Uint64(tab) + 1
		binary.LittleEndian.PutUint64(tab, next)
		w.seq = next
		for i := range queueSlots {
			e := tab[8+i*slotSize:]
			if binary.LittleEndian.Uint64(e) != 0 {
				continue
			}
			if !p.lockByte(slotAlive+int64(i), false) {
				continue // a process of a stale entry that is still closing it
			}
			w.slot = i
			putEntry(e, w)
			return
		}
		// Table full: this PASV waits outside the queue (no place in line).
	})
	p.queue = append(p.queue, w)
	return w
}

// leave takes w out of the queue. p.mu held.
func (p *Pool) leave(w *waiter) {
	p.queue = slices.DeleteFunc(p.queue, func(x *waiter) bool { return x == w })
	if w.slot >= 0 {
		p.withTable(func(tab []byte) {
			clear(tab[8+w.slot*slotSize : 8+(w.slot+1)*slotSize])
		})
		p.unlockByte(slotAlive + int64(w.slot))
	}
}

// turn reports whether w is first in line among the waiters that could
// take their tokens now: no waiter that came earlier could. p.mu held.
func (p *Pool) turn(w *waiter) bool {
	for _, o := range p.waiters() {
		if o.seq >= w.seq {
			break
		}
		if p.mayTake(o.sh) {
			return false
		}
	}
	return true
}

// waiters is the queue in arrival order: this process's, or with a lock
// file every process's (entries whose process is gone are dropped).
// p.mu held.
func (p *Pool) waiters() []*waiter {
	if p.lock == nil {
		return p.queue
	}
	p.lockByte(queueMutex, true)
	defer p.unlockByte(queueMutex)
	return p.tableWaiters()
}

// tableWaiters is waiters with a lock file, its table's lock held by the caller.
func (p *Pool) tableWaiters() []*waiter {
	mine := map[int]bool{}
	for _, w := range p.queue {
		if w.slot >= 0 {
			mine[w.slot] = true
		}
	}
	var ws []*waiter
	p.tableIO(func(tab []byte) {
		for i := range queueSlots {
			e := tab[8+i*slotSize : 8+(i+1)*slotSize]
			seq := binary.LittleEndian.Uint64(e)
			if seq == 0 {
				continue
			}
			if !mine[i] && !p.lockedElsewhere(slotAlive+int64(i)) {
				clear(e) // its process is gone
				continue
			}
			ws = append(ws, readEntry(e, i))
		}
	})
	slices.SortFunc(ws, func(a, b *waiter) int { return int64cmp(a.seq, b.seq) })
	return ws
}

func int64cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// withTable runs fn on the waiters' table of the lock file under its
// cross-process lock, and writes the table back. p.mu held (the lock does
// not exclude this process's own goroutines).
func (p *Pool) withTable(fn func(tab []byte)) {
	p.lockByte(queueMutex, true)
	defer p.unlockByte(queueMutex)
	p.tableIO(fn)
}

// tableIO reads the waiters' table, runs fn on it and writes it back if fn
// changed it; the table's lock held by the caller.
func (p *Pool) tableIO(fn func(tab []byte)) {
	tab := make([]byte, 8+queueSlots*slotSize)
	fd := int(p.lock.Fd())
	if n, err := unix.Pread(fd, tab, queueData); err != nil || n < len(tab) {
		clear(tab[max(n, 0):]) // a new file reads short: zeros
	}
	before := slices.Clone(tab)
	fn(tab)
	if !slices.Equal(before, tab) {
		unix.Pwrite(fd, tab, queueData) //nolint:errcheck // a lost write only costs a place in line
	}
}

func putEntry(e []byte, w *waiter) {
	le := binary.LittleEndian
	le.PutUint64(e, w.seq)
	le.PutUint32(e[8:], uint32(w.sh.max))
	le.PutUint32(e[12:], uint32(len(w.sh.keys)))
	for i := range 2 {
		var k uint64
		if i < len(w.sh.keys) {
			k = w.sh.keys[i]
		}
		le.PutUint64(e[16+8*i:], k)
	}
}

func readEntry(e []byte, slot int) *waiter {
	le := binary.LittleEndian
	w := &waiter{seq: le.Uint64(e), slot: slot}
	w.sh.max = int(le.Uint32(e[8:]))
	n := min(int(le.Uint32(e[12:])), 2)
	for i := range n {
		w.sh.keys = append(w.sh.keys, le.Uint64(e[16+8*i:]))
	}
	return w
}
