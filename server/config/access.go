package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tunnelftpd/tunnelftpd/access"
)

// The values of the ascii key.
const (
	ASCIIAsIs    = "as-is"   // TYPE A transfers send the bytes as they are (the default)
	ASCIIConvert = "convert" // TYPE A converts line ends: LF to CRLF down, CRLF to LF up
)

// validateAccess checks the keys of the access policy (umask, [[rules]], [[classes]],
// [messages], banner_file, ascii) through package access, which owns their meaning, and keeps
// the compiled policy and the message files' lines.
func (c *Config) validateAccess(bad func(key string, entry int, format string, args ...any)) {
	in := access.Input{Umask: c.Umask, Rules: c.Rules, Classes: c.Classes, Messages: c.Messages}
	pol, probs := access.Compile(in, access.CompileOptions{LookupGroup: LookupGroup})
	for _, p := range probs {
		bad(p.Key, p.Entry, "%s", p.Msg)
	}
	c.policy = pol

	switch c.ASCII {
	case ASCIIAsIs, ASCIIConvert:
	default:
		bad("ascii", 0, "%q must be %q (TYPE A sends bytes as they are) or %q (LF↔CRLF, as wu-ftpd)", c.ASCII, ASCIIAsIs, ASCIIConvert)
	}
	var err error
	if c.bannerLines, err = readMessageFile(c.BannerFile); err != nil {
		bad("banner_file", 0, "%v", err)
	}
	if c.loginMessage, err = readMessageFile(c.Messages.Login); err != nil {
		bad("messages.login", 0, "%v", err)
	}
	if strings.ContainsFunc(c.Messages.Email, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		bad("messages.email", 0, "must be one line without control characters")
	}
}

// readMessageFile reads a message file given by absolute path ("" = none) and splits it into
// its lines, within access's limits.
func readMessageFile(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%q must be an absolute path", path)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%q does not exist; create it or fix the path", path)
		}
		return nil, fmt.Errorf("cannot read %q: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, access.MaxMessageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %v", path, err)
	}
	lines, err := access.ParseMessage(data)
	if err != nil {
		return nil, fmt.Errorf("%q %v", path, err)
	}
	return lines, nil
}

// LookupGroup resolves a rule's group: a group name of this host, or a numeric id.
func LookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err == nil {
		return strconv.Atoi(g.Gid)
	}
	if id, nerr := strconv.Atoi(name); nerr == nil && id >= 0 {
		return id, nil
	}
	return -1, fmt.Errorf("no such group on this host (create it with groupadd, or fix the name)")
}

// Policy is the compiled access policy ([[rules]], [[classes]], umask, [messages] cwd). A
// config that was never validated gets the policy of an empty file: the default rights and
// umask 022.
func (c *Config) Policy() *access.Policy {
	if c.policy == nil {
		pol, _ := access.Compile(access.Input{}, access.CompileOptions{})
		return pol
	}
	return c.policy
}

// BannerLines are the lines of banner_file, sent as 220- lines before the banner.
func (c *Config) BannerLines() []string { return c.bannerLines }

// LoginMessage is the lines of [messages] login, sent as 230- lines after a login.
func (c *Config) LoginMessage() []string { return c.loginMessage }

// UserUmask is the umask of virtual user name when its [[users]] table sets one.
func (c *Config) UserUmask(name string) (access.Umask, bool) {
	for _, u := range c.Users {
		if u.Name == name && u.Umask != "" {
			m, err := access.ParseUmask(u.Umask)
			return m, err == nil
		}
	}
	return 0, false
}

// ClassLockPath is the file through which every process of the daemon counts the sessions of
// each [[classes]] entry: classes.lock in the directory of the passive-port lock file
// (PortLockPath), by default /run/tunnelftpd/classes.lock.
func (c *Config) ClassLockPath() string {
	return filepath.Join(filepath.Dir(c.PortLockPath()), "classes.lock")
}

// WriteAccess prints the effective access policy as `tunnelftpd check` shows it after the
// config, each line a TOML comment: the umask, the rules in the order they are tried with the
// rights they leave, the classes, and the messages.
func (c *Config) WriteAccess(w io.Writer) error {
	var b strings.Builder
	if err := c.Policy().WriteEffective(&b); err != nil {
		return err
	}
	for _, u := range c.Users {
		if m, ok := c.UserUmask(u.Name); ok {
			fmt.Fprintf(&b, "user %s: umask %s: files %04o, directories %04o\n", u.Name, m, m.FileMode(), m.DirMode())
		}
	}
	if n := len(c.bannerLines); n > 0 {
		fmt.Fprintf(&b, "banner_file: %s sent as 220- before %q\n", lines(n), c.Banner)
	}
	if n := len(c.loginMessage); n > 0 {
		fmt.Fprintf(&b, "messages.login: %s sent as 230- after a login\n", lines(n))
	}
	fmt.Fprintf(&b, "ascii: %s\n", c.ASCII)
	if len(c.Classes) > 0 {
		fmt.Fprintf(&b, "class sessions are counted in %s (shared by every process of the daemon)\n", c.ClassLockPath())
	}
	var out strings.Builder
	out.WriteString("\n# effective access policy:\n")
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		out.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	_, err := io.WriteString(w, out.String())
	return err
}

func lines(n int) string {
	if n == 1 {
		return "1 line"
	}
	return strconv.Itoa(n) + " lines"
}
