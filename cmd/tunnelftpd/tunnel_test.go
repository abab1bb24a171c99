package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/auth"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// writeTunnelConfig writes a valid config listening on listen with the
// given passive ports and returns its path.
func writeTunnelConfig(t *testing.T, listen, ports string) string {
	t.Helper()
	dir := t.TempDir()
	hash, err := auth.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	cfg := "listen = \"" + listen + "\"\n[passive]\nports = \"" + ports + "\"\n" +
		"[[users]]\nname = \"u\"\npassword = \"" + hash + "\"\nroot = \"" + dir + "\"\n"
	path := filepath.Join(dir, "tunnelftpd.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCmdTunnel(t *testing.T) {
	cfg := writeTunnelConfig(t, "127.0.0.1:2121", "30000-30001")
	lowPort := writeTunnelConfig(t, "0.0.0.0:21", "30000")
	broken := filepath.Join(t.TempDir(), "broken.toml")
	if err := os.WriteFile(broken, []byte("listen = \"127.0.0.1:2121\"\nlisen = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string // exact stdout, when not ""
		wantOutHas []string
		wantErrHas string
	}{
		{
			name:    "ssh is the default format",
			args:    []string{"-c", cfg, "--host", "alice@ftp.example.com"},
			wantOut: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 30000:127.0.0.1:30000 -L 30001:127.0.0.1:30001 alice@ftp.example.com\n",
		},
		{
			name:    "local port",
			args:    []string{"-c", cfg, "--host", "ftp.example.com", "--local-port", "4021"},
			wantOut: "ssh -N -o ExitOnForwardFailure=yes -L 4021:127.0.0.1:2121 -L 30000:127.0.0.1:30000 -L 30001:127.0.0.1:30001 ftp.example.com\n",
		},
		{
			name:    "privileged control port, wildcard listen",
			args:    []string{"-c", lowPort, "--host", "h"},
			wantOut: "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:21 -L 30000:127.0.0.1:30000 h\n",
		},
		{
			name:       "ssh-config",
			args:       []string{"-c", cfg, "--host", "alice@ftp.example.com", "--format", "ssh-config"},
			wantOutHas: []string{"Host ftp.example.com\n", "\tUser alice\n", "\tLocalForward 30001 127.0.0.1:30001\n"},
		},
		{
			name:       "sshd-match",
			args:       []string{"-c", cfg, "--host", "alice@ftp.example.com", "--format=sshd-match"},
			wantOutHas: []string{"Match User alice\n", "\tPermitOpen 127.0.0.1:2121 127.0.0.1:30000 127.0.0.1:30001\n"},
		},
		{
			name:       "putty",
			args:       []string{"-c", cfg, "--host", "alice@ftp.example.com", "-format", "putty"},
			wantOutHas: []string{"plink -N -L 2121:127.0.0.1:2121 -L 30000:127.0.0.1:30000 -L 30001:127.0.0.1:30001 alice@ftp.example.com\n"},
		},
		{name: "missing --host", args: []string{"-c", cfg}, wantCode: 2, wantErrHas: "--host is required"},
		{name: "bad format", args: []string{"-c", cfg, "--host", "h", "--format", "scp"}, wantCode: 2, wantErrHas: `unknown --format "scp"`},
		{name: "local port 0", args: []string{"-c", cfg, "--host", "h", "--local-port", "0"}, wantCode: 2, wantErrHas: "--local-port 0 must be a port"},
		{name: "local port too big", args: []string{"-c", cfg, "--host", "h", "--local-port", "65536"}, wantCode: 2, wantErrHas: "--local-port 65536"},
		{name: "local port not a number", args: []string{"-c", cfg, "--host", "h", "--local-port", "x"}, wantCode: 2, wantErrHas: "invalid value"},
		{name: "local port in passive range", args: []string{"-c", cfg, "--host", "h", "--local-port", "30001"}, wantCode: 2, wantErrHas: "one of the passive ports"},
		{name: "option-like host", args: []string{"-c", cfg, "--host", "-oProxyCommand=x"}, wantCode: 2, wantErrHas: "must not start with"},
		{name: "stray argument", args: []string{"-c", cfg, "--host", "h", "extra"}, wantCode: 2, wantErrHas: `unexpected argument "extra"`},
		{name: "config error", args: []string{"-c", broken, "--host", "h"}, wantCode: 1, wantErrHas: broken + ":2: lisen: unknown key"},
		{name: "missing explicit config", args: []string{"-c", filepath.Join(t.TempDir(), "none.toml"), "--host", "h"}, wantCode: 1, wantErrHas: "reading config"},
		{name: "help", args: []string{"-h"}, wantCode: 0, wantOutHas: []string{"sshd-match", "-local-port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cmdTunnel(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if tt.wantOut != "" && stdout.String() != tt.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), tt.wantOut)
			}
			for _, s := range tt.wantOutHas {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tt.wantErrHas) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErrHas, stderr.String())
			}
			if code != 0 && stdout.Len() > 0 {
				t.Errorf("a failure printed to stdout: %q", stdout.String())
			}
		})
	}
}

// Without -c and without the default file, tunnel works from the built-in
// defaults and creates nothing (unlike serve's demo config).
func TestCmdTunnelBuiltinDefaults(t *testing.T) {
	if _, err := os.Stat(config.DefaultConfigPath); !errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s exists on this machine", config.DefaultConfigPath)
	}
	t.Chdir(t.TempDir())
	var stdout, stderr bytes.Buffer
	if code := cmdTunnel([]string{"--host", "h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	want := "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 22000:127.0.0.1:22000 -L 22001:127.0.0.1:22001 -L 22002:127.0.0.1:22002 -L 22003:127.0.0.1:22003 -L 22004:127.0.0.1:22004 h\n"
	if stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "built-in defaults") {
		t.Errorf("stderr does not say the defaults are used:\n%s", stderr.String())
	}
	if entries, _ := os.ReadDir("."); len(entries) > 0 {
		t.Errorf("tunnel created %s in the working directory", entries[0].Name())
	}
}

// serve's demo banner prints the same command as tunnel.
func TestServeSSHCommandIsTunnels(t *testing.T) {
	cfg := config.Default()
	got := sshCommand(cfg, "you@this-server", 2121)
	want := "ssh -N -o ExitOnForwardFailure=yes -L 2121:127.0.0.1:2121 -L 22000:127.0.0.1:22000 -L 22001:127.0.0.1:22001 -L 22002:127.0.0.1:22002 -L 22003:127.0.0.1:22003 -L 22004:127.0.0.1:22004 you@this-server"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
