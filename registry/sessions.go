package registry

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Layout of the sessions file. The first page is the header (byte 0 is locked while a new file's
// header is written). Slot i starts at headerSize + i*slotSize and begins with a record header:
// magic, length and CRC-32 of the JSON entry that follows. A reader that catches a slot in the
// middle of a rewrite sees a bad CRC and reads it again.
const (
	headerSize = 4096
	slotSize   = 4096
	// MaxSlots bounds the sessions file (and the slots a Join tries).
	MaxSlots = 1 << 16

	recHeader = 12
	// maxRecord is the longest JSON entry a slot holds.
	maxRecord = slotSize - recHeader
)

var (
	fileMagic   = []byte("tunnelftpd sessions v1\n")
	recordMagic = [4]byte{'T', 'F', 'S', '1'}
)

// Entry is one session as the registry shows it. The zero values mean "not yet" (no login, no
// transfer running).
type Entry struct {
	// PID is the process serving the session.
	PID int `json:"pid"`
	// Session is the session's id in its process's log lines ("session=N").
	Session uint64 `json:"session"`
	// User is the login name, "" before login.
	User string `json:"user,omitempty"`
	// Kind is the kind of account: virtual, anonymous or system ("" before login).
	Kind string `json:"kind,omitempty"`
	// SSHUser is the SSH user owning the tunnel, when identified.
	SSHUser string `json:"ssh_user,omitempty"`
	// Client is the SSH client's real address when identified, else the TCP peer's.
	Client string `json:"client,omitempty"`
	// Class is the session class it was admitted under ("" for none).
	Class string `json:"class,omitempty"`
	// Connected is when the control connection was accepted.
	Connected time.Time `json:"connected"`
	// Login is when the login succeeded.
	Login time.Time `json:"login,omitzero"`
	// Active is when the last command arrived.
	Active time.Time `json:"active"`
	// Command is the last command line (a PASS argument never: see SafeCommand).
	Command string `json:"command,omitempty"`
	// Path is the working directory inside the user's root.
	Path string `json:"path,omitempty"`
	// Bytes counts the bytes of the session's finished transfers.
	Bytes int64 `json:"bytes"`
	// Transfer is the running transfer, if any.
	Transfer *Transfer `json:"transfer,omitempty"`
	// PasvPort is the passive port the session is listening on right now (from PASV/EPSV to
	// the data connection), 0 for none.
	PasvPort int `json:"pasv_port,omitempty"`
}

// Transfer is a running file transfer.
type Transfer struct {
	// Upload is true for STOR/APPE, false for RETR.
	Upload bool `json:"upload"`
	// Path is the file, inside the user's root.
	Path string `json:"path"`
	// Started is when the file was opened.
	Started time.Time `json:"started"`
	// Bytes is how many bytes had moved at Updated.
	Bytes int64 `json:"bytes"`
	// Updated is when Bytes was measured.
	Updated time.Time `json:"updated"`
}

// Rate is the transfer's mean speed in bytes per second, or 0 while too young to tell.
func (t *Transfer) Rate() float64 {
	if t == nil {
		return 0
	}
	d := t.Updated.Sub(t.Started).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(t.Bytes) / d
}

// SafeCommand is the command line as the registry keeps it: the argument of PASS (and ACCT,
// which may carry a password too) is replaced by "****", control characters by '?', and the
// line is bounded. Every entry written goes through it.
func SafeCommand(line string) string {
	line = strings.TrimRight(line, "\r\n")
	verb, _, hasArg := strings.Cut(line, " ")
	if hasArg && (strings.EqualFold(verb, "PASS") || strings.EqualFold(verb, "ACCT")) {
		line = strings.ToUpper(verb) + " ****"
	}
	return clean(line, 256)
}

// clean replaces control characters and invalid UTF-8 by '?' and cuts s to at most n bytes on a
// rune boundary.
func clean(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Registry is one process's handle on a registry directory: it claims slots for the sessions of
// this process and reads everyone's. Make it with Open; it is safe for concurrent use.
type Registry struct {
	dir string
	f   *os.File // read-write, holds this process's slot locks
	r   *os.File // a second description of the same file, to test locks (ours included)

	mu   sync.Mutex
	held map[int]bool // slots taken by sessions of this process
}

// Open opens (creating it if needed) the registry in dir for a process that serves sessions.
func Open(dir string) (*Registry, error) {
	f, err := openShared(dir, SessionsFile)
	if err != nil {
		return nil, err
	}
	if err := initHeader(f); err != nil {
		f.Close()
		return nil, err
	}
	r, err := reopen(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Registry{dir: dir, f: f, r: r, held: map[int]bool{}}, nil
}

// initHeader writes the file's header if the file is new, or checks it.
func initHeader(f *os.File) error {
	if _, err := lockRange(f, unix.F_WRLCK, 0, 1, true); err != nil {
		return err
	}
	defer lockRange(f, unix.F_UNLCK, 0, 1, false) //nolint:errcheck // unlocking cannot fail
	buf := make([]byte, len(fileMagic))
	n, _ := f.ReadAt(buf, 0)
	switch {
	case n == 0:
		if _, err := f.WriteAt(fileMagic, 0); err != nil {
			return fmt.Errorf("writing the registry header: %w", err)
		}
		return nil
	case !bytes.Equal(buf[:n], fileMagic):
		return fmt.Errorf("%s is not a tunnelftpd sessions file (or of another version); remove it", f.Name())
	}
	return nil
}

// Dir is the registry's directory.
func (r *Registry) Dir() string { return r.dir }

// Close releases the registry; slots still joined are freed with it.
func (r *Registry) Close() error {
	r.r.Close()
	return r.f.Close()
}

// Slot is one session's place in the registry: its entry, written on every change. Methods are
// safe for concurrent use; after Leave they do nothing.
type Slot struct {
	reg *Registry
	idx int

	mu    sync.Mutex
	e     Entry
	left  bool
	dirty error // the last write error, reported once by Err
}

func slotOffset(i int) int64 { return headerSize + int64(i)*slotSize }

// Join claims a free slot for a session of this process and writes e into it (PID is set to
// this process's). It fails only when every slot is taken or the file cannot be written.
func (r *Registry) Join(e Entry) (*Slot, error) {
	e.PID = os.Getpid()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range MaxSlots {
		if r.held[i] {
			continue
		}
		ok, err := lockRange(r.f, unix.F_WRLCK, slotOffset(i), slotSize, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		s := &Slot{reg: r, idx: i, e: e}
		if err := s.write(); err != nil {
			lockRange(r.f, unix.F_UNLCK, slotOffset(i), slotSize, false) //nolint:errcheck // unlocking cannot fail
			return nil, err
		}
		r.held[i] = true
		return s, nil
	}
	return nil, fmt.Errorf("registry %s: all %d session slots are taken", r.dir, MaxSlots)
}

// Entry returns a copy of the slot's entry.
func (s *Slot) Entry() Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.e
	if e.Transfer != nil {
		t := *e.Transfer
		e.Transfer = &t
	}
	return e
}

// Update changes the entry with fn and writes it. A write error is kept for Err and returned.
func (s *Slot) Update(fn func(*Entry)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left {
		return nil
	}
	fn(&s.e)
	return s.write()
}

// Err returns the last write error, if any, and forgets it.
func (s *Slot) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.dirty
	s.dirty = nil
	return err
}

// Leave frees the slot: the record is erased, then the lock released.
func (s *Slot) Leave() {
	s.mu.Lock()
	if s.left {
		s.mu.Unlock()
		return
	}
	s.left = true
	s.mu.Unlock()
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f.WriteAt(make([]byte, recHeader), slotOffset(s.idx))          //nolint:errcheck // the lock, not the bytes, says the slot is free
	lockRange(r.f, unix.F_UNLCK, slotOffset(s.idx), slotSize, false) //nolint:errcheck // unlocking cannot fail
	delete(r.held, s.idx)
}

// write stores s.e in the slot; s.mu is held.
func (s *Slot) write() error {
	rec, err := encode(&s.e)
	if err == nil {
		_, err = s.reg.f.WriteAt(rec, slotOffset(s.idx))
	}
	if err != nil {
		err = fmt.Errorf("writing session %d to the registry: %w", s.e.Session, err)
		s.dirty = err
	}
	return err
}

// encode makes the slot record of e: fields are cleaned and bounded, and the longest ones are
// shortened until the JSON fits the slot.
func encode(e *Entry) ([]byte, error) {
	c := *e
	c.User, c.Kind, c.SSHUser = clean(c.User, 256), clean(c.Kind, 32), clean(c.SSHUser, 64)
	c.Client, c.Class = clean(c.Client, 64), clean(c.Class, 64)
	c.Command, c.Path = SafeCommand(c.Command), clean(c.Path, 1024)
	if c.Transfer != nil {
		t := *c.Transfer
		t.Path = clean(t.Path, 1024)
		c.Transfer = &t
	}
	for {
		data, err := json.Marshal(&c)
		if err != nil {
			return nil, fmt.Errorf("encoding a registry entry: %w", err)
		}
		if len(data) <= maxRecord {
			rec := make([]byte, recHeader+len(data))
			copy(rec, recordMagic[:])
			binary.LittleEndian.PutUint32(rec[4:], uint32(len(data)))
			binary.LittleEndian.PutUint32(rec[8:], crc32.ChecksumIEEE(data))
			copy(rec[recHeader:], data)
			return rec, nil
		}
		// Escaping made it too long: halve the longest free text.
		longest := &c.Path
		for _, p := range []*string{&c.Command, &c.User} {
			if len(*p) > len(*longest) {
				longest = p
			}
		}
		if c.Transfer != nil && len(c.Transfer.Path) > len(*longest) {
			longest = &c.Transfer.Path
		}
		if len(*longest) == 0 {
			return nil, errors.New("encoding a registry entry: too long")
		}
		*longest = clean(*longest, len(*longest)/2)
	}
}

// decode reads a slot record; ok is false for an empty or torn one.
func decode(rec []byte) (e Entry, ok bool) {
	if len(rec) < recHeader || [4]byte(rec[:4]) != recordMagic {
		return e, false
	}
	n := int(binary.LittleEndian.Uint32(rec[4:]))
	if n > len(rec)-recHeader {
		return e, false
	}
	data := rec[recHeader : recHeader+n]
	if crc32.ChecksumIEEE(data) != binary.LittleEndian.Uint32(rec[8:]) {
		return e, false
	}
	if json.Unmarshal(data, &e) != nil {
		return e, false
	}
	return e, true
}

// List returns the live sessions, oldest connection first.
func (r *Registry) List() ([]Entry, error) { return list(r.r) }

// ReadDir lists the live sessions of the registry in dir, for a process that serves none (who,
// count, metrics). A directory where no daemon ever ran has no sessions.
func ReadDir(dir string) ([]Entry, error) {
	f, err := openReadOnly(dir, SessionsFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return list(f)
}

// torn is how often a reader rereads a slot caught in the middle of a rewrite before it skips it
// for this listing; a rewrite is one pwrite of a few hundred bytes.
const torn = 100

// list reads every live slot of the sessions file through f, a description holding no slot
// lock. A slot is live while its lock is held and its process exists.
func list(f *os.File) ([]Entry, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the registry: %w", err)
	}
	slots := int(min((st.Size()-headerSize+slotSize-1)/slotSize, MaxSlots))
	var out []Entry
	buf := make([]byte, slotSize)
	for i := range max(slots, 0) {
		off := slotOffset(i)
		live, err := heldElsewhere(f, off, slotSize)
		if err != nil {
			return nil, err
		}
		if !live {
			continue
		}
		for range torn {
			n, _ := f.ReadAt(buf, off)
			if e, ok := decode(buf[:n]); ok {
				if pidAlive(e.PID) {
					out = append(out, e)
				}
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Connected.Before(out[j].Connected) })
	return out, nil
}
