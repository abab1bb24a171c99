package wuftpd

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// mapLaunch reports the inetd line or xinetd service and in.ftpd's flags, and records what the
// flags change for the rest of the import.
func (im *importer) mapLaunch() {
	l := im.launch
	if l == nil {
		im.useAccess = true
		im.fileNote(im.in.FtpAccess.Name, Note, "no --inetd-line or --xinetd given: in.ftpd is taken to have run with -a (this file in effect) and no other flag; give the launch line to import -t, -T, -u, -i, -o, -L, -W too")
		return
	}
	im.useAccess = false // in.ftpd's default; -a turns it on
	at := func(field string) int {
		if n, ok := l.lines[field]; ok {
			return n
		}
		return l.Line
	}
	prog := path.Base(l.Server)
	if ftpdNames[prog] {
		im.reportAt(l.File, at("server"), "server", Mapped, "%s is wu-ftpd's daemon: run tunnelftpd instead (%s)", l.Server, im.replacement())
	} else {
		im.reportAt(l.File, at("server"), "server", Note, "%s is not a usual name of wu-ftpd's in.ftpd; its flags are read as in.ftpd's anyway", l.Server)
	}
	if l.Tcpd {
		im.reportAt(l.File, at("server"), "tcpd", Lost, "in.ftpd ran under tcpd: the rules of /etc/hosts.allow and /etc/hosts.deny for in.ftpd are not imported (behind sshd they saw 127.0.0.1); write address rules as [[classes]] deny_clients, or in sshd_config")
	}
	switch w := strings.ToLower(l.Wait); {
	case w == "":
	case strings.HasPrefix(w, "nowait") || w == "no":
		msg := "one process per connection, as tunnelftpd serve --inetd"
		if _, max, ok := strings.Cut(w, "."); ok {
			msg += fmt.Sprintf("; the connection rate limit %s is inetd's and stays in the inetd line", max)
		}
		im.reportAt(l.File, at("wait"), "wait", Mapped, "%s", msg)
	default:
		im.reportAt(l.File, at("wait"), "wait", Note, "in.ftpd ran with wait = %s; tunnelftpd serve --inetd also accepts a listening socket (inetd wait), see docs/launch-modes.md", l.Wait)
	}
	if l.User != "" {
		im.reportAt(l.File, at("user"), "user", Note, "in.ftpd ran as %s; tunnelftpd needs root only for system users (PAM, one process per user): otherwise run it as an unprivileged account", l.User)
	}
	im.port = "21"
	svc := l.Service
	if host, p, ok := strings.Cut(svc, ":"); ok && !l.Xinetd {
		im.reportAt(l.File, l.Line, "service", Mapped, "inetd listened on %s only; tunnelftpd's listen host stays on loopback, where sshd's forwards arrive", host)
		svc = p
	}
	switch {
	case l.Port != "":
		im.port = l.Port
		im.reportAt(l.File, at("port"), "port", Mapped, "listen = \"127.0.0.1:%s\"", l.Port)
	case svc == "" || svc == "ftp":
	case !l.Xinetd:
		if _, err := strconv.Atoi(svc); err == nil {
			im.port = svc
		} else {
			im.reportAt(l.File, l.Line, "service", Note, "service %q: its port is in /etc/services; listen keeps port 21, fix it if it differs", svc)
		}
	}
	for _, a := range l.Attrs {
		im.mapXinetdAttr(a)
	}
	for _, f := range l.Flags {
		im.mapFlag(f)
	}
	for _, r := range l.Rest {
		im.reportAt(l.File, at("server_args"), r, Note, "not an option; in.ftpd takes no arguments and ignored it")
	}
	if !im.useAccess {
		im.fileNote(im.in.FtpAccess.Name, Note, "in.ftpd ran without -a: wu-ftpd did not read this file at all")
	}
}

// replacement is the launch line that runs tunnelftpd the same way.
func (im *importer) replacement() string {
	if im.launch.Xinetd {
		return "server = /usr/local/bin/tunnelftpd, server_args = serve --inetd -c /etc/tunnelftpd/tunnelftpd.toml (etc/xinetd.d/tunnelftpd)"
	}
	return "inetd.conf: ... nowait root /usr/local/bin/tunnelftpd tunnelftpd serve --inetd -c /etc/tunnelftpd/tunnelftpd.toml (etc/inetd.conf; root only with system users)"
}

// fixedFlagReports are the in.ftpd options mapFlag reports the same way
// whatever their argument.
var fixedFlagReports = reportsOf([]keyedReport{
	{[]string{"l"}, Mapped, "tunnelftpd always logs each login, failed login and session end (with ssh_user= and client= behind a tunnel)"},
	{[]string{"T"}, Note, "maximum idle time a client may ask for with SITE IDLE: tunnelftpd has no SITE, the idle timeout stays idle_timeout"},
	{[]string{"q"}, Note, "PID files for limit and ftpcount: tunnelftpd counts sessions itself"},
	{[]string{"w"}, Mapped, "log.wtmp = true (sessions in wtmp, as wu-ftpd's default)"},
	{[]string{"I"}, Note, "no RFC 931 ident lookups: tunnelftpd never does them (behind sshd it identifies the SSH user instead)"},
	{[]string{"s", "S"}, Note, "standalone daemon: tunnelftpd serve runs standalone when not started by inetd"},
	{[]string{"P"}, Note, "data port of active mode: tunnelftpd has no active mode (behind a tunnel only passive works)"},
	{[]string{"V"}, Note, "prints the version and exits; not a daemon setting"},
	{[]string{"R"}, Note, "wu-ftpd 2.8 refused REST; tunnelftpd allows restarting transfers"},
	{[]string{"U"}, Lost, "utmp records (wu-ftpd 2.8): tunnelftpd writes none"},
	{[]string{"z", "C", "G", "K"}, Lost, "TLS/GSSAPI option of wu-ftpd 2.8: tunnelftpd has none; behind a tunnel SSH encrypts and authenticates the connection"},
	{[]string{"H"}, Note, "RIP files for host-limit (wu-ftpd 2.8): tunnelftpd counts sessions itself"},
	{[]string{"4", "c", "h"}, Note, "wu-ftpd 2.8 option without a daemon setting to carry over"},
})

// mapFlag reports one in.ftpd option.
func (im *importer) mapFlag(f option) {
	name := "-" + string(f.Opt)
	rep := func(st Status, format string, args ...any) {
		im.reportAt(f.File, f.Line, name, st, format, args...)
	}
	if f.Bad != "" {
		rep(Lost, "%s; in.ftpd's getopt rejected it and wu-ftpd ran with its defaults", f.Bad)
		return
	}
	if o, ok := fixedFlagReports[string(rune(f.Opt))]; ok {
		rep(o.status, "%s", o.why)
		return
	}
	switch f.Opt {
	case 'a':
		im.useAccess = true
		rep(Mapped, "the ftpaccess file was in effect: it is imported")
	case 'A':
		im.useAccess = false
		rep(Note, "the ftpaccess file was not used: only wu-ftpd's defaults are imported")
	case 'L':
		im.cmdLog = true
		rep(Mapped, "log.commands = true (every command is logged; PASS never with its argument)")
	case 'i':
		im.xferIn = true
		rep(Mapped, "xferlog of uploads: log.xferlog (tunnelftpd logs both directions)")
	case 'o':
		im.xferOut = true
		rep(Mapped, "xferlog of downloads: log.xferlog (tunnelftpd logs both directions)")
	case 'X', 'x':
		im.xferSys = true
		rep(Note, "transfer lines to syslog: tunnelftpd writes a \"transfer complete\" line to its log (log.output = \"syslog\" sends it there)")
	case 't':
		if n, err := strconv.Atoi(f.Arg); err != nil || n < 0 {
			rep(Lost, "%q is not a number of seconds; wu-ftpd's atoi read %d", f.Arg, atoi(f.Arg))
		} else {
			im.flagT = f.Arg
			rep(Mapped, "idle_timeout = %q (a timeout idle line overrides it)", seconds(n))
		}
	case 'u':
		// in.ftpd's own loop: each digit times 8, anything else or more than 0777 refused.
		val, ok := uint32(0), f.Arg != ""
		for _, c := range f.Arg {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			val = val*8 + uint32(c-'0')
		}
		if !ok || val > 0o777 {
			rep(Lost, "%q: in.ftpd logged \"bad value for -u\" and kept its default umask 022", f.Arg)
		} else {
			im.flagU = fmt.Sprintf("%03o", val)
			rep(Mapped, "umask = %q (defumask lines override it)", im.flagU)
		}
	case 'Q':
		im.noPIDs = true
		rep(Note, "no PID files: wu-ftpd's limit lines could not count sessions and had no effect; the imported max_sessions do apply (narrower)")
	case 'W':
		im.noWtmp = true
		rep(Mapped, "log.wtmp = false (no wtmp records)")
	case 'r':
		rep(Note, "wu-ftpd chrooted itself to %s at start; tunnelftpd confines each session to its root with os.Root", f.Arg)
	case 'p':
		im.port = f.Arg
		rep(Mapped, "listen port %s", f.Arg)
	case 'd', 'v':
		im.cfg.setString("log", "level", "debug", fmt.Sprintf("%s:%d %s", f.File, f.Line, name))
		rep(Mapped, "log.level = \"debug\" (passwords are never logged, at any level)")
	default:
		rep(Lost, "option not handled by the importer")
	}
}

// mapXinetdAttr reports one xinetd attribute of the ftp service.
func (im *importer) mapXinetdAttr(a xinetdAttr) {
	l := im.launch
	v := strings.Join(a.Value, " ")
	rep := func(st Status, format string, args ...any) {
		im.reportAt(l.File, a.Line, a.Name, st, format, args...)
	}
	switch a.Name {
	case "disable":
		if strings.EqualFold(v, "yes") {
			rep(Note, "the service was disabled: wu-ftpd did not run from this file")
		} else {
			rep(Note, "the service was enabled")
		}
	case "socket_type", "protocol", "type", "id", "flags", "groups", "umask":
		rep(Note, "%s = %s: xinetd's, keep it in the tunnelftpd service (etc/xinetd.d/tunnelftpd)", a.Name, v)
	case "instances", "per_source", "cps", "max_load", "rlimit_as", "rlimit_cpu", "rlimit_data", "rlimit_rss", "rlimit_stack", "nice":
		rep(Mapped, "%s = %s is xinetd's own limit: keep it in the tunnelftpd service file", a.Name, v)
	case "log_on_success", "log_on_failure", "log_type":
		rep(Note, "xinetd's connection log: keep it; tunnelftpd logs the sessions itself")
	case "bind", "interface":
		rep(Mapped, "listen host %s: keep bind = %s in the service; behind sshd 127.0.0.1 is right", v, v)
	case "only_from":
		set, lost := im.globsSet(a.Value, false)
		if a.Op == "-=" {
			rep(Lost, "only_from -= is relative to the defaults block, which the importer does not read")
			return
		}
		im.admit = im.admit.intersect(set)
		rep(Mapped, "clients outside %s are refused (deny_clients); behind sshd xinetd saw 127.0.0.1 for every client, tunnelftpd matches the SSH client's real address (tunnel identity, as root)%s", v, lost)
	case "no_access":
		set, lost := im.globsSet(a.Value, true)
		im.deny = im.deny.union(set)
		rep(Mapped, "clients in %s are refused (deny_clients), matched on the SSH client's real address%s", v, lost)
	case "access_times":
		rep(Lost, "access_times %s: tunnelftpd has no time windows; keep the restriction in xinetd's service file", v)
	case "banner", "banner_success", "banner_fail":
		rep(Note, "xinetd's own banner file; keep it in the service file (tunnelftpd's banner_file is the FTP 220- greeting)")
	case "env", "passenv":
		rep(Note, "environment for in.ftpd; tunnelftpd reads none")
	default:
		rep(Note, "xinetd attribute with no tunnelftpd setting; keep it in the service file if it still applies")
	}
}

// globsSet reads xinetd address entries (CIDRs, addresses, host names); lost tells which
// could not be matched without DNS.
func (im *importer) globsSet(vals []string, deny bool) (addrSet, string) {
	set := noAddrs
	var bad []string
	for _, v := range vals {
		if s, ok := parseCIDR(v); ok {
			set = set.union(s)
			continue
		}
		if v == "0.0.0.0" || v == "0.0.0.0/0" {
			set = set.union(allAddrs)
			continue
		}
		bad = append(bad, v)
	}
	if len(bad) == 0 {
		return set, ""
	}
	if deny {
		return set, fmt.Sprintf("; %s cannot be matched (host names need DNS): those clients are not refused", strings.Join(bad, " "))
	}
	return set, fmt.Sprintf("; %s cannot be matched (host names need DNS): those clients are refused too", strings.Join(bad, " "))
}

// seconds writes n seconds as a tunnelftpd duration.
func seconds(n int) string {
	switch {
	case n%3600 == 0 && n > 0:
		return strconv.Itoa(n/3600) + "h"
	case n%60 == 0 && n > 0:
		return strconv.Itoa(n/60) + "m"
	}
	return strconv.Itoa(n) + "s"
}

func atoi(s string) int {
	n, _ := scanInt(s)
	return n
}
