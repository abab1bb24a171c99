package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tunnelftpd/tunnelftpd/ident"
)

// cmdIdentHelper runs the identity helper (tunnelftpd-ident.service): it
// answers the unprivileged daemon's "who is at the other end of this
// connection" on a Unix socket, until SIGTERM or SIGINT.
func cmdIdentHelper(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("ident-helper", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", ident.HelperSocket, "socket to listen on when systemd passes none")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tunnelftpd ident-helper: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	l, err := ident.HelperListener(*socket)
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd ident-helper:", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		l.Close()
	}()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	if err := ident.Serve(l, logf); err != nil {
		fmt.Fprintln(stderr, "tunnelftpd ident-helper:", err)
		return 1
	}
	return 0
}
