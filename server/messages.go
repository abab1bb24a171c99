package server

import (
	"os"
	"path"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tunnelftpd/tunnelftpd/access"
)

// Messages: banner_file as 220- lines before the banner, [messages] login as 230- lines after a
// login, and the [messages] cwd file (".message") as 250- lines the first time a session enters
// each directory. Package access reads their text and expands the cookies; the cwd file is read
// through the driver, inside the user's root.

// maxMessageLine bounds one line of a message reply; longer lines are cut (the library splits
// replies with a bufio.Scanner, which stops at 64 KiB).
const maxMessageLine = 2000

// localHost is the %L cookie.
var localHost = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
})

// messageEnv is the cookies' values for this session, in directory cwd.
func (s *session) messageEnv(cwd string) *access.Env {
	env := &access.Env{Cwd: cwd, Email: s.live.cfg.Messages.Email, Remote: s.from.Host(), Local: localHost()}
	s.mu.Lock()
	if s.user != nil {
		env.User = s.user.Name
	}
	s.mu.Unlock()
	env.ClassLimit, env.ClassCount = s.classLimits()
	return env
}

// expand expands lines for this session in cwd, each cut to maxMessageLine.
func (s *session) expand(lines []string, cwd string) []string {
	out := access.ExpandLines(lines, s.messageEnv(cwd))
	for i, l := range out {
		out[i] = cutLine(l)
	}
	return out
}

// cutLine cuts l to maxMessageLine bytes on a character boundary.
func cutLine(l string) string {
	if len(l) <= maxMessageLine {
		return l
	}
	n := maxMessageLine
	for n > 0 && !utf8.RuneStart(l[n]) {
		n--
	}
	return l[:n]
}

// greeting is the 220 reply's text: banner_file's lines, then the banner.
func (s *session) greeting() string {
	return access.Reply(s.expand(s.live.cfg.BannerLines(), "/"), s.live.cfg.Banner)
}

// loginReply is the 230 reply's text: [messages] login's lines, then text.
func (s *session) loginReply(text string) string {
	cwd := "/"
	s.mu.Lock()
	if s.cc != nil {
		cwd = s.cc.Path()
	}
	s.mu.Unlock()
	return access.Reply(s.expand(s.live.cfg.LoginMessage(), cwd), text)
}

// cwdMessage is the [messages] cwd file of directory dir as reply lines, the first time this
// session enters dir; nil otherwise, or when dir has no such file (or it is not a small text
// file).
func (s *session) cwdMessage(dir string) []string {
	name := s.live.cfg.Policy().CwdMessage
	s.mu.Lock()
	fs := s.fs
	first := name != "" && fs != nil && s.visited.First(dir)
	s.mu.Unlock()
	if !first {
		return nil
	}
	data, err := fs.ReadMessageFile(path.Join(dir, name), access.MaxMessageBytes)
	if err != nil {
		return nil
	}
	lines, err := access.ParseMessage(data)
	if err != nil {
		s.log.Info("directory message not shown", "path", logSafe(path.Join(dir, name)), "err", err.Error())
		return nil
	}
	return s.expand(lines, dir)
}

// cwdCommands are the commands whose 250 reply enters a directory.
var cwdCommands = map[string]bool{"CWD": true, "XCWD": true, "CDUP": true, "XCUP": true}

// dirMessage is the message of the directory a CWD just entered, for the 250 reply
// (ctrl.Hooks.DirMessage); nil after any other command.
func (s *session) dirMessage() []string {
	s.mu.Lock()
	cc := s.cc
	s.mu.Unlock()
	if cc == nil || !cwdCommands[strings.ToUpper(cc.GetLastCommand())] {
		return nil
	}
	return s.cwdMessage(cc.Path())
}

// refuseLogin makes the reply to this login "421 text" instead of the library's 530 (the
// connection then closes).
func (s *session) refuseLogin(text string) {
	s.mu.Lock()
	s.refusal = text
	s.mu.Unlock()
}

// takeRefusal returns and clears the text refuseLogin set (ctrl.Hooks.Refusal).
func (s *session) takeRefusal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.refusal
	s.refusal = ""
	return r
}
