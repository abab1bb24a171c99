// Package config owns tunnelftpd's configuration: the TOML schema (every key
// and its default, as the fields of Config), loading and validation with
// errors that name the file, line and key, the effective config that
// `tunnelftpd check` prints, the built-in demo config, and the values derived
// from the config (the passive range, the port lock file's path, the log
// level).
//
// It must not open sockets, start anything or log; and it must not import
// the FTP library: `check`, `tunnel` and the tests read a config without an
// FTP server.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tunnelftpd/tunnelftpd/access"
	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/metrics"
	"github.com/tunnelftpd/tunnelftpd/registry"
)

// DefaultConfigPath is where `tunnelftpd serve` and `tunnelftpd check` look for
// their configuration when no -c flag is given.
const DefaultConfigPath = "/etc/tunnelftpd/tunnelftpd.toml"

// Config is the daemon's configuration, as read from TOML. Keys missing from
// the file keep their defaults, so a loaded Config holds the effective values.
type Config struct {
	// Listen is the control address, host:port. Default "127.0.0.1:2121".
	Listen string `toml:"listen"`
	// Banner is the text of the 220 greeting.
	Banner string `toml:"banner"`
	// IdleTimeout closes a control connection idle for this long. Default 15m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxSessions is the number of concurrent sessions; one more gets 421. Default 100.
	MaxSessions int `toml:"max_sessions"`
	// ShutdownTimeout is how long SIGTERM waits for running transfers. Default 30s.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// DataTimeout closes a data connection that moved no byte for this long. Default 2m.
	DataTimeout Duration `toml:"data_timeout"`
	// RetrSendfile is how RETR sends a file: copied through a buffer of the
	// daemon's (driver.File.WriteTo), or with sendfile. Default "auto":
	// copy for connections that come through sshd, sendfile for the others.
	RetrSendfile SendfileMode `toml:"retr_sendfile"`
	// RegistryDir holds the session registry that tunnelftpd who, count and
	// metrics read. "" = $RUNTIME_DIRECTORY under systemd, else
	// /run/tunnelftpd (RegistryPath).
	RegistryDir string `toml:"registry_dir"`
	// ShutdownFile is the planned-shutdown file in ftpshut's format, written by
	// tunnelftpd shutdown and watched by the daemon. "" = shutmsg in the
	// registry directory (ShutdownPath).
	ShutdownFile string `toml:"shutdown_file"`
	// Metrics is the [metrics] table.
	Metrics MetricsConfig `toml:"metrics"`
	// TunnelOnly refuses control connections that do not come from an sshd
	// session process (needs the privilege to read other processes' fds).
	TunnelOnly bool `toml:"tunnel_only"`
	// RunAs is the account the daemon switches to after binding its sockets
	// when started as root with only virtual users (and that per-session
	// processes of virtual and anonymous users run as). "" = stay.
	RunAs string `toml:"run_as"`
	// MaxSessionsPerSSHUser limits sessions per owner of the peer socket
	// (the SSH user behind ssh -L); 0 = no limit.
	MaxSessionsPerSSHUser int `toml:"max_sessions_per_ssh_user"`
	// LoginTimeout closes a connection that has not logged in this long
	// after it was accepted (421), however busy it keeps. Default 30s.
	LoginTimeout Duration `toml:"login_timeout"`
	// MaxPrelogin is how many connections past a quarter of login_timeout
	// may be not logged in yet; 0 = half of max_sessions (PreloginLimit).
	MaxPrelogin int `toml:"max_prelogin"`
	// MaxPreloginPerSSHUser is the same per SSH user (owner of the peer
	// socket, where known). Default 10; 0 = no such limit.
	MaxPreloginPerSSHUser int `toml:"max_prelogin_per_ssh_user"`
	// Umask is the octal umask of what clients create: files 0666 &^ umask,
	// directories 0777 &^ umask. [[users]] umask overrides it. Default "022".
	Umask string `toml:"umask"`
	// BannerFile is an absolute path of a text file sent before the banner
	// line as 220- lines (read when the config is loaded). "" = none.
	BannerFile string `toml:"banner_file"`
	// ASCII is what TYPE A transfers do: "as-is" (bytes as they are, the
	// default) or "convert" (LF to CRLF on download, CRLF to LF on upload).
	ASCII string `toml:"ascii"`

	Passive  PassiveConfig         `toml:"passive"`
	Log      LogConfig             `toml:"log"`
	Auth     AuthConfig            `toml:"auth"`
	Messages access.MessagesConfig `toml:"messages"`
	Users    []UserConfig          `toml:"users"`
	// Rules are the [[rules]] tables, in order (first match wins).
	Rules []access.RuleConfig `toml:"rules"`
	// Classes are the [[classes]] tables, in order (a session is in the
	// first that fits).
	Classes []access.ClassConfig `toml:"classes"`

	// Derived by validation (see access.go): the compiled access policy,
	// the banner file's lines and the login message's lines.
	policy       *access.Policy
	bannerLines  []string
	loginMessage []string

	// File is the path the config was read from ("" for the built-in default).
	File string `toml:"-"`
	// text is the text it was parsed from (Text).
	text []byte
}

// PassiveConfig is the [passive] table: the data ports an SSH tunnel forwards.
type PassiveConfig struct {
	// Ports is "N-M" or "N". Default "22000-22004".
	Ports string `toml:"ports"`
	// Address is the IPv4 literal advertised in PASV replies, or "control"
	// for the control connection's local address. Default "127.0.0.1".
	Address string `toml:"address"`
	// Wait is how long PASV/EPSV waits for a free port before replying 425. Default 5s.
	Wait Duration `toml:"wait"`
	// AcceptTimeout is how long an advertised port waits for the client's data
	// connection before it is released. Default 30s.
	AcceptTimeout Duration `toml:"accept_timeout"`
	// LockFile coordinates passive ports between per-connection processes
	// (inetd nowait, systemd Accept=yes). "" = $RUNTIME_DIRECTORY/passive.lock
	// under systemd, else /run/tunnelftpd/passive.lock.
	LockFile string `toml:"lock_file"`
	// SameOwner accepts a data connection only if its peer socket has the
	// same owner (and sshd process, where known) as the control
	// connection's. Default true.
	SameOwner bool `toml:"same_owner"`
	// MaxPerUser is how many ports one user (FTP user, and SSH user where
	// known) may hold at once; 0 = automatic (PerUserLimit).
	MaxPerUser int `toml:"max_per_user"`

	// First and Last are the parsed range (filled by Load).
	First, Last int `toml:"-"`
}

// LogConfig is the [log] table.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `toml:"level"`
	// Format is text or json. Default text.
	Format string `toml:"format"`
	// Xferlog is the absolute path of a wu-ftpd format transfer log; "" is off.
	Xferlog string `toml:"xferlog"`
	// Output is where log lines go: "auto" (standard error, or syslog in
	// --inetd mode), "stderr", "syslog", or an absolute file path. Default "auto".
	Output string `toml:"output"`
	// Commands logs every command a session receives (PASS without its
	// argument), as wu-ftpd's "log commands". Default false.
	Commands bool `toml:"commands"`
	// Wtmp records each login and logout in /var/log/wtmp (last(1)), as
	// wu-ftpd did without -W. Default false.
	Wtmp bool `toml:"wtmp"`
}

// MetricsConfig is the [metrics] table: the Prometheus listener.
type MetricsConfig struct {
	// Listen is "" (off), a loopback HOST:PORT, or the absolute path of a
	// unix socket.
	Listen string `toml:"listen"`
	// AllowRemote lets Listen be a non-loopback address. Default false.
	AllowRemote bool `toml:"allow_remote"`
}

// AuthConfig is the [auth] table.
type AuthConfig struct {
	// FailDelay is how long a failed login waits before its 530 reply. Default 1s.
	FailDelay Duration `toml:"fail_delay"`
	// MaxLoginAttempts is the number of failed logins after which the
	// connection is closed. Default 3.
	MaxLoginAttempts int `toml:"max_login_attempts"`
	// SystemUsers lets the host's accounts log in through PAM; each such
	// session runs in its own process as the user. Default false.
	SystemUsers bool `toml:"system_users"`
	// PAMService is the PAM service name. Default "tunnelftpd".
	PAMService string `toml:"pam_service"`
	// FtpUsers lists accounts that may never log in. Default "/etc/ftpusers".
	FtpUsers string `toml:"ftpusers"`
	// MinUID refuses system accounts with a lower uid. Default 1000.
	MinUID int `toml:"min_uid"`
	// RequireShell refuses accounts whose shell is not in /etc/shells.
	RequireShell bool `toml:"require_shell"`
	// SystemRoot is a system user's root: "" for the home directory, or a
	// path where %u stands for the user name.
	SystemRoot string `toml:"system_root"`
	// AnonymousRoot enables anonymous login ("anonymous" or "ftp", any
	// password) confined to this directory: list and retrieve, plus what
	// [[rules]] allow it. "" = off.
	AnonymousRoot string `toml:"anonymous_root"`
}

// UserConfig is one [[users]] entry: a virtual user.
type UserConfig struct {
	Name     string `toml:"name"`
	Password string `toml:"password"`
	Root     string `toml:"root"`
	ReadOnly bool   `toml:"read_only"`
	// RequireSSHUser: the login succeeds only through an SSH tunnel of the
	// system user SSHUser (default: the same name).
	RequireSSHUser bool   `toml:"require_ssh_user"`
	SSHUser        string `toml:"ssh_user"`
	// Umask, if set, replaces the top-level umask for this user.
	Umask string `toml:"umask"`
}

// SendfileMode is retr_sendfile: true, false or "auto" (SendfileAuto).
type SendfileMode string

// The values of SendfileMode.
const (
	// SendfileAuto copies for a session whose control connection comes from
	// sshd on loopback (or from a loopback peer that could not be seen), and
	// uses sendfile for the others. "" means the same.
	SendfileAuto SendfileMode = "auto"
	// SendfileOn always uses sendfile (retr_sendfile = true).
	SendfileOn SendfileMode = "true"
	// SendfileOff always copies (retr_sendfile = false).
	SendfileOff SendfileMode = "false"
)

// UnmarshalTOML reads true, false or "auto".
func (m *SendfileMode) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case bool:
		*m = SendfileOff
		if v {
			*m = SendfileOn
		}
		return nil
	case string:
		if v == string(SendfileAuto) {
			*m = SendfileAuto
			return nil
		}
		return fmt.Errorf("%q is not a value of it: write true, false or \"auto\" (true and false without quotes)", v)
	}
	return fmt.Errorf("%v is not a value of it: write true, false or \"auto\"", v)
}

// MarshalTOML writes the mode as it is written in a config file.
func (m SendfileMode) MarshalTOML() ([]byte, error) {
	switch m {
	case SendfileOn, SendfileOff:
		return []byte(m), nil
	}
	return []byte(`"auto"`), nil
}

// Use reports whether RETR uses sendfile for a session; viaSSHD says whether its control
// connection comes through sshd (peer.Conn.ViaSSHD).
func (m SendfileMode) Use(viaSSHD bool) bool {
	switch m {
	case SendfileOn:
		return true
	case SendfileOff:
		return false
	}
	return !viaSSHD
}

// Duration is a time.Duration written in TOML as a string such as "15m" or "5s".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"30s\", \"5m\" or \"1h\")", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText prints the duration the way time.Duration does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Error is one problem in a config file.
type Error struct {
	File string // path of the config file
	Line int    // 1-based line, 0 if unknown
	Key  string // dotted key, e.g. "passive.ports"
	Msg  string // what is wrong and how to fix it
}

func (e Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return loc + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
}

// Errors is every problem found in one config file, in file order.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Default returns a Config holding every default value, with no user and its
// derived fields (the passive range) filled: what `tunnelftpd tunnel` reads
// when no config file exists, and the base of configs built in code (call
// Validate then). Parse decodes a file over it, so a key written as zero
// stays zero and is validated.
func Default() *Config {
	c := defaults()
	c.Passive.First, c.Passive.Last, _ = ParsePortRange(c.Passive.Ports)
	return &c
}

func defaults() Config {
	return Config{
		Listen:          "127.0.0.1:2121",
		Banner:          "tunnelftpd ready",
		IdleTimeout:     Duration{15 * time.Minute},
		MaxSessions:     100,
		Umask:           "022",
		ASCII:           ASCIIAsIs,
		RetrSendfile:    SendfileAuto,
		ShutdownTimeout: Duration{30 * time.Second},
		DataTimeout:     Duration{2 * time.Minute},
		LoginTimeout:    Duration{30 * time.Second},

		MaxPreloginPerSSHUser: 10,
		Passive: PassiveConfig{
			Ports:         "22000-22004",
			Address:       "127.0.0.1",
			Wait:          Duration{5 * time.Second},
			AcceptTimeout: Duration{30 * time.Second},
			SameOwner:     true,
		},
		Log:  LogConfig{Level: "info", Format: "text", Output: "auto"},
		Auth: AuthConfig{FailDelay: Duration{time.Second}, MaxLoginAttempts: 3, PAMService: "tunnelftpd", FtpUsers: "/etc/ftpusers", MinUID: 1000},
	}
}

// Load reads, defaults and validates the config file at path. On any
// problem it returns Errors naming the file, line and key of each.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on data already read; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	c := defaults()
	idx := indexLines(data)
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		return nil, Errors{decodeError(name, err)}
	}
	var errs Errors
	undecoded := map[string]bool{}
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	reported := map[string]bool{}
	for _, k := range md.Undecoded() {
		key := k.String()
		if i := strings.LastIndex(key, "."); i > 0 && undecoded[key[:i]] {
			continue // a key of an unknown section: the section's error says it
		}
		if reported[key] {
			continue // an unknown [[array]] is undecoded once per entry; its lines are all below
		}
		reported[key] = true
		lines := idx.find(key)
		if len(lines) == 0 {
			lines = idx.find("[" + key + "]")
		}
		if len(lines) == 0 {
			lines = []int{0}
		}
		for _, ln := range lines {
			errs = append(errs, Error{File: name, Line: ln, Key: key, Msg: unknownKeyMsg(key, idx)})
		}
	}
	c.File = name
	c.text = data
	errs = append(errs, c.validate(idx)...)
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return &c, nil
}

var tomlLineRe = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "([^"]*)"\))?: (.*)$`)

// decodeError turns a BurntSushi/toml error into a Error.
func decodeError(name string, err error) Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return Error{File: name, Line: pe.Position.Line, Key: pe.LastKey, Msg: plainDecodeMsg(pe.LastKey, pe.Message)}
	}
	if m := tomlLineRe.FindStringSubmatch(err.Error()); m != nil {
		ln, _ := strconv.Atoi(m[1])
		return Error{File: name, Line: ln, Key: m[2], Msg: plainDecodeMsg(m[2], m[3])}
	}
	return Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
}

// Validate checks every value of a config built in code (Parse does it for a
// file) and fills the derived fields. It returns nil or Errors; lines are
// unknown, so the errors name the key only.
func (c *Config) Validate() error {
	if errs := c.validate(lineIndex{}); len(errs) > 0 {
		return errs
	}
	return nil
}

// Text is the file text c was parsed from (nil for a config built in code):
// what a per-session process is handed, so that it parses the very same
// config.
func (c *Config) Text() []byte { return c.text }

// validate checks every value and fills the derived fields.
func (c *Config) validate(idx lineIndex) Errors {
	var errs Errors
	bad := func(key string, entry int, format string, args ...any) {
		errs = append(errs, Error{File: c.File, Line: idx.line(key, entry), Key: key, Msg: fmt.Sprintf(format, args...)})
	}

	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", 0, "%q is not host:port (example: \"127.0.0.1:2121\")", c.Listen)
	} else {
		if host != "" && net.ParseIP(host) == nil {
			bad("listen", 0, "host %q must be an IP address such as 127.0.0.1 or ::1", host)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			bad("listen", 0, "port %q must be a number from 1 to 65535", port)
		}
	}
	if strings.ContainsAny(c.Banner, "\r\n") {
		bad("banner", 0, "must be a single line")
	}
	if c.IdleTimeout.Duration < time.Second {
		bad("idle_timeout", 0, "must be at least 1s")
	}
	if c.MaxSessions < 1 {
		bad("max_sessions", 0, "must be at least 1")
	}
	if c.ShutdownTimeout.Duration < 0 {
		bad("shutdown_timeout", 0, "must not be negative")
	}
	if c.DataTimeout.Duration < time.Second {
		bad("data_timeout", 0, "must be at least 1s")
	}
	if c.MaxSessionsPerSSHUser < 0 {
		bad("max_sessions_per_ssh_user", 0, "must be 0 (no limit) or more")
	}
	if c.LoginTimeout.Duration < time.Second {
		bad("login_timeout", 0, "must be at least 1s")
	}
	if c.MaxPrelogin < 0 || c.MaxSessions >= 1 && c.MaxPrelogin > c.MaxSessions {
		bad("max_prelogin", 0, "must be from 1 to max_sessions (%d), or 0 for half of max_sessions", c.MaxSessions)
	}
	if c.MaxPreloginPerSSHUser < 0 {
		bad("max_prelogin_per_ssh_user", 0, "must be 0 (no limit) or more")
	}

	first, last, err := ParsePortRange(c.Passive.Ports)
	if err != nil {
		bad("passive.ports", 0, "%v", err)
	}
	c.Passive.First, c.Passive.Last = first, last
	if c.Passive.Address != "control" {
		ip := net.ParseIP(c.Passive.Address)
		switch {
		case ip == nil:
			bad("passive.address", 0, "%q is neither an IPv4 address nor \"control\"", c.Passive.Address)
		case ip.To4() == nil:
			bad("passive.address", 0, "%q is IPv6, but PASV replies can only carry IPv4; use an IPv4 address or \"control\" (EPSV clients need no address)", c.Passive.Address)
		}
	}
	if c.Passive.Wait.Duration < 0 {
		bad("passive.wait", 0, "must not be negative")
	} else if c.Passive.Wait.Duration >= c.IdleTimeout.Duration {
		bad("passive.wait", 0, "must be shorter than idle_timeout (%s), or the control connection times out while waiting", c.IdleTimeout)
	}
	if c.RegistryDir != "" && !filepath.IsAbs(c.RegistryDir) {
		bad("registry_dir", 0, "%q must be an absolute path", c.RegistryDir)
	}
	if c.ShutdownFile != "" && !filepath.IsAbs(c.ShutdownFile) {
		bad("shutdown_file", 0, "%q must be an absolute path", c.ShutdownFile)
	}
	if err := metrics.CheckListen(c.Metrics.Listen, c.Metrics.AllowRemote); err != nil {
		bad("metrics.listen", 0, "%v", err)
	}
	if c.Passive.LockFile != "" && !filepath.IsAbs(c.Passive.LockFile) {
		bad("passive.lock_file", 0, "%q must be an absolute path", c.Passive.LockFile)
	}
	if c.Passive.AcceptTimeout.Duration < time.Second {
		bad("passive.accept_timeout", 0, "must be at least 1s")
	}
	if c.Passive.MaxPerUser < 0 || c.Passive.MaxPerUser > MaxPassivePerUser {
		bad("passive.max_per_user", 0, "must be from 1 to %d, or 0 for automatic (1 for up to 5 ports, a fifth of a bigger range)", MaxPassivePerUser)
	}

	if _, err := ParseLevel(c.Log.Level); err != nil {
		bad("log.level", 0, "%v", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", 0, "%q must be \"text\" or \"json\"", c.Log.Format)
	}
	if c.Log.Xferlog != "" {
		if !filepath.IsAbs(c.Log.Xferlog) {
			bad("log.xferlog", 0, "%q must be an absolute path", c.Log.Xferlog)
		} else if st, err := os.Stat(filepath.Dir(c.Log.Xferlog)); err != nil || !st.IsDir() {
			bad("log.xferlog", 0, "directory %q does not exist; create it or fix the path", filepath.Dir(c.Log.Xferlog))
		}
	}
	switch out := c.Log.Output; {
	case out == "auto" || out == "stderr" || out == "syslog":
	case !filepath.IsAbs(out):
		bad("log.output", 0, "%q must be \"auto\", \"stderr\", \"syslog\" or an absolute file path", out)
	case out == c.Log.Xferlog:
		bad("log.output", 0, "%q is also log.xferlog; the two logs need different files", out)
	default:
		if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
			bad("log.output", 0, "directory %q does not exist; create it or fix the path", filepath.Dir(out))
		} else if st, err := os.Stat(out); err == nil && !st.Mode().IsRegular() {
			bad("log.output", 0, "%q exists and is not a regular file", out)
		}
	}
	if c.Auth.FailDelay.Duration < 0 || c.Auth.FailDelay.Duration > time.Minute {
		bad("auth.fail_delay", 0, "must be between 0s and 1m")
	}

	if c.RunAs != "" {
		if _, err := user.Lookup(c.RunAs); err != nil {
			bad("run_as", 0, "no such user %q; create it (useradd --system %s) or fix the name", c.RunAs, c.RunAs)
		}
	}
	if c.Auth.SystemUsers {
		if !auth.PAMAvailable {
			bad("auth.system_users", 0, "this tunnelftpd was built without PAM support (without cgo: no C compiler at build time); install gcc and rebuild (the PAM headers are not needed), or set system_users = false")
		}
		if c.Auth.PAMService == "" || strings.ContainsAny(c.Auth.PAMService, "/ ") {
			bad("auth.pam_service", 0, "%q must be a PAM service name (a file in /etc/pam.d)", c.Auth.PAMService)
		}
		if c.Auth.FtpUsers != "" {
			if _, err := os.Stat(c.Auth.FtpUsers); err != nil && !errors.Is(err, os.ErrNotExist) {
				bad("auth.ftpusers", 0, "cannot read %q: %v", c.Auth.FtpUsers, err)
			}
		}
		if c.Auth.SystemRoot != "" && !filepath.IsAbs(c.Auth.SystemRoot) {
			bad("auth.system_root", 0, "%q must be an absolute path (%%u stands for the user name)", c.Auth.SystemRoot)
		}
	}
	c.validateAccess(bad)
	if c.Auth.MaxLoginAttempts < 1 || c.Auth.MaxLoginAttempts > 100 {
		bad("auth.max_login_attempts", 0, "must be from 1 to 100")
	}
	if c.Auth.SystemUsers && c.RunAs == "" && (len(c.Users) > 0 || c.Auth.AnonymousRoot != "") {
		bad("run_as", 0, "is required with auth.system_users when virtual or anonymous users are configured too: their per-session processes start as root and must switch to an unprivileged account (e.g. run_as = \"tunnelftpd\")")
	}
	if c.Auth.MinUID < 1 {
		bad("auth.min_uid", 0, "must be at least 1 (root may never log in)")
	}
	if r := c.Auth.AnonymousRoot; r != "" {
		if st, err := os.Stat(r); !filepath.IsAbs(r) || err != nil || !st.IsDir() {
			bad("auth.anonymous_root", 0, "%q must be an existing directory, as an absolute path", r)
		}
	}
	if len(c.Users) == 0 && !c.Auth.SystemUsers && c.Auth.AnonymousRoot == "" {
		errs = append(errs, Error{File: c.File, Key: "users", Msg: "no [[users]] entry, and neither auth.system_users nor auth.anonymous_root: nobody could log in; add a [[users]] entry (" + SeeKeys + ")"})
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		who := fmt.Sprintf("user %q: ", u.Name)
		switch {
		case u.Name == "":
			who = fmt.Sprintf("[[users]] entry %d: ", i+1)
			bad("users.name", i, "%smissing name", who)
		case seen[u.Name]:
			bad("users.name", i, "%sdefined twice", who)
		}
		seen[u.Name] = true
		if u.SSHUser != "" && !u.RequireSSHUser {
			bad("users.ssh_user", i, "%sssh_user is only used with require_ssh_user = true; set that too, or remove ssh_user", who)
		}
		if u.Umask != "" {
			if _, err := access.ParseUmask(u.Umask); err != nil {
				bad("users.umask", i, "%s%v", who, err)
			}
		}
		if u.Password == "" {
			bad("users.password", i, "%smissing password hash; make one with 'tunnelftpd passwd'", who)
		} else if err := auth.CheckHash(u.Password); err != nil {
			bad("users.password", i, "%s%v", who, err)
		}
		switch st, err := os.Stat(u.Root); {
		case u.Root == "":
			bad("users.root", i, "%smissing root directory", who)
		case !filepath.IsAbs(u.Root):
			bad("users.root", i, "%s%q must be an absolute path", who, u.Root)
		case err != nil:
			bad("users.root", i, "%sdirectory %q does not exist; create it (mkdir -p) or fix the path", who, u.Root)
		case !st.IsDir():
			bad("users.root", i, "%s%q is not a directory", who, u.Root)
		}
	}
	return errs
}

// MaxPassivePerUser is the highest passive.max_per_user.
const MaxPassivePerUser = 64

// PerUserLimit is passive.max_per_user in force: when 0, 1 for a range of
// up to 5 ports, a fifth of a bigger range (at most MaxPassivePerUser).
func (p *PassiveConfig) PerUserLimit() int {
	if p.MaxPerUser > 0 {
		return p.MaxPerUser
	}
	return min(max(1, (p.Last-p.First+1)/5), MaxPassivePerUser)
}

// BorrowTimeout is how long a passive port taken beyond a user's share
// (passive.max_per_user, while no other user waits) waits for its data
// connection: half of passive.wait, at least a second, at most
// accept_timeout; 0 (no borrowing) when passive.wait is 0, since a PASV that
// does not wait never queues, and a user at its share could then be kept
// from every port by another.
func (p *PassiveConfig) BorrowTimeout() time.Duration {
	if p.Wait.Duration <= 0 {
		return 0
	}
	b := max(p.Wait.Duration/2, time.Second)
	if p.AcceptTimeout.Duration > 0 {
		b = min(b, p.AcceptTimeout.Duration)
	}
	return b
}

// PreloginLimit is max_prelogin in force: how many connections may be not
// logged in at once (half of max_sessions, at least 1, when it is 0).
func (c *Config) PreloginLimit() int {
	if c.MaxPrelogin > 0 {
		return c.MaxPrelogin
	}
	return max(c.MaxSessions/2, 1)
}

// ParsePortRange parses "N-M" or "N" into an inclusive port range.
func ParsePortRange(s string) (first, last int, err error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hi = lo
	}
	first, err1 := strconv.Atoi(strings.TrimSpace(lo))
	last, err2 := strconv.Atoi(strings.TrimSpace(hi))
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("%q is not a port range; write \"22000-22004\" or a single port \"22000\"", s)
	case first < 1 || last > 65535 || last < 1 || first > 65535:
		return 0, 0, fmt.Errorf("%q: ports must be from 1 to 65535", s)
	case first > last:
		return 0, 0, fmt.Errorf("%q: the first port is above the last; write it as \"%d-%d\"", s, last, first)
	}
	return first, last, nil
}

// lineIndex maps dotted keys to the lines they are set on. Entries of
// arrays of tables ([[users]]) are told apart by their position.
type lineIndex map[string][]int

var (
	headerRe = regexp.MustCompile(`^\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?`)
	keyRe    = regexp.MustCompile(`^("[^"]*"|[A-Za-z0-9_-]+)\s*=`)
)

// indexLines records, for each simple "key = value" line, its dotted key.
// It covers the shapes the daemon's config uses; lines it cannot read are
// skipped, which only costs a line number in an error message.
func indexLines(data []byte) lineIndex {
	idx := lineIndex{}
	table := ""
	for n, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if m := headerRe.FindStringSubmatch(line); m != nil {
			table = m[1]
			if strings.HasPrefix(line, "[[") {
				idx[table] = append(idx[table], n+1)
			} else {
				idx["["+table+"]"] = append(idx["["+table+"]"], n+1)
			}
			continue
		}
		if m := keyRe.FindStringSubmatch(line); m != nil {
			key := strings.Trim(m[1], `"`)
			if table != "" {
				key = table + "." + key
			}
			idx[key] = append(idx[key], n+1)
		}
	}
	return idx
}

// find returns every line setting key.
func (idx lineIndex) find(key string) []int { return idx[key] }

// line returns the line of key in the entry-th table of an array of tables
// (entry is ignored for plain keys), falling back to the entry's header.
func (idx lineIndex) line(key string, entry int) int {
	table, _, nested := strings.Cut(key, ".")
	headers := idx[table]
	if !nested || len(headers) == 0 {
		if ls := idx[key]; len(ls) > 0 {
			return ls[0]
		}
		return 0
	}
	if entry >= len(headers) {
		return 0
	}
	start, end := headers[entry], int(^uint(0)>>1)
	if entry+1 < len(headers) {
		end = headers[entry+1]
	}
	for _, ln := range idx[key] {
		if ln > start && ln < end {
			return ln
		}
	}
	return start
}

// WriteTOML prints the effective config as TOML, password hashes redacted.
func (c *Config) WriteTOML() (string, error) {
	out := *c
	out.Users = make([]UserConfig, len(c.Users))
	for i, u := range c.Users {
		u.Password = "(hash hidden)"
		out.Users[i] = u
	}
	var buf bytes.Buffer
	if c.File != "" {
		fmt.Fprintf(&buf, "# effective config of %s (defaults filled in)\n", c.File)
	} else {
		buf.WriteString("# effective config: built-in default\n")
	}
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(out); err != nil {
		return "", fmt.Errorf("encoding config: %w", err)
	}
	return buf.String(), nil
}

// PortLockPath is the passive-port lock file that per-connection processes
// share: passive.lock_file, or a default under systemd's RuntimeDirectory or
// /run/tunnelftpd (not the world-writable /run/lock: whoever can open the
// file can hold its locks).
func (c *Config) PortLockPath() string {
	if c.Passive.LockFile != "" {
		return c.Passive.LockFile
	}
	if dir := os.Getenv("RUNTIME_DIRECTORY"); dir != "" {
		first, _, _ := strings.Cut(dir, ":")
		return filepath.Join(first, "passive.lock")
	}
	return "/run/tunnelftpd/passive.lock"
}

// RegistryPath is the session registry's directory: registry_dir, or
// systemd's RuntimeDirectory, or /run/tunnelftpd.
func (c *Config) RegistryPath() string {
	if c.RegistryDir != "" {
		return c.RegistryDir
	}
	if dir := os.Getenv("RUNTIME_DIRECTORY"); dir != "" {
		first, _, _ := strings.Cut(dir, ":")
		return first
	}
	return registry.DefaultDir
}

// ShutdownPath is the planned-shutdown file: shutdown_file, or shutmsg in
// the registry directory.
func (c *Config) ShutdownPath() string {
	if c.ShutdownFile != "" {
		return c.ShutdownFile
	}
	return filepath.Join(c.RegistryPath(), "shutmsg")
}

// ParseLevel maps a log.level value to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q must be one of debug, info, warn, error", s)
}
