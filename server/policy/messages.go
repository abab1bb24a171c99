package policy

import (
	"os"
	"path"
	"sync"
	"unicode/utf8"

	"github.com/tunnelftpd/tunnelftpd/access"
	"github.com/tunnelftpd/tunnelftpd/driver"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
)

// Messages: banner_file as 220- lines before the banner, [messages] login as 230- lines after a
// login, and the [messages] cwd file (".message") as 250- lines the first time a session enters
// each directory. Package access reads their text and expands the cookies; the cwd file is read
// through the driver, inside the user's root.

// maxMessageLine bounds one line of a message reply; longer lines are cut: RFC 959 clients read
// replies line by line, and many keep a fixed line buffer (the library itself no longer stops at
// 64 KiB, third_party/ftpserverlib PATCHES.md, performance 1).
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
func (p *Session) messageEnv(cwd string) *access.Env {
	env := &access.Env{Cwd: cwd, Email: p.Cfg.Messages.Email, Remote: p.Remote, Local: localHost()}
	env.User = p.User()
	env.ClassLimit, env.ClassCount = p.classLimits()
	return env
}

// expand expands lines for this session in cwd, each cut to maxMessageLine.
func (p *Session) expand(lines []string, cwd string) []string {
	out := access.ExpandLines(lines, p.messageEnv(cwd))
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

// Greeting is the 220 reply's text: banner_file's lines, then the banner.
func (p *Session) Greeting() string {
	return access.Reply(p.expand(p.Cfg.BannerLines(), "/"), p.Cfg.Banner)
}

// LoginReply is the 230 reply's text: [messages] login's lines (in directory cwd), then text.
func (p *Session) LoginReply(text, cwd string) string {
	return access.Reply(p.expand(p.Cfg.LoginMessage(), cwd), text)
}

// CwdMessage is the [messages] cwd file of directory dir, read through fs, as reply lines,
// the first time this session enters dir; nil otherwise, or when dir has no such file (or it is
// not a small text file), or before login (fs nil).
func (p *Session) CwdMessage(dir string, fs *driver.Fs) []string {
	name := p.Cfg.Policy().CwdMessage
	p.mu.Lock()
	first := name != "" && fs != nil && p.visited.First(dir)
	p.mu.Unlock()
	if !first {
		return nil
	}
	data, err := fs.ReadMessageFile(path.Join(dir, name), access.MaxMessageBytes)
	if err != nil {
		return nil
	}
	lines, err := access.ParseMessage(data)
	if err != nil {
		p.Log.Info("directory message not shown", "path", logging.Safe(path.Join(dir, name)), "err", err.Error())
		return nil
	}
	return p.expand(lines, dir)
}

// RefuseLogin makes the reply to this login "421 text" instead of the library's 530 (the
// connection then closes).
func (p *Session) RefuseLogin(text string) {
	p.mu.Lock()
	p.refusal = text
	p.mu.Unlock()
}

// TakeRefusal returns and clears the text RefuseLogin set (ctrl.Hooks.Refusal).
func (p *Session) TakeRefusal() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.refusal
	p.refusal = ""
	return r
}
