package registry

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Layout of the counters file: a header, then fixed slots of counterSlot bytes. A slot is
//
//	[0:8]   value, a uint64 changed only by atomic addition
//	[8:12]  state, 0 (free) or 1 (key written), stored atomically after the key
//	[12:14] key length
//	[14:]   key: the metric name, then for each label \x1e name \x1f value
//
// Slots are allocated under an OFD lock on the header and never freed; additions take no lock.
const (
	counterSlot   = 128
	counterKeyMax = counterSlot - 14
	// MaxCounters is how many distinct counters (name and label values) the file holds.
	MaxCounters  = 8191
	countersSize = counterSlot * (MaxCounters + 1)
)

var countersMagic = []byte("tunnelftpd counters v1\n")

// Counters are the event counters shared by every process of a daemon. Make them with
// OpenCounters (a process that counts) or read them with ReadCounters. Safe for concurrent use.
type Counters struct {
	f   *os.File
	mem []byte

	mu    sync.Mutex
	index map[string]int // key → slot, for the keys this process has used
}

// OpenCounters opens (creating it if needed) the counters file in dir and maps it.
func OpenCounters(dir string) (*Counters, error) {
	f, err := openShared(dir, CountersFile)
	if err != nil {
		return nil, err
	}
	if err := initCounters(f); err != nil {
		f.Close()
		return nil, err
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, countersSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mapping the counters file: %w", err)
	}
	return &Counters{f: f, mem: mem, index: map[string]int{}}, nil
}

// initCounters sizes a new counters file and writes its header, or checks an existing one. The
// file is never shrunk: a mapping past its end would fault.
func initCounters(f *os.File) error {
	if _, err := lockRange(f, unix.F_WRLCK, 0, 1, true); err != nil {
		return err
	}
	defer lockRange(f, unix.F_UNLCK, 0, 1, false) //nolint:errcheck // unlocking cannot fail
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("counters file: %w", err)
	}
	if st.Size() == 0 {
		if err := f.Truncate(countersSize); err != nil {
			return fmt.Errorf("sizing the counters file: %w", err)
		}
		if _, err := f.WriteAt(countersMagic, 0); err != nil {
			return fmt.Errorf("writing the counters header: %w", err)
		}
		return nil
	}
	return checkCounters(f, st.Size())
}

func checkCounters(f *os.File, size int64) error {
	head := make([]byte, len(countersMagic))
	if _, err := f.ReadAt(head, 0); err != nil || !bytes.Equal(head, countersMagic) || size != countersSize {
		return fmt.Errorf("%s is not a tunnelftpd counters file (or of another version); remove it", f.Name())
	}
	return nil
}

// Close unmaps and closes the file.
func (c *Counters) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem != nil {
		unix.Munmap(c.mem) //nolint:errcheck // nothing to do about it
		c.mem = nil
	}
	return c.f.Close()
}

func (c *Counters) word64(slot int) *uint64 {
	return (*uint64)(unsafe.Pointer(&c.mem[slot*counterSlot]))
}

func (c *Counters) state(slot int) *uint32 {
	return (*uint32)(unsafe.Pointer(&c.mem[slot*counterSlot+8]))
}

func (c *Counters) key(slot int) []byte {
	base := slot * counterSlot
	n := int(binary.LittleEndian.Uint16(c.mem[base+12:]))
	return c.mem[base+14 : base+14+min(n, counterKeyMax)]
}

// Label is one label of a counter.
type Label struct{ Name, Value string }

// encodeKey makes a counter's key; label values too long for the slot are cut (the same input
// always gives the same key).
func encodeKey(name string, labels []Label) string {
	var b strings.Builder
	b.WriteString(keySafe(name))
	for _, l := range labels {
		b.WriteByte('\x1e')
		b.WriteString(keySafe(l.Name))
		b.WriteByte('\x1f')
		b.WriteString(keySafe(l.Value))
	}
	k := b.String()
	if len(k) > counterKeyMax {
		cut := counterKeyMax
		for cut > 0 && !utf8.RuneStart(k[cut]) {
			cut--
		}
		k = k[:cut]
	}
	return k
}

// keySafe keeps the key's separators out of names and values.
func keySafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\x1e' || r == '\x1f' {
			return '_'
		}
		return r
	}, s)
}

// decodeKey is the inverse of encodeKey.
func decodeKey(k string) (string, []Label) {
	parts := strings.Split(k, "\x1e")
	var labels []Label
	for _, p := range parts[1:] {
		n, v, _ := strings.Cut(p, "\x1f")
		labels = append(labels, Label{n, v})
	}
	return parts[0], labels
}

// ErrCountersFull is returned by Add when every counter slot is taken.
var ErrCountersFull = errors.New("the counters file is full")

// Add adds delta to the counter name{labels}, creating it at 0 first if needed.
func (c *Counters) Add(name string, delta uint64, labels ...Label) error {
	k := encodeKey(name, labels)
	slot, err := c.slot(k)
	if err != nil {
		return err
	}
	atomic.AddUint64(c.word64(slot), delta)
	return nil
}

// slot finds or allocates the slot of key k.
func (c *Counters) slot(k string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem == nil {
		return 0, errors.New("counters closed")
	}
	if i, ok := c.index[k]; ok {
		return i, nil
	}
	if _, err := lockRange(c.f, unix.F_WRLCK, 0, 1, true); err != nil {
		return 0, err
	}
	defer lockRange(c.f, unix.F_UNLCK, 0, 1, false) //nolint:errcheck // unlocking cannot fail
	for i := 1; i <= MaxCounters; i++ {
		if atomic.LoadUint32(c.state(i)) == 0 {
			base := i * counterSlot
			binary.LittleEndian.PutUint16(c.mem[base+12:], uint16(len(k)))
			copy(c.mem[base+14:base+counterSlot], k)
			atomic.StoreUint32(c.state(i), 1)
			c.index[k] = i
			return i, nil
		}
		if string(c.key(i)) == k {
			c.index[k] = i
			return i, nil
		}
	}
	return 0, ErrCountersFull
}

// Sample is one counter's value.
type Sample struct {
	Name   string
	Labels []Label
	Value  uint64
}

// Snapshot returns every counter, sorted by name then labels.
func (c *Counters) Snapshot() []Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem == nil {
		return nil
	}
	var out []Sample
	for i := 1; i <= MaxCounters; i++ {
		if atomic.LoadUint32(c.state(i)) == 0 {
			break // slots are taken in order and never freed
		}
		name, labels := decodeKey(string(c.key(i)))
		out = append(out, Sample{Name: name, Labels: labels, Value: atomic.LoadUint64(c.word64(i))})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return fmt.Sprint(out[i].Labels) < fmt.Sprint(out[j].Labels)
	})
	return out
}

// ReadCounters returns the counters of the registry in dir, for a process that counts nothing
// (tunnelftpd metrics). A directory where no daemon ever ran has none.
func ReadCounters(dir string) ([]Sample, error) {
	f, err := openReadOnly(dir, CountersFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("counters file: %w", err)
	}
	if st.Size() == 0 {
		return nil, nil // being created
	}
	if err := checkCounters(f, st.Size()); err != nil {
		return nil, err
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, countersSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping the counters file: %w", err)
	}
	c := &Counters{f: f, mem: mem}
	defer unix.Munmap(mem) //nolint:errcheck // nothing to do about it
	return c.Snapshot(), nil
}
