package wuftpd

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// strtoul0 is C's strtoul(s, NULL, 0): "0x" hex, "0" octal, else decimal, up to the first
// character that does not fit; ok is false when no digit was read.
func strtoul0(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	base := 10
	switch {
	case len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		base, s = 16, s[2:]
	case len(s) > 0 && s[0] == '0':
		base = 8
	}
	end := 0
	for end < len(s) {
		if _, err := strconv.ParseUint(s[end:end+1], base, 8); err != nil {
			break
		}
		end++
	}
	if end == 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(s[:end], base, 64)
	return v, err == nil
}

// mapUmask computes tunnelftpd's one umask from -u and the defumask lines: the union of the
// bits of every class a session can be in, so no class gets files more open than before.
func (im *importer) mapUmask() {
	base := uint32(0o22)
	if im.flagU != "" {
		v, _ := strconv.ParseUint(im.flagU, 8, 32)
		base = uint32(v)
	}
	type dl struct {
		d     *directive
		class string
		val   uint32
	}
	var lines []dl
	for _, d := range im.byKw["defumask"] {
		v, ok := strtoul0(d.arg(0))
		if d.arg(0) == "" || !ok {
			im.report(d, Note, "no umask value: wu-ftpd ignored it")
			continue
		}
		lines = append(lines, dl{d, d.arg(1), uint32(v) & 0o777})
	}
	umaskOf := func(class string) (uint32, *directive) {
		v, from := base, (*directive)(nil)
		for _, l := range lines {
			if l.class == "" {
				v, from = l.val, l.d
			} else if strings.EqualFold(l.class, class) {
				return l.val, l.d
			}
		}
		return v, from
	}
	global := uint32(0)
	any := false
	for k := kReal; k < numKinds; k++ {
		if im.kindOff[k] != "" {
			continue
		}
		for _, c := range im.classesOf[k] {
			v, _ := umaskOf(c)
			global |= v
			any = true
		}
	}
	if !any {
		global = base
	}
	im.umask = global
	var from []string
	for _, l := range lines {
		from = append(from, fmt.Sprintf("%s:%d", l.d.File, l.d.Line))
	}
	if len(lines) > 0 || im.flagU != "" || global != 0o22 {
		comment := "defumask/-u: files 0666 less the umask, directories 0777 less it"
		if len(from) > 0 {
			comment += " (" + strings.Join(from, ", ") + ")"
		}
		im.cfg.setString("", "umask", fmt.Sprintf("%03o", global), comment)
	}
	for _, l := range lines {
		decimal := ""
		if a := l.d.arg(0); !strings.HasPrefix(a, "0") {
			decimal = fmt.Sprintf("; wu-ftpd read %q as a decimal number (strtoul base 0), i.e. umask %03o: write it with a leading 0 to mean octal", a, l.val)
		}
		switch {
		case l.class != "" && !im.classReachable(l.class):
			im.report(l.d, Note, "class %s takes no session that can log in here%s", l.class, decimal)
		case global == l.val:
			im.report(l.d, Mapped, "umask = %q%s", fmt.Sprintf("%03o", global), decimal)
		default:
			who := "sessions it applied to"
			if l.class != "" {
				who = "class " + l.class
			}
			im.report(l.d, Narrowed, "tunnelftpd has one umask; %s had %03o, now %03o (the union of every class's, so none gets more open files)%s", who, l.val, global, decimal)
		}
	}
}

func (im *importer) classReachable(class string) bool {
	for k := kReal; k < numKinds; k++ {
		if im.kindOff[k] == "" && containsFold(im.classesOf[k], class) {
			return true
		}
	}
	return false
}

// mapSimple handles the directives that map to one key, or to none.
func (im *importer) mapSimple() {
	im.mapTimeouts()
	im.mapMessages()
	im.mapLogging()
	im.mapPassive()
	for _, d := range im.dirs {
		if im.reported[d] {
			continue
		}
		im.mapMisc(d)
	}
}

func (im *importer) mapTimeouts() {
	idle, idleFrom := -1, ""
	if im.flagT != "" {
		idle, idleFrom = atoi(im.flagT), "-t "+im.flagT
	}
	set := map[string]int{}
	for _, d := range im.byKw["timeout"] {
		what := strings.ToLower(d.arg(0))
		n, err := strconv.Atoi(d.arg(1))
		class := d.arg(2)
		if err != nil || n < 0 {
			im.report(d, Note, "%q is not a number of seconds: wu-ftpd ignored it", d.arg(1))
			continue
		}
		key := map[string]string{"idle": "idle_timeout", "data": "data_timeout", "accept": "passive.accept_timeout"}[what]
		switch {
		case what == "connect":
			im.report(d, Note, "timeout of active-mode connections: tunnelftpd has no active mode")
			continue
		case what == "maxidle":
			im.report(d, Note, "the most a client may ask with SITE IDLE: tunnelftpd has no SITE, the idle timeout is idle_timeout")
			continue
		case what == "rfc931":
			im.report(d, Note, "ident lookups: tunnelftpd does none")
			continue
		case key == "":
			im.report(d, Note, "not a timeout wu-ftpd knows: it had no effect")
			continue
		case n == 0:
			im.report(d, Narrowed, "0 turned the %s timeout off; tunnelftpd always has one, the default is kept", what)
			continue
		}
		if old, ok := set[key]; ok && class == "" {
			im.report(d, Note, "a later timeout %s line: wu-ftpd used the last, %ds (was %ds)", what, n, old)
		}
		if class != "" {
			if old, ok := set[key]; ok && old <= n {
				im.report(d, Narrowed, "per-class timeouts (wu-ftpd 2.8): tunnelftpd has one; the smallest, %ds, holds for everyone", old)
				continue
			}
			im.report(d, Narrowed, "per-class timeout (wu-ftpd 2.8) for class %s: tunnelftpd has one timeout, this one (%ds) now holds for every class", class, n)
		} else {
			im.report(d, Mapped, "%s = %q", key, seconds(n))
		}
		set[key] = n
		if what == "idle" {
			idle, idleFrom = n, fmt.Sprintf("%s:%d", d.File, d.Line)
		} else {
			table, k, _ := strings.Cut(key, ".")
			if k == "" {
				table, k = "", key
			}
			im.cfg.setString(table, k, seconds(n), fmt.Sprintf("%s:%d timeout %s %d", d.File, d.Line, what, n))
		}
	}
	if idle > 0 {
		im.cfg.setString("", "idle_timeout", seconds(idle), "from "+idleFrom)
		if idle <= 5 {
			im.cfg.setString("passive", "wait", "0s", "must be shorter than idle_timeout")
		}
	} else if idle == 0 {
		im.reportAt(im.launch.File, im.launch.Line, "-t", Narrowed, "-t 0 turned the idle timeout off; tunnelftpd keeps its default")
	}

	for _, d := range im.byKw["loginfails"] {
		n, err := strconv.Atoi(d.arg(0))
		switch {
		case err != nil:
			im.report(d, Note, "%q is not a number: wu-ftpd's atoi made it 0, which closed the connection after the first failure", d.arg(0))
			n = 1
			im.cfg.setInt("auth", "max_login_attempts", n, fmt.Sprintf("%s:%d loginfails", d.File, d.Line))
		case n > 100:
			im.cfg.setInt("auth", "max_login_attempts", 100, fmt.Sprintf("%s:%d loginfails %d", d.File, d.Line, n))
			im.report(d, Narrowed, "auth.max_login_attempts = 100, tunnelftpd's most (was %d)", n)
		default:
			im.cfg.setInt("auth", "max_login_attempts", max(1, n), fmt.Sprintf("%s:%d loginfails", d.File, d.Line))
			im.report(d, Mapped, "auth.max_login_attempts = %d: after that many failed logins the connection is closed", max(1, n))
		}
	}
	if len(im.byKw["loginfails"]) == 0 {
		im.defaultNote("loginfails", Narrowed, "wu-ftpd closed the connection after 5 failed logins; tunnelftpd's default is 3 (auth.max_login_attempts)")
	}
}

func (im *importer) mapMessages() {
	host := ""
	for _, d := range im.byKw["hostname"] {
		host = d.arg(0)
		im.report(d, Mapped, "host name %s: used in the greeting; %%L in messages shows the name tunnelftpd finds for the host", host)
	}
	for i, d := range im.byKw["email"] {
		if i > 0 || d.arg(0) == "" {
			im.report(d, Note, "wu-ftpd used the first email line's address")
			continue
		}
		im.cfg.setString("messages", "email", d.arg(0), fmt.Sprintf("%s:%d email: the %%E cookie", d.File, d.Line))
		im.report(d, Mapped, "[messages] email = %q (the %%E cookie)", d.arg(0))
	}
	for _, d := range im.byKw["greeting"] {
		var text string
		switch strings.ToLower(d.arg(0)) {
		case "full", "brief":
			text = "FTP server ready."
			if host != "" {
				text = host + " FTP server ready."
			}
			if strings.EqualFold(d.arg(0), "full") {
				im.report(d, Mapped, "banner = %q: the host name, never a version (wu-ftpd's full greeting showed its version)", text)
			} else {
				im.report(d, Mapped, "banner = %q", text)
			}
		case "terse":
			text = "FTP server ready."
			im.report(d, Mapped, "banner = %q", text)
		case "text":
			text = strings.Join(d.Args[1:], " ")
			im.report(d, Mapped, "banner = %q (blanks in a row became one space, as in wu-ftpd)", text)
		default:
			im.report(d, Note, "not a greeting form wu-ftpd knows (full, brief, terse, text): it kept the full greeting")
			continue
		}
		im.cfg.setString("", "banner", text, fmt.Sprintf("%s:%d greeting", d.File, d.Line))
	}
	if len(im.byKw["greeting"]) == 0 && im.useAccess {
		im.defaultNote("greeting", Note, "wu-ftpd's 220 reply named the host and its version; tunnelftpd's banner is \"tunnelftpd ready\" (set banner; client scripts rarely read it)")
	}
	for i, d := range im.byKw["banner"] {
		if i > 0 {
			im.report(d, Note, "a second banner line: wu-ftpd showed the first")
			continue
		}
		im.cfg.setString("", "banner_file", d.arg(0), fmt.Sprintf("%s:%d banner: 220- lines before the 220", d.File, d.Line))
		im.report(d, Mapped, "banner_file = %q (a path on the host, as in wu-ftpd); cookies as in every message file", d.arg(0))
	}
	for _, d := range im.byKw["message"] {
		path, when := d.arg(0), strings.ToLower(d.arg(1))
		classes := d.Args[min(2, len(d.Args)):]
		allClasses := len(classes) == 0 || im.coversAllClasses(classes)
		switch {
		case path == "":
			im.report(d, Note, "no file: wu-ftpd ignored it")
		case !allClasses:
			im.report(d, Narrowed, "shown only to class %s in wu-ftpd; tunnelftpd shows one message to everyone, so this one is not written", strings.Join(classes, ", "))
		case when == "" || when == "login":
			if _, ok := im.cfg.get("messages", "login"); ok {
				im.report(d, Narrowed, "a second login message: tunnelftpd shows one ([messages] login), the first")
				continue
			}
			host, how := im.loginMessagePath(path)
			im.cfg.setString("messages", "login", host, fmt.Sprintf("%s:%d message %s login: 230- lines after login", d.File, d.Line, path))
			im.report(d, Mapped, "[messages] login = %q: %s", host, how)
		case strings.HasPrefix(when, "cwd=*") && !strings.HasPrefix(path, "/"):
			if _, ok := im.cfg.get("messages", "cwd"); ok {
				im.report(d, Narrowed, "a second per-directory message: tunnelftpd shows one file name ([messages] cwd), the first")
				continue
			}
			im.cfg.setString("messages", "cwd", path, fmt.Sprintf("%s:%d message %s cwd=*: shown once per directory per session", d.File, d.Line, path))
			im.report(d, Mapped, "[messages] cwd = %q: shown as 250- lines on the first CWD into each directory of a session", path)
		case strings.HasPrefix(when, "cwd="):
			im.report(d, Narrowed, "a message for one directory (%s): tunnelftpd shows the same file name in every directory ([messages] cwd); put the text in a %s file in that directory instead", strings.TrimPrefix(d.arg(1), "cwd="), orMessage(im.cfg))
		default:
			im.report(d, Note, "%q is neither LOGIN nor CWD=<dir>: wu-ftpd never showed it", d.arg(1))
		}
	}
	for _, d := range im.byKw["readme"] {
		im.report(d, Narrowed, "the \"Please read the file %s ... it was last modified on\" notice is gone: tunnelftpd has no readme notices (a [messages] cwd file can say the same)", d.arg(0))
	}
}

func orMessage(c *config) string {
	if v, ok := c.get("messages", "cwd"); ok {
		return strings.Trim(v, `"`)
	}
	return ".message"
}

// coversAllClasses: the classes listed are all the classes sessions can be in.
func (im *importer) coversAllClasses(list []string) bool {
	for k := kReal; k < numKinds; k++ {
		if im.kindOff[k] != "" {
			continue
		}
		for _, c := range im.classesOf[k] {
			if !containsFold(list, c) {
				return false
			}
		}
	}
	return true
}

func (im *importer) mapLogging() {
	xferlog := "/var/log/xferlog"
	for _, d := range im.byKw["logfile"] {
		xferlog = d.arg(0)
		im.report(d, Mapped, "log.xferlog = %q", xferlog)
	}
	transfers := im.xferIn || im.xferOut
	toSyslog, toFile := im.xferSys, !im.xferSys
	commands := im.cmdLog
	for _, d := range im.byKw["log"] {
		sub := strings.ToLower(d.arg(0))
		switch sub {
		case "commands":
			if d.arg(1) == "" {
				im.report(d, Note, "no typelist: wu-ftpd 2.6.2 crashed on this line (Debian's patch ignored it); not imported")
				continue
			}
			commands = true
			kinds := typeKinds(d.arg(1))
			if len(kinds) < int(numKinds) {
				im.report(d, Mapped, "log.commands = true: every session's commands are logged (wu-ftpd logged those of %s only); PASS never with its argument", kindList(kinds))
			} else {
				im.report(d, Mapped, "log.commands = true; PASS never with its argument")
			}
		case "transfers":
			transfers = true
			msg := "log.xferlog = " + strconvQuote(xferlog)
			if d.arg(1) == "" || len(typeKinds(d.arg(1))) < int(numKinds) || (d.arg(2) != "" && !(strings.Contains(strings.ToLower(d.arg(2)), "inbound") && strings.Contains(strings.ToLower(d.arg(2)), "outbound"))) {
				msg += "; tunnelftpd logs every kind and both directions (wu-ftpd: " + orAll(d.arg(1)) + " " + orAll(d.arg(2)) + ")"
			}
			im.report(d, Mapped, "%s; overrides -i/-o as in wu-ftpd", msg)
		case "security":
			im.report(d, Mapped, "tunnelftpd logs every refusal (rules, failed logins) at level warn")
		case "syslog":
			toSyslog, toFile = true, false
			im.report(d, Note, "transfer lines to syslog instead of the xferlog: tunnelftpd writes a \"transfer complete\" line to its log (log.output = \"syslog\" sends it there) and no xferlog")
		case "syslog+xferlog":
			toSyslog, toFile = true, true
			im.report(d, Mapped, "xferlog, and a \"transfer complete\" line in tunnelftpd's log (log.output = \"syslog\" sends it to syslog)")
		default:
			im.report(d, Note, "not a log form wu-ftpd knows: it had no effect")
		}
	}
	for _, d := range im.byKw["xferlog"] {
		if strings.EqualFold(d.arg(0), "format") {
			f := strings.Join(d.Args[1:], " ")
			if f == "%T %Xt %R %Xn %XP %Xy %Xf %Xd %Xm %U ftp %Xa %u %Xc" {
				im.report(d, Mapped, "the standard xferlog format, which tunnelftpd writes")
			} else {
				im.report(d, Lost, "a custom xferlog format (wu-ftpd 2.8): tunnelftpd writes the standard 14 fields; tools reading %q must be adapted", f)
			}
			continue
		}
		im.report(d, Note, "not an xferlog form wu-ftpd 2.8 knows")
	}
	_ = toSyslog
	if transfers && toFile {
		im.cfg.setString("log", "xferlog", xferlog, "log transfers / -i -o: wu-ftpd's xferlog format (directory must exist)")
	}
	if commands {
		im.cfg.setBool("log", "commands", true, "log commands / -L")
	}
	im.cfg.setBool("log", "wtmp", !im.noWtmp, "wtmp records, as in.ftpd without -W")
}

func strconvQuote(s string) string { return strconv.Quote(s) }

func orAll(s string) string {
	if s == "" {
		return "(all)"
	}
	return s
}

// mapPassive: the PASV address and port range for the sessions that come through the tunnel,
// whose control peer is 127.0.0.1 (wu-ftpd chose the line with the most specific CIDR).
func (im *importer) mapPassive() {
	type pl struct {
		d    *directive
		cidr addrSet
		bits int
	}
	var addrs, ports []pl
	for _, d := range im.byKw["passive"] {
		sub := strings.ToLower(d.arg(0))
		cidrArg := d.arg(2)
		if sub == "ports" {
			cidrArg = d.arg(1)
		}
		set, ok := parseCIDR(cidrArg)
		bits := 32
		if p, err := netip.ParsePrefix(cidrArg); err == nil {
			bits = p.Bits()
		}
		switch {
		case sub != "address" && sub != "ports":
			im.report(d, Note, "not a passive form wu-ftpd knows (address, ports): no effect")
		case !ok:
			im.report(d, Note, "%q is not an IPv4 CIDR: wu-ftpd never matched it", cidrArg)
		case sub == "address":
			addrs = append(addrs, pl{d, set, bits})
		default:
			ports = append(ports, pl{d, set, bits})
		}
	}
	pick := func(list []pl) *pl {
		var best *pl
		for i := range list {
			if list[i].cidr.contains(loopbackIP) && (best == nil || list[i].bits > best.bits) {
				best = &list[i]
			}
		}
		return best
	}
	if best := pick(addrs); best != nil {
		ip := best.d.arg(1)
		a, err := netip.ParseAddr(ip)
		switch {
		case err != nil || !a.Is4():
			im.report(best.d, Note, "%q is not an IPv4 address: wu-ftpd could not use it", ip)
		case a.IsLoopback():
			im.cfg.setString("passive", "address", ip, fmt.Sprintf("%s:%d passive address", best.d.File, best.d.Line))
			im.report(best.d, Mapped, "passive.address = %q: the address behind the tunnel", ip)
		default:
			im.cfg.setString("passive", "address", ip, fmt.Sprintf("%s:%d passive address", best.d.File, best.d.Line))
			im.report(best.d, Mapped, "passive.address = %q (wu-ftpd gave it to clients from 127.0.0.1 too); behind ssh -L the PASV address must be 127.0.0.1 so that the client connects into its own forward", ip)
		}
		for i := range addrs {
			if addrs[i].d != best.d {
				im.report(addrs[i].d, Note, "for clients in %s; every tunnelled session comes from 127.0.0.1 and gets %s (tunnelftpd has one passive.address, or \"control\")", addrs[i].d.arg(2), ip)
			}
		}
	} else {
		for _, a := range addrs {
			im.report(a.d, Note, "for clients in %s, which does not hold 127.0.0.1: tunnelled sessions got the control connection's address, 127.0.0.1 (passive.address default)", a.d.arg(2))
		}
	}
	if best := pick(ports); best != nil {
		lo, hi := atoi(best.d.arg(2)), atoi(best.d.arg(3))
		switch {
		case lo == 0 && hi == 0:
			im.report(best.d, Note, "0 0 let the kernel choose the port; tunnelftpd needs a small range the SSH client forwards: passive.ports keeps its default 22000-22004")
		case lo < 1 || hi > 65535 || lo > hi:
			im.report(best.d, Note, "%d-%d is not a port range: wu-ftpd fell back to 1024-65534; passive.ports keeps its default 22000-22004 (forward each port)", lo, hi)
		default:
			r := fmt.Sprintf("%d-%d", lo, hi)
			if lo == hi {
				r = strconv.Itoa(lo)
			}
			im.cfg.setString("passive", "ports", r, fmt.Sprintf("%s:%d passive ports: the SSH client forwards each one (tunnelftpd tunnel prints the command)", best.d.File, best.d.Line))
			extra := ""
			if best.bits != 0 {
				extra = "; note that wu-ftpd 2.6.x compared the client address without ntohl(), so on little-endian hosts only 0.0.0.0/0 lines matched"
			}
			if hi-lo > 100 {
				extra += "; every port of the range must be forwarded through the tunnel, a range this large is unusual"
			}
			im.report(best.d, Mapped, "passive.ports = %q%s", r, extra)
		}
		for i := range ports {
			if ports[i].d != best.d {
				im.report(ports[i].d, Note, "for clients in %s; tunnelled sessions come from 127.0.0.1 and use the range above", ports[i].d.arg(1))
			}
		}
	} else {
		for _, p := range ports {
			im.report(p.d, Note, "for clients in %s, which does not hold 127.0.0.1: tunnelled sessions used wu-ftpd's 1024-65534; passive.ports keeps tunnelftpd's default 22000-22004 (forward each port)", p.d.arg(1))
		}
		if len(ports) == 0 {
			im.defaultNote("passive ports", Note, "wu-ftpd used ports 1024-65534 (sites behind a tunnel patched the source); tunnelftpd needs a small forwarded range: passive.ports keeps its default 22000-22004")
		}
	}
}

// fixedReport is what became of a directive or option that the importer
// reports the same way whatever its arguments, and why.
type fixedReport struct {
	status Status
	why    string
}

// keyedReport is one fixedReport shared by the directives or options in keys.
type keyedReport struct {
	keys   []string
	status Status
	why    string
}

// reportsOf indexes a table of fixed reports by directive or option.
func reportsOf(table []keyedReport) map[string]fixedReport {
	m := map[string]fixedReport{}
	for _, o := range table {
		for _, k := range o.keys {
			m[k] = fixedReport{o.status, o.why}
		}
	}
	return m
}

// fixedReports are the directives mapMisc reports the same way whatever
// their arguments.
var fixedReports = reportsOf([]keyedReport{
	{[]string{"nice"}, Note, "process priority: set Nice= in the systemd unit or nice in xinetd"},
	{[]string{"tcpwindow", "sendbuf", "recvbuf"}, Note, "socket buffer size: tunnelftpd leaves it to the kernel's autotuning"},
	{[]string{"keepalive"}, Note, "SO_KEEPALIVE on data sockets: tunnelftpd closes stalled data connections after data_timeout"},
	{[]string{"ipcos", "iptos"}, Note, "IP type of service (wu-ftpd 2.8): not set by tunnelftpd"},
	{[]string{"flush-wait"}, Note, "half-close before 226 (wu-ftpd 2.8/Solaris): tunnelftpd's transfers end as its FTP library does"},
	{[]string{"rhostlookup"}, Note, "tunnelftpd never looks up client names"},
	{[]string{"site-exec-max-lines"}, Note, "SITE EXEC: tunnelftpd has no SITE commands"},
	{[]string{"quota-info"}, Note, "quota cookies (%B %b %Q ...): tunnelftpd's messages have none"},
	{[]string{"signoff", "stat"}, Note, "the 221/STAT text (wu-ftpd 2.8): tunnelftpd's replies are its library's"},
	{[]string{"csid-name", "csid-version"}, Note, "wu-ftpd 2.8's man page names it but no code read it: it had no effect"},
	{[]string{"file-limit", "data-limit"}, Lost, "per-session file or byte limits (TRANSFER_LIMIT builds): tunnelftpd has none, sessions may transfer more"},
	{[]string{"host-limit"}, Lost, "per-host limit (wu-ftpd 2.8): behind sshd every host is 127.0.0.1; max_sessions_per_ssh_user limits sessions per SSH user instead, but not in per-connection modes (inetd): set it by hand if it fits"},
	{[]string{"throughput"}, Lost, "download rate caps: tunnelftpd has none (shape traffic with tc, or on the SSH side)"},
	{[]string{"ul-dl-rate", "dl-free", "dl-free-dir"}, Lost, "upload/download ratios (--enable-ratios builds): tunnelftpd has none, so users may download without uploading"},
	{[]string{"lslong", "lsshort", "lsplain"}, Note, "tunnelftpd lists directories itself; no external ls"},
	{[]string{"pasv-allow", "port-allow"}, Note, "data connections from or to other addresses (FXP): tunnelftpd never allows them; nothing is widened"},
	{[]string{"mailserver", "incmail", "mailfrom"}, Narrowed, "mail about anonymous uploads: tunnelftpd sends none (the xferlog records each upload)"},
	{[]string{"root", "passwd", "shadow"}, Lost, "a virtual host's root or password file (--enable-passwd): tunnelftpd's users are system accounts (PAM) or [[users]] with bcrypt/argon2id hashes: add them with tunnelftpd passwd"},
	{[]string{"virtual"}, Lost, "IP virtual hosts: behind sshd every session arrives on 127.0.0.1, so tunnelftpd serves one host per listen port: run one instance per virtual host"},
	{[]string{"suppresshostname", "suppressversion"}, Note, "a wu-ftpd 2.4 directive (2.6 ignored it); tunnelftpd's banner shows neither host name nor version"},
	{[]string{"ascii_count"}, Note, "HP-UX's ASCII byte count option: tunnelftpd sends TYPE A files as they are"},
	{[]string{"include", "limit-download", "limit-upload", "show-everytime", "byte-limit"}, Lost, "a BeroFTPD directive: wu-ftpd ignored it; if this file came from BeroFTPD, its effect (an included file, transfer limits, messages) is not carried over"},
})

// mapMisc reports the directives with no tunnelftpd key.
func (im *importer) mapMisc(d *directive) {
	if r, ok := fixedReports[d.Keyword]; ok {
		im.report(d, r.status, "%s", r.why)
		return
	}
	args := strings.Join(d.Args, " ")
	switch d.Keyword {
	case "shutdown":
		if d.arg(0) == "" {
			im.report(d, Note, "no path: wu-ftpd ignored it")
			return
		}
		im.cfg.setString("", "shutdown_file", d.arg(0), fmt.Sprintf("%s:%d shutdown: the ftpshut file (tunnelftpd shutdown writes it)", d.File, d.Line))
		im.report(d, Mapped, "shutdown_file = %q: the same ftpshut format; a file written by ftpshut also works. wu-ftpd read %s inside the root for anonymous and guests (ftpshut wrote a copy into ~ftp)", d.arg(0), d.arg(0))
	case "daemonaddress":
		a, err := netip.ParseAddr(d.arg(0))
		switch {
		case err != nil:
			im.report(d, Note, "%q is not an address: wu-ftpd listened on every address", d.arg(0))
		case a.IsLoopback():
			im.cfg.setString("", "listen", netip.AddrPortFrom(a, uint16(atoi(im.portOr21()))).String(), fmt.Sprintf("%s:%d daemonaddress", d.File, d.Line))
			im.report(d, Mapped, "listen host %s", a)
		default:
			im.report(d, Narrowed, "wu-ftpd listened on %s; behind sshd tunnelftpd listens on loopback (listen), where sshd's forwards arrive", a)
		}
	case "chmod", "umask":
		if strings.EqualFold(d.arg(0), "no") || d.arg(0) == "" {
			im.report(d, Mapped, "no SITE %s: tunnelftpd has no SITE commands", strings.ToUpper(d.Keyword))
		} else {
			im.report(d, Narrowed, "SITE %s for %s is gone: tunnelftpd has no SITE commands (rules mode sets upload modes)", strings.ToUpper(d.Keyword), d.arg(1))
		}
	case "dns":
		switch strings.ToLower(d.arg(0)) {
		case "refuse_mismatch", "refuse_no_reverse":
			if strings.EqualFold(d.arg(2), "override") {
				im.report(d, Note, "wu-ftpd only complained and let the client in; tunnelftpd does no DNS lookups")
			} else {
				im.report(d, Lost, "wu-ftpd refused clients whose reverse DNS failed that check; tunnelftpd does no DNS lookups (sshd's UseDNS and its access rules can)")
			}
		default:
			im.report(d, Note, "resolver options: tunnelftpd does no DNS lookups")
		}
	case "limit-time":
		im.report(d, Lost, "session length limit of %s: tunnelftpd has none (idle_timeout closes idle sessions only)", args)
	case "alias", "cdpath":
		im.report(d, Narrowed, "CWD shortcuts are gone (\"cd %s\" fails): make symlinks inside the root instead", d.arg(0))
	case "compress", "tar":
		if strings.EqualFold(d.arg(0), "yes") {
			im.report(d, Narrowed, "on-the-fly conversions (RETR x.gz of x, dir.tar) are gone: such RETRs get 550; they ran external programs as the user, better left off")
		} else {
			im.report(d, Mapped, "no on-the-fly conversions, as in tunnelftpd")
		}
	}
}

func (im *importer) portOr21() string {
	if im.port != "" {
		return im.port
	}
	return "21"
}

// loginMessagePath is the host path of a login message: wu-ftpd opened it after the chroot,
// so for anonymous sessions it lay inside the anonymous root; tunnelftpd reads one file, an
// absolute path on the host, for everyone.
func (im *importer) loginMessagePath(p string) (host, how string) {
	anon := im.kindOff[kAnon] == "" && im.anonRoot != ""
	sys := im.kindOff[kReal] == "" || im.kindOff[kGuest] == ""
	switch {
	case anon && strings.HasPrefix(p, "/"):
		host = path.Join(im.anonRoot, p)
		how = "wu-ftpd read " + p + " inside the anonymous root"
		if sys {
			how += "; real users and guests see that file now too (they saw " + p + " on the host or in their chroot)"
		}
		return host, how
	case !strings.HasPrefix(p, "/"):
		return p, "a relative path: wu-ftpd read it in the session's start directory; tunnelftpd needs an absolute path, fix it"
	case im.kindOff[kGuest] == "" && im.guests.any():
		return p, "the host path, which real users saw; guests saw " + p + " inside their chroot"
	}
	return p, "the host path, as real users saw it"
}
