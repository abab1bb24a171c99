package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tunnelftpd/tunnelftpd/ident"
)

const identHelperUsage = `Usage: tunnelftpd ident [--socket PATH]

Answer the daemon's "who is at the other end of this loopback connection"
(the sshd session, the SSH user, the SSH client's address), which the
unprivileged daemon cannot see itself. It needs CAP_DAC_READ_SEARCH and
CAP_SYS_PTRACE (or root); the shipped tunnelftpd-ident.socket and
tunnelftpd-ident.service start it with only those. It listens on the socket
systemd passes, or on --socket, until SIGTERM or SIGINT. See SECURITY.md.

`

// cmdIdent runs the identity helper (tunnelftpd-ident.service).
func cmdIdent(args []string, stdout, stderr io.Writer) int {
	sc := newSubcommand("ident", identHelperUsage, stdout, stderr)
	socket := sc.String("socket", ident.HelperSocket, "socket to listen on when systemd passes none")
	if code, done := sc.parse(args); done {
		return code
	}
	if sc.NArg() > 0 {
		return sc.usageError("unexpected argument %q", sc.Arg(0))
	}
	l, err := ident.HelperListener(*socket)
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd ident:", err)
		return exitFailure
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		l.Close()
	}()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	if err := ident.Serve(l, logf); err != nil {
		fmt.Fprintln(stderr, "tunnelftpd ident:", err)
		return exitFailure
	}
	return exitOK
}
