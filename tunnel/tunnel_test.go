package tunnel

import (
	"strings"
	"testing"
)

func TestSSHCommand(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{
			name: "user@host, default range",
			spec: Spec{Listen: "127.0.0.1:2121", PassiveFirst: 22000, PassiveLast: 22002, Host: "alice@ftp.example.com"},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 22000:127.0.0.1:22000 -L 22001:127.0.0.1:22001 -L 22002:127.0.0.1:22002 alice@ftp.example.com",
		},
		{
			name: "host without user, single-port range",
			spec: Spec{Listen: "127.0.0.1:2121", PassiveFirst: 30000, PassiveLast: 30000, Host: "ftp.example.com"},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 30000:127.0.0.1:30000 ftp.example.com",
		},
		{
			name: "IPv6 listen is bracketed",
			spec: Spec{Listen: "[::1]:2121", PassiveFirst: 30000, PassiveLast: 30000, Host: "h"},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 2121:[::1]:2121 -L 30000:[::1]:30000 h",
		},
		{
			name: "IPv4 wildcard listen forwards to 127.0.0.1",
			spec: Spec{Listen: "0.0.0.0:2121", PassiveFirst: 30000, PassiveLast: 30000, Host: "h"},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 30000:127.0.0.1:30000 h",
		},
		{
			name: "IPv6 wildcard listen forwards to 127.0.0.1",
			spec: Spec{Listen: "[::]:2121", PassiveFirst: 30000, PassiveLast: 30000, Host: "h"},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 30000:127.0.0.1:30000 h",
		},
		{
			name: "empty listen host forwards to 127.0.0.1",
			spec: Spec{Listen: ":2121", PassiveFirst: 30000, PassiveLast: 30000, Host: "h"},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 30000:127.0.0.1:30000 h",
		},
		{
			name: "privileged control port: local 2121",
			spec: Spec{Listen: "127.0.0.1:21", PassiveFirst: 30000, PassiveLast: 30000, Host: "h"},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:21 -L 30000:127.0.0.1:30000 h",
		},
		{
			name: "explicit local port",
			spec: Spec{Listen: "127.0.0.1:2121", PassiveFirst: 30000, PassiveLast: 30000, Host: "h", LocalPort: 4021},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 4021:127.0.0.1:2121 -L 30000:127.0.0.1:30000 h",
		},
		{
			name: "IPv6 server in brackets",
			spec: Spec{Listen: "127.0.0.1:2121", PassiveFirst: 30000, PassiveLast: 30000, Host: "bob@[2001:db8::5]"},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 30000:127.0.0.1:30000 bob@2001:db8::5",
		},
		{
			name: "user with @ splits at the last one",
			spec: Spec{Listen: "127.0.0.1:2121", PassiveFirst: 30000, PassiveLast: 30000, Host: "bob@corp@h"},
			want: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 30000:127.0.0.1:30000 bob@corp@h",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SSHCommand(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestSpecErrors(t *testing.T) {
	ok := Spec{Listen: "127.0.0.1:2121", PassiveFirst: 22000, PassiveLast: 22004, Host: "h"}
	tests := []struct {
		name    string
		edit    func(*Spec)
		wantErr string
	}{
		{"empty host", func(s *Spec) { s.Host = "" }, "empty"},
		{"empty user", func(s *Spec) { s.Host = "@h" }, "user name is empty"},
		{"option injection in host", func(s *Spec) { s.Host = "-oProxyCommand=sh" }, `must not start with "-"`},
		{"option injection in user", func(s *Spec) { s.Host = "-x@h" }, `must not start with "-"`},
		{"shell metacharacter", func(s *Spec) { s.Host = "h;rm" }, "not allowed"},
		{"space", func(s *Spec) { s.Host = "a b" }, "not allowed"},
		{"IPv4 in brackets", func(s *Spec) { s.Host = "[10.0.0.1]" }, "only IPv6"},
		{"local port in passive range", func(s *Spec) { s.LocalPort = 22003 }, "one of the passive ports"},
		{"local port too big", func(s *Spec) { s.LocalPort = 70000 }, "from 1 to 65535"},
		{"negative local port", func(s *Spec) { s.LocalPort = -1 }, "from 1 to 65535"},
		{"bad listen", func(s *Spec) { s.Listen = "localhost" }, "not host:port"},
		{"listen by name", func(s *Spec) { s.Listen = "localhost:2121" }, "must be an IP address"},
		{"reversed range", func(s *Spec) { s.PassiveFirst, s.PassiveLast = 5, 4 }, "not a port range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			for _, f := range Formats {
				_, err := Generate(f, s)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("%s: err = %v, want one containing %q", f, err, tt.wantErr)
				}
			}
		})
	}
	if _, err := Generate("scp", ok); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("unknown format: err = %v", err)
	}
}

func TestSSHConfig(t *testing.T) {
	tests := []struct {
		name        string
		spec        Spec
		want        []string // lines that must appear, in this order
		mustNotHave string
	}{
		{
			name: "user@host",
			spec: Spec{Listen: "127.0.0.1:2121", PassiveFirst: 22000, PassiveLast: 22001, Host: "alice@ftp.example.com"},
			want: []string{"#   ssh -N ftp.example.com", "Host ftp.example.com", "\tHostName ftp.example.com", "\tUser alice",
				"\tLocalForward 2121 127.0.0.1:2121", "\tLocalForward 22000 127.0.0.1:22000", "\tLocalForward 22001 127.0.0.1:22001",
				"\tExitOnForwardFailure yes", "\tSessionType none"},
		},
		{
			name:        "host without user, IPv6 listen, single port",
			spec:        Spec{Listen: "[::1]:2121", PassiveFirst: 22000, PassiveLast: 22000, Host: "ftp.example.com", LocalPort: 2222},
			want:        []string{"Host ftp.example.com", "\tLocalForward 2222 [::1]:2121", "\tLocalForward 22000 [::1]:22000", "\tExitOnForwardFailure yes"},
			mustNotHave: "\tUser ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SSHConfig(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			assertLinesInOrder(t, got, tt.want)
			if tt.mustNotHave != "" && strings.Contains(got, tt.mustNotHave) {
				t.Errorf("output has %q:\n%s", tt.mustNotHave, got)
			}
			if n := strings.Count(got, "LocalForward"); n != 2+tt.spec.PassiveLast-tt.spec.PassiveFirst {
				t.Errorf("%d LocalForward lines, want one for control and one per passive port:\n%s", n, got)
			}
		})
	}
}

func TestSSHDMatch(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{
			name: "user@host",
			spec: Spec{Listen: "127.0.0.1:2121", PassiveFirst: 22000, PassiveLast: 22002, Host: "alice@ftp.example.com"},
			want: []string{"Match User alice", "\tAllowTcpForwarding local",
				"\tPermitOpen 127.0.0.1:2121 127.0.0.1:22000 127.0.0.1:22001 127.0.0.1:22002",
				"\tAllowStreamLocalForwarding no", "\tGatewayPorts no", "\tPermitTTY no", "\tX11Forwarding no",
				"\tAllowAgentForwarding no", "\tPermitTunnel no", "\tForceCommand /usr/sbin/nologin", "Match all"},
		},
		{
			name: "host without user gets the placeholder and a note",
			spec: Spec{Listen: "0.0.0.0:21", PassiveFirst: 22000, PassiveLast: 22000, Host: "ftp.example.com"},
			want: []string{"# EDIT: \"ftpuser\" is a placeholder", "Match User ftpuser", "\tPermitOpen 127.0.0.1:21 127.0.0.1:22000"},
		},
		{
			name: "IPv6 listen; the local port does not matter to sshd",
			spec: Spec{Listen: "[::1]:2121", PassiveFirst: 22000, PassiveLast: 22000, Host: "bob@h", LocalPort: 3000},
			want: []string{"Match User bob", "\tPermitOpen [::1]:2121 [::1]:22000"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SSHDMatch(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			assertLinesInOrder(t, got, tt.want)
			if strings.Count(got, "\n\tPermitOpen ") != 1 || strings.Count(got, "\nMatch ") != 2 {
				t.Errorf("want one PermitOpen line and two Match lines:\n%s", got)
			}
			if !strings.HasSuffix(got, "\nMatch all\n") {
				t.Errorf("the block must end with \"Match all\":\n%s", got)
			}
		})
	}
}

func TestPutty(t *testing.T) {
	got, err := Putty(Spec{Listen: "127.0.0.1:2121", PassiveFirst: 22000, PassiveLast: 22001, Host: "alice@ftp.example.com", LocalPort: 2222})
	if err != nil {
		t.Fatal(err)
	}
	assertLinesInOrder(t, got, []string{
		"plink -N -L 2222:127.0.0.1:2121 -L 22000:127.0.0.1:22000 -L 22001:127.0.0.1:22001 alice@ftp.example.com",
		"#   Session: Host Name ftp.example.com, port 22",
		"#   Connection > Data: Auto-login username alice",
		"#   Connection > SSH: tick \"Don't start a shell or command at all\"",
		"#     Source port 2222, Destination 127.0.0.1:2121, Local, Add",
		"#     Source port 22000, Destination 127.0.0.1:22000, Local, Add",
		"#     Source port 22001, Destination 127.0.0.1:22001, Local, Add",
	})
	noUser, err := Putty(Spec{Listen: "127.0.0.1:2121", PassiveFirst: 22000, PassiveLast: 22000, Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(noUser, "plink -N -L 2121:127.0.0.1:2121 -L 22000:127.0.0.1:22000 h\n") || strings.Contains(noUser, "Auto-login") {
		t.Errorf("without a user:\n%s", noUser)
	}
}

func TestTarget(t *testing.T) {
	tests := []struct {
		listen   string
		wantHost string
		wantPort int
	}{
		{"127.0.0.1:2121", "127.0.0.1", 2121},
		{"10.1.2.3:21", "10.1.2.3", 21},
		{"0.0.0.0:2121", "127.0.0.1", 2121},
		{"[::]:2121", "127.0.0.1", 2121},
		{":2121", "127.0.0.1", 2121},
		{"[::1]:2121", "[::1]", 2121},
		{"[2001:DB8::1]:2121", "[2001:db8::1]", 2121},
	}
	for _, tt := range tests {
		host, port, err := Target(tt.listen)
		if err != nil || host != tt.wantHost || port != tt.wantPort {
			t.Errorf("Target(%q) = %q, %d, %v; want %q, %d", tt.listen, host, port, err, tt.wantHost, tt.wantPort)
		}
	}
}

// assertLinesInOrder checks that each of want starts a line of got, in order.
func assertLinesInOrder(t *testing.T, got string, want []string) {
	t.Helper()
	lines := strings.Split(got, "\n")
	i := 0
	for _, w := range want {
		for i < len(lines) && !strings.HasPrefix(lines[i], w) {
			i++
		}
		if i == len(lines) {
			t.Errorf("line %q missing or out of order in:\n%s", w, got)
			return
		}
		i++
	}
}
