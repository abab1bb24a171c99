package testbed

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// installFail2ban puts the shipped filter and jail in place in the bed
// following README's fail2ban block, and waits until the jail runs.
func (s *site) installFail2ban() {
	t, bed := s.t, s.bed
	for _, line := range readmeBlock(t, "**fail2ban**") {
		if pkgs, ok := strings.CutPrefix(line, "apt-get install "); ok {
			// The bed has no route to a mirror: the image must have them.
			bed.Run(t, "dpkg-query", append([]string{"-W"}, strings.Fields(pkgs)...)...)
			continue
		}
		t.Logf("README: %s", line)
		bed.Shell(t, "cd /root/tunnelftpd && "+line)
	}
	testutil.WaitFor(t, 60*time.Second, 200*time.Millisecond, "fail2ban's tunnelftpd jail", func() bool {
		_, _, err := bed.Exec(context.Background(), "fail2ban-client", "status", "tunnelftpd")
		return err == nil
	})
}

// failLogins makes n failed logins through the tunnel, one curl each.
func (s *site) failLogins(n int) {
	for i := range n {
		_, stderr, err := s.curl("wrong-"+randHex(4), "ftp://127.0.0.1:2121/")
		if err == nil || !strings.Contains(stderr, "530") {
			s.t.Fatalf("failed login %d: curl said %v, %q; want a 530", i+1, err, stderr)
		}
	}
}

// fail2banRegex runs fail2ban-regex -v in the bed on source (a file in the
// bed, or systemd-journal) with the installed filter and returns the
// number of lines it matched and the host of each match.
func (s *site) fail2banRegex(source string) (int, []string) {
	out := s.bed.Run(s.t, "fail2ban-regex", "-v", source, "/etc/fail2ban/filter.d/tunnelftpd.conf")
	m := regexp.MustCompile(`(?m)^Lines: \d+ lines, \d+ ignored, (\d+) matched`).FindStringSubmatch(out)
	if m == nil {
		s.t.Fatalf("fail2ban-regex %s: no summary line:\n%s", source, out)
	}
	var n int
	fmt.Sscan(m[1], &n)
	var hosts []string
	// -v lists each match under its regex as "|      HOST  Mon Jan 02 15:04:05 2006".
	for _, h := range regexp.MustCompile(`(?m)^\|\s+(\S+)\s+\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$`).FindAllStringSubmatch(out, -1) {
		hosts = append(hosts, h[1])
	}
	if len(hosts) != n {
		s.t.Fatalf("fail2ban-regex %s: %d matched but %d hosts listed:\n%s", source, n, len(hosts), out)
	}
	return n, hosts
}

// TestFail2banJournal: on a journal-only Debian 12 (no rsyslog), with the
// shipped units, filter and jail, failed logins through the tunnel get the
// SSH client's real address banned at sshd's port; journalctl -p warning
// shows each failed login; fail2ban-regex matches them in the real journal.
func TestFail2banJournal(t *testing.T) {
	requireHostTools(t)
	bed := Boot(t, Options{Mask: []string{"rsyslog.service"}})
	s := install(t, bed, nil)
	s.startTunnel()
	s.installFail2ban()
	s.failLogins(5)

	// The ban: fail2ban lists the client namespace's address, and its
	// packets to sshd are refused (nftables reject) from now on.
	var status string
	testutil.WaitFor(t, 30*time.Second, 200*time.Millisecond, "fail2ban to ban "+ClientAddr, func() bool {
		status = bed.Run(t, "fail2ban-client", "status", "tunnelftpd")
		return regexp.MustCompile(`Banned IP list:\s+` + regexp.QuoteMeta(ClientAddr) + `\s*$`).MatchString(status)
	})
	// fail2ban lists the address as soon as it decides, and runs the ban action (the nft
	// element) just after: wait for the refusal, bounded, instead of racing it.
	refused := testutil.Poll(10*time.Second, 200*time.Millisecond, func() bool { return s.clientDial(BedAddr+":22") != nil })
	if !refused {
		out, _, _ := bed.Exec(context.Background(), "nft", "list", "ruleset")
		f2b, _ := bed.ReadFile("/var/log/fail2ban.log")
		t.Errorf("a new SSH connection from the banned %s still reaches sshd 10 s after the ban; nft:\n%s\nfail2ban.log:\n%s", ClientAddr, out, tail(string(f2b), 4000))
	}
	if strings.Contains(status, "127.0.0.1") {
		t.Errorf("fail2ban counted 127.0.0.1:\n%s", status)
	}

	// The priorities reached journald: the failed logins, and nothing
	// below warning.
	w := s.journal("-u", "tunnelftpd.service", "-p", "warning")
	if n := strings.Count(w, `level=WARN msg="login failed" user=alice`); n != 5 {
		t.Errorf("journalctl -p warning shows %d failed logins, want 5:\n%s", n, w)
	}
	if strings.Contains(w, "level=INFO") {
		t.Errorf("journalctl -p warning shows info lines:\n%s", w)
	}

	// The filter's journalmatch picks the unit's lines from the real
	// journal, and its regex each failed login (and nothing else), with
	// the SSH client's address.
	n, hosts := s.fail2banRegex("systemd-journal")
	if n != 5 {
		t.Errorf("fail2ban-regex matched %d journal lines, want the 5 failed logins; journal:\n%s", n, s.journal("-u", "tunnelftpd.service"))
	}
	for _, h := range hosts {
		if h != ClientAddr {
			t.Errorf("fail2ban-regex found host %s, want the SSH client %s", h, ClientAddr)
		}
	}
}

// setLogOutput changes log.output in the installed config and reloads
// the daemon (README's systemctl reload: the file is checked, then SIGHUP);
// it waits for the daemon's "config reloaded" line at the new destination.
func (s *site) setLogOutput(output string) {
	t, bed := s.t, s.bed
	const path = "/etc/tunnelftpd/tunnelftpd.toml"
	cfg, err := bed.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^output = ".*"$`)
	if !re.Match(cfg) {
		t.Fatalf("no output = line in %s", path)
	}
	if err := bed.WriteFile(path, re.ReplaceAll(cfg, []byte(fmt.Sprintf("output = %q", output))), 0o640); err != nil {
		t.Fatal(err)
	}
	bed.Run(t, "chgrp", "tunnelftpd", path)
	reloads := func() int {
		var text string
		if strings.HasPrefix(output, "/") {
			b, _ := bed.ReadFile(output)
			text = string(b)
		} else {
			text = s.journal("-u", "tunnelftpd.service")
		}
		return strings.Count(text, `msg="config reloaded for new sessions"`)
	}
	before := reloads()
	bed.Run(t, "systemctl", "reload", "tunnelftpd.service")
	testutil.WaitFor(t, 20*time.Second, 50*time.Millisecond, "the reload's log line at log.output = "+output, func() bool {
		return reloads() > before
	})
}

// TestFail2banSyslogAndFile: with rsyslog running, the filter matches the
// daemon's lines in rsyslog's file, whether they come from standard error
// through the journal or from log.output = "syslog", and in the daemon's
// own log file (log.output = PATH); in each case every failed login, once.
func TestFail2banSyslogAndFile(t *testing.T) {
	requireHostTools(t)
	bed := Boot(t, Options{})
	s := install(t, bed, nil)
	if got := s.unitState("rsyslog.service"); got != "active" {
		t.Fatalf("rsyslog.service is %q, want active", got)
	}
	s.installFail2ban()
	s.startTunnel()

	// Standard error → journal → rsyslog.
	s.failLogins(2)
	bed.Run(t, "systemctl", "kill", "-s", "HUP", "rsyslog.service") // flush
	waitMatches(t, s, "/var/log/syslog", 2)

	// log.output = "syslog": /dev/log → journal → rsyslog.
	s.setLogOutput("syslog")
	s.failLogins(2)
	waitMatches(t, s, "/var/log/syslog", 4)
	if j := s.journal("-u", "tunnelftpd.service", "SYSLOG_IDENTIFIER=tunnelftpd", "--since", "-1min"); !strings.Contains(j, `level=WARN msg="login failed"`) {
		t.Errorf("no failed login from syslog in the journal:\n%s", tail(j, 3000))
	}

	// log.output = a file.
	const logFile = "/var/log/tunnelftpd/tunnelftpd.log"
	s.setLogOutput(logFile)
	s.failLogins(3)
	waitMatches(t, s, logFile, 3)
	if n, _ := s.fail2banRegex("/var/log/syslog"); n != 4 {
		t.Errorf("rsyslog's file has %d failed logins after the switch to a log file, want still 4", n)
	}
}

// waitMatches waits until fail2ban-regex matches want lines in file (the
// writers flush on their own time), and fails if it matches more.
func waitMatches(t *testing.T, s *site, file string, want int) {
	t.Helper()
	var n int
	testutil.WaitFor(t, 20*time.Second, 200*time.Millisecond, fmt.Sprintf("%d matches in %s", want, file), func() bool {
		if _, _, err := s.bed.Exec(context.Background(), "test", "-e", file); err != nil {
			return false
		}
		n, _ = s.fail2banRegex(file)
		return n >= want
	})
	if n != want {
		out, _ := s.bed.ReadFile(file)
		t.Fatalf("fail2ban-regex matched %d lines in %s, want %d:\n%s", n, file, want, tail(string(out), 4000))
	}
}
