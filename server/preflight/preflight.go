// Package preflight checks what a valid config needs of the running system,
// as the account that will use it: that the passive range and the control
// port do not collide, that the users' roots and the log files are usable
// by that account, that a privileged port can be bound, and which ports
// other programs hold. `tunnelftpd check` runs it after validation, so that a
// config that would fail at run time (every login answered "home directory
// unavailable", no log written) fails the check instead.
//
// It reads the file system and tries binds on loopback; it must not change
// anything, start a server or log.
package preflight

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// Account is who the check is made for.
type Account struct {
	Name   string
	UID    int
	GID    int
	Groups []int // supplementary groups, GID included or not
}

// LookupAccount returns the account name (a user name or a numeric uid).
func LookupAccount(name string) (Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if u2, err2 := user.LookupId(name); err2 == nil {
			u, err = u2, nil
		}
	}
	if err != nil {
		return Account{}, fmt.Errorf("account %q: %w", name, err)
	}
	a := Account{Name: u.Username}
	a.UID, _ = strconv.Atoi(u.Uid)
	a.GID, _ = strconv.Atoi(u.Gid)
	gids, err := u.GroupIds()
	if err != nil {
		return Account{}, fmt.Errorf("groups of %q: %w", name, err)
	}
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			a.Groups = append(a.Groups, n)
		}
	}
	return a, nil
}

// CurrentAccount is the account this process runs as.
func CurrentAccount() (Account, error) {
	return LookupAccount(strconv.Itoa(os.Geteuid()))
}

// Severity says whether a finding makes the config fail the check.
type Severity int

const (
	// Warning is printed; the check still passes.
	Warning Severity = iota
	// Problem makes the check fail: the daemon would fail at run time.
	Problem
)

// Finding is one result, with the key it concerns and the fix in Msg.
type Finding struct {
	Severity Severity
	Key      string
	Msg      string
}

func (f Finding) String() string {
	if f.Severity == Warning {
		return f.Key + ": warning: " + f.Msg
	}
	return f.Key + ": " + f.Msg
}

// Options are what Check needs besides the config.
type Options struct {
	// As is the account the daemon will run as.
	As Account
	// Bind tries to bind a TCP port on host; nil uses net.Listen. Tests
	// replace it.
	Bind func(host string, port int) error
}

// Check returns every finding for cfg, problems first.
func Check(cfg *config.Config, o Options) []Finding {
	if o.Bind == nil {
		o.Bind = bindTCP
	}
	var fs []Finding
	add := func(sev Severity, key, format string, args ...any) {
		fs = append(fs, Finding{sev, key, fmt.Sprintf(format, args...)})
	}
	host, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, _ := strconv.Atoi(portStr)

	// The passive range and the control port.
	if port >= cfg.Passive.First && port <= cfg.Passive.Last && sameHost(host, cfg.Passive.Address) {
		add(Problem, "passive.ports", "the range %s contains the control port %d (listen = %q): a PASV would hand out the control port; move the range or the control port", cfg.Passive.Ports, port, cfg.Listen)
	}

	// A privileged control port.
	if port > 0 && port < 1024 && o.As.UID != 0 {
		add(Warning, "listen", "port %d is below 1024 and %s (uid %d) cannot bind it: fine under systemd socket activation (tunnelftpd.socket binds it) or inetd; standalone, start as root with run_as, grant CAP_NET_BIND_SERVICE, or use a port from 1024 up", port, o.As.Name, o.As.UID)
	}

	// Ports other programs hold. The control port held is normal when the
	// daemon or systemd's socket already runs.
	if port > 0 {
		if err := o.Bind(host, port); errors.Is(err, syscall.EADDRINUSE) {
			add(Warning, "listen", "%s is in use already (a running tunnelftpd or its systemd socket is fine; another program is not)", cfg.Listen)
		}
	}
	var held []string
	for p := cfg.Passive.First; p > 0 && p <= cfg.Passive.Last; p++ {
		if p == port {
			continue
		}
		if err := o.Bind("", p); errors.Is(err, syscall.EADDRINUSE) {
			held = append(held, strconv.Itoa(p))
		}
	}
	if len(held) > 0 {
		add(Warning, "passive.ports", "port(s) %s of %s are in use now (by a running tunnelftpd's transfers, or by another program: the daemon skips ports another program holds, leaving fewer for PASV)", strings.Join(held, ", "), cfg.Passive.Ports)
	}

	// Roots and log files, as the account.
	for _, u := range cfg.Users {
		key := "users.root"
		want := "rx"
		if !u.ReadOnly {
			want = "rwx"
		}
		if msg := dirUsable(u.Root, want, o.As); msg != "" {
			add(Problem, key, "user %q: %s; every login of this user would fail with \"home directory unavailable\"", u.Name, msg)
		}
	}
	if r := cfg.Auth.AnonymousRoot; r != "" {
		if msg := dirUsable(r, "rx", o.As); msg != "" {
			add(Problem, "auth.anonymous_root", "%s; anonymous logins would fail", msg)
		}
	}
	if out := cfg.Log.Output; filepath.IsAbs(out) {
		if msg := fileWritable(out, o.As); msg != "" {
			add(Problem, "log.output", "%s; no log line would be written", msg)
		}
	}
	if x := cfg.Log.Xferlog; x != "" {
		if msg := fileWritable(x, o.As); msg != "" {
			add(Problem, "log.xferlog", "%s; no transfer would be logged", msg)
		}
	}

	// Problems first, in the order found.
	out := make([]Finding, 0, len(fs))
	for _, sev := range []Severity{Problem, Warning} {
		for _, f := range fs {
			if f.Severity == sev {
				out = append(out, f)
			}
		}
	}
	return out
}

func sameHost(listenHost, passiveAddr string) bool {
	a, b := net.ParseIP(listenHost), net.ParseIP(passiveAddr)
	if a == nil || b == nil || a.IsUnspecified() || b.IsUnspecified() {
		return true // the same kernel port space; be safe
	}
	return a.Equal(b)
}

func bindTCP(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// dirUsable says why dir is not a directory the account can use with the
// rights want ("rx" or "rwx"), or "" when it is.
func dirUsable(dir, want string, a Account) string {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("%s does not exist: create it (install -d -o %s %s)", dir, a.Name, dir)
	case err != nil:
		return fmt.Sprintf("%s cannot be read: %v", dir, errors.Unwrap(err))
	case !fi.IsDir():
		return fmt.Sprintf("%s is not a directory", dir)
	}
	if msg := searchable(filepath.Dir(dir), a); msg != "" {
		return msg
	}
	if !allowed(fi, a, want) {
		return fmt.Sprintf("%s is %s, owner %s, and %s (uid %d) lacks %s on it: chown or chmod it", dir, modeOf(fi), ownerOf(fi), a.Name, a.UID, rightsName(want))
	}
	return ""
}

// fileWritable says why the account cannot append to path, or "".
func fileWritable(path string, a Account) string {
	fi, err := os.Stat(path)
	if err == nil {
		if fi.IsDir() {
			return fmt.Sprintf("%s is a directory, not a file", path)
		}
		if msg := searchable(filepath.Dir(path), a); msg != "" {
			return msg
		}
		if !allowed(fi, a, "w") {
			return fmt.Sprintf("%s is %s, owner %s, and %s (uid %d) cannot write it: chown or chmod it", path, modeOf(fi), ownerOf(fi), a.Name, a.UID)
		}
		return ""
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Sprintf("the directory %s of %s does not exist: create it (install -d -o %s %s)", dir, path, a.Name, dir)
	}
	if msg := searchable(filepath.Dir(dir), a); msg != "" {
		return msg
	}
	if !allowed(di, a, "wx") {
		return fmt.Sprintf("%s does not exist and %s (uid %d) cannot create it in %s (%s, owner %s): create the file for that account, or chown the directory", path, a.Name, a.UID, dir, modeOf(di), ownerOf(di))
	}
	return ""
}

// searchable says which directory on the way to dir (dir included) the
// account cannot enter, or "".
func searchable(dir string, a Account) string {
	dir = filepath.Clean(dir)
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && !allowed(fi, a, "x") {
			return fmt.Sprintf("%s (uid %d) cannot enter %s (%s, owner %s) on the way: chmod o+x or put the account in its group", a.Name, a.UID, d, modeOf(fi), ownerOf(fi))
		}
		if d == "/" || d == "." {
			return ""
		}
	}
}

// allowed evaluates the mode bits of fi for the account (owner, group or
// other class, as the kernel picks it; root passes). ACLs are not read.
func allowed(fi os.FileInfo, a Account, want string) bool {
	if a.UID == 0 {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := uint32(fi.Mode().Perm())
	var bits uint32
	switch {
	case int(st.Uid) == a.UID:
		bits = perm >> 6
	case inGroup(int(st.Gid), a):
		bits = perm >> 3
	default:
		bits = perm
	}
	for _, r := range want {
		need := map[rune]uint32{'r': 4, 'w': 2, 'x': 1}[r]
		if bits&need == 0 {
			return false
		}
	}
	return true
}

func inGroup(gid int, a Account) bool {
	if gid == a.GID {
		return true
	}
	for _, g := range a.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

func modeOf(fi os.FileInfo) string { return fmt.Sprintf("mode %04o", fi.Mode().Perm()) }

func ownerOf(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "?"
	}
	name := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return name
}

func rightsName(want string) string {
	switch want {
	case "rx":
		return "read and search (r-x)"
	case "rwx":
		return "read, write and search (rwx)"
	}
	return want
}
