// Package ftpcmd answers the FTP commands that tunnelftpd handles itself
// rather than leave to ftpserverlib: FEAT (only what works in this
// configuration), HELP, STRU, MODE, ALLO, OPTS MLST, EPSV ALL (RFC 2428) and
// the refusals it implies, and SITE (CHMOD only, within the account's
// rights).
//
// A [Session] holds one control connection's command state. The server's
// session hands it each command through ftpserverlib's
// MainDriverExtensionCommand hook; a nil reply lets the library run the
// command. It owns no files: SITE CHMOD goes through the session's driver,
// the only code that touches user files. It must not write to the control
// connection itself (the library writes its replies, in order).
package ftpcmd

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/tunnelftpd/tunnelftpd/driver"
)

// Config is what this deployment offers.
type Config struct {
	ActiveMode bool // PORT and EPRT are served (tunnelftpd never does: there is no way back through the tunnel)
	MFMT       bool // MFMT (set a file's modification time) is served
}

// Session is the command state of one control connection. Its methods are
// safe to call from the library's goroutines.
type Session struct {
	cfg Config

	mu      sync.Mutex
	epsvAll bool         // EPSV ALL was sent: other data-connection set-ups are refused
	facts   driver.Facts // OPTS MLST's selection
	fs      *driver.Fs   // the logged-in account's driver, nil before login
}

// New returns the command state of a new control connection.
func New(cfg Config) *Session {
	return &Session{cfg: cfg, facts: driver.AllFacts}
}

// SetDriver gives the session the logged-in account's driver, which gets the
// facts selected so far.
func (s *Session) SetDriver(fs *driver.Fs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fs = fs
	if fs != nil {
		fs.SetFacts(s.facts)
	}
}

func reply(code int, lines ...string) *ftpserver.CommandReply {
	return &ftpserver.CommandReply{Code: code, Lines: lines}
}

// Handle answers command (upper-cased) with param, in the working directory
// cwd, or returns nil to let the library answer it.
func (s *Session) Handle(command, param, cwd string) *ftpserver.CommandReply {
	switch command {
	case "FEAT":
		return s.feat()
	case "HELP":
		return help(param, s.cfg)
	case "STRU":
		return stru(param)
	case "MODE":
		return mode(param)
	case "ALLO":
		return allo(param)
	case "OPTS":
		return s.opts(param)
	case "EPSV":
		return s.epsv(param)
	case "PASV", "PORT", "EPRT", "LPSV", "LPRT":
		s.mu.Lock()
		all := s.epsvAll
		s.mu.Unlock()
		if all {
			return reply(ftpserver.StatusBadCommandSequence, command+" is not allowed after EPSV ALL; use EPSV")
		}
	case "SITE":
		return s.site(param, cwd)
	}
	return nil
}

// feat lists the extensions that work in this configuration (RFC 2389: one
// per line, each after a space).
func (s *Session) feat() *ftpserver.CommandReply {
	s.mu.Lock()
	facts := s.facts
	s.mu.Unlock()
	lines := []string{"Extensions supported:"}
	if s.cfg.ActiveMode {
		lines = append(lines, " EPRT")
	}
	lines = append(lines, " EPSV", " MDTM")
	if s.cfg.MFMT {
		lines = append(lines, " MFMT")
	}
	lines = append(lines, " MLSD", " MLST "+facts.Feature(), " REST STREAM", " SIZE", " TVFS", " UTF8", "End")
	return reply(ftpserver.StatusSystemStatus, lines...)
}

// stru accepts the file structure, the only one there is (RFC 959 5.1).
func stru(param string) *ftpserver.CommandReply {
	switch strings.ToUpper(strings.TrimSpace(param)) {
	case "F":
		return reply(ftpserver.StatusOK, "Structure set to F (file)")
	case "R", "P":
		return reply(ftpserver.StatusNotImplementedParam, "Only file structure (STRU F) is supported")
	}
	return reply(ftpserver.StatusSyntaxErrorParameters, "STRU takes F, R or P")
}

// mode accepts stream mode, the only one served (RFC 959 5.1).
func mode(param string) *ftpserver.CommandReply {
	switch strings.ToUpper(strings.TrimSpace(param)) {
	case "S":
		return reply(ftpserver.StatusOK, "Mode set to S (stream)")
	case "B", "C", "Z":
		return reply(ftpserver.StatusNotImplementedParam, "Only stream mode (MODE S) is supported")
	}
	return reply(ftpserver.StatusSyntaxErrorParameters, "MODE takes S, B or C")
}

// allo: no storage needs reserving (RFC 959: 202, superfluous at this site).
func allo(param string) *ftpserver.CommandReply {
	f := strings.Fields(param)
	valid := len(f) == 1 || len(f) == 3 && strings.EqualFold(f[1], "R")
	for i, v := range f {
		if i == 1 {
			continue
		}
		if _, err := strconv.ParseUint(v, 10, 63); err != nil {
			valid = false
		}
	}
	if !valid {
		return reply(ftpserver.StatusSyntaxErrorParameters, "ALLO takes a size in bytes (ALLO <size> [R <record size>])")
	}
	return reply(ftpserver.StatusNotImplemented, "No storage allocation necessary")
}

// opts handles OPTS MLST (RFC 3659 7.9); other options go to the library.
func (s *Session) opts(param string) *ftpserver.CommandReply {
	name, list, _ := strings.Cut(param, " ")
	if !strings.EqualFold(name, "MLST") {
		return nil
	}
	f := driver.ParseFacts(list)
	s.mu.Lock()
	s.facts = f
	fs := s.fs
	s.mu.Unlock()
	if fs != nil {
		fs.SetFacts(f)
	}
	return reply(ftpserver.StatusOK, "MLST OPTS "+f.String())
}

// epsv: EPSV ALL (RFC 2428 4) and the network protocol argument; a plain
// EPSV or "EPSV 1" goes to the library.
func (s *Session) epsv(param string) *ftpserver.CommandReply {
	switch p := strings.ToUpper(strings.TrimSpace(param)); p {
	case "", "1":
		return nil
	case "ALL":
		s.mu.Lock()
		s.epsvAll = true
		s.mu.Unlock()
		return reply(ftpserver.StatusOK, "EPSV ALL ok; only EPSV from now on")
	case "2":
		return reply(522, "Network protocol not supported, use (1)")
	default:
		if _, err := strconv.Atoi(p); err == nil {
			return reply(522, "Network protocol not supported, use (1)")
		}
		return reply(ftpserver.StatusSyntaxErrorParameters, "EPSV takes ALL or a network protocol number (1)")
	}
}

// site serves SITE HELP and SITE CHMOD; the library's other SITE commands
// (CHOWN, SYMLINK, MKDIR, RMDIR as a recursive delete) are not offered.
func (s *Session) site(param, cwd string) *ftpserver.CommandReply {
	sub, rest, _ := strings.Cut(strings.TrimSpace(param), " ")
	switch strings.ToUpper(sub) {
	case "HELP":
		return reply(ftpserver.StatusHelpMessage, "The following SITE commands are recognized:", " CHMOD", "Help OK")
	case "CHMOD":
		return s.chmod(rest, cwd)
	}
	return reply(ftpserver.StatusCommandNotImplemented, "SITE "+strings.ToUpper(sub)+" is not supported (SITE HELP lists what is)")
}

// chmod changes the permission bits of a file or directory of the account
// (the driver keeps only the nine rwx bits, and refuses it for read-only
// accounts and for the root).
func (s *Session) chmod(args, cwd string) *ftpserver.CommandReply {
	modeArg, name, _ := strings.Cut(strings.TrimLeft(args, " "), " ")
	m, err := strconv.ParseUint(modeArg, 8, 32)
	if err != nil || name == "" || m > 0o7777 {
		return reply(ftpserver.StatusSyntaxErrorParameters, "SITE CHMOD takes an octal mode and a name (SITE CHMOD 644 file)")
	}
	s.mu.Lock()
	fs := s.fs
	s.mu.Unlock()
	if fs == nil {
		return reply(ftpserver.StatusNotLoggedIn, "Please login with USER and PASS")
	}
	p := name
	if !path.IsAbs(p) {
		p = path.Join(cwd, p)
	}
	if err := fs.Chmod(path.Clean(p), fsMode(m)); err != nil {
		if e, ok := err.(interface{ ClientMessage() string }); ok {
			return reply(ftpserver.StatusActionNotTaken, e.ClientMessage())
		}
		return reply(ftpserver.StatusActionNotTaken, fmt.Sprintf("%s: cannot change its mode", path.Clean(p)))
	}
	return reply(ftpserver.StatusOK, "SITE CHMOD command successful")
}
