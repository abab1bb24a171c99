package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tunnelftpd/tunnelftpd/shutdownfile"
)

const shutdownUsage = `Usage: tunnelftpd shutdown [-c FILE] [-l MIN] [-d MIN] WHEN [MESSAGE...]
       tunnelftpd shutdown [-c FILE] --cancel

Announces a planned shutdown to every running daemon (ftpshut), by writing the
shutdown file of the config (shutdown_file) in wu-ftpd's format. No signal is
needed: daemons look at the file every few seconds. From WHEN minus -l minutes
on, new connections are refused with the message; logged-in sessions see the
message in their replies, and from WHEN minus -d minutes on they are closed
once their running transfer has ended. The file stays until --cancel removes
it (ftprestart); the daemons keep running, so stop them at WHEN yourself
(systemctl stop tunnelftpd) if that is the plan.

WHEN is "now", "+MIN" (minutes from now) or "HHMM" (today, 24-hour clock).
MESSAGE is the text shown to users (default "System shutdown at %s"); it is
wrapped at 70 columns as ftpshut does. Its cookies: %s the shutdown time, %r
the time new connections are refused, %d the time sessions are closed, %T the
local time, %L the host name, %U the user, %R the client address, %C the
working directory, %% a percent sign. Put -- before a message that starts
with "-".

Flags:
`

// readShutdown reads the shutdown file at path; nil when there is none.
func readShutdown(path string) (*shutdownfile.File, error) {
	f, err := shutdownfile.Read(path, time.Local)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return f, err
}

// splitInterspersed parses args with flags before, between and after the positional arguments
// (ftpshut +2 -l 1 -d 1 "message" works as given); "--" ends the flags.
func splitInterspersed(parse func([]string) ([]string, error), args []string) ([]string, error) {
	var pos []string
	rest := args
	for len(rest) > 0 {
		before := rest
		var err error
		if rest, err = parse(rest); err != nil {
			return nil, err
		}
		consumed := before[:len(before)-len(rest)]
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	return pos, nil
}

func cmdShutdown(args []string, stdout, stderr io.Writer) int {
	sc, path := adminCommand("shutdown", shutdownUsage, stdout, stderr)
	deny := sc.Int("l", int(shutdownfile.DefaultDeny/time.Minute), "minutes before WHEN from which new connections are refused")
	disc := sc.Int("d", int(shutdownfile.DefaultDisconnect/time.Minute), "minutes before WHEN from which sessions are closed")
	cancel := sc.Bool("cancel", false, "remove the shutdown file")
	var pos []string
	var perr error
	pos, perr = splitInterspersed(func(a []string) ([]string, error) {
		err := sc.Parse(a)
		return sc.Args(), err
	}, args)
	switch {
	case errors.Is(perr, flag.ErrHelp):
		sc.printUsage(stdout)
		return exitOK
	case perr != nil:
		return sc.usageError("%v", perr)
	}
	cfg, err := adminConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	file := cfg.ShutdownPath()
	if *cancel {
		if len(pos) > 0 || isSet(sc.FlagSet, "l") || isSet(sc.FlagSet, "d") {
			return sc.usageError("--cancel takes no WHEN, MESSAGE, -l or -d")
		}
		switch err := os.Remove(file); {
		case errors.Is(err, os.ErrNotExist):
			fmt.Fprintf(stdout, "tunnelftpd shutdown: no shutdown planned (%s does not exist)\n", file)
		case err != nil:
			fmt.Fprintln(stderr, "tunnelftpd shutdown --cancel:", err)
			return 1
		default:
			fmt.Fprintf(stdout, "tunnelftpd shutdown: %s removed; logins are accepted again.\n", file)
		}
		return 0
	}
	if len(pos) == 0 {
		return sc.usageError("WHEN is missing: now, +MINUTES or HHMM")
	}
	if *deny < 0 || *disc < 0 || *deny > 99*60 || *disc > 99*60 {
		return sc.usageError("-l and -d are minutes from 0 to %d", 99*60)
	}
	now := clock()
	at, err := shutdownfile.ParseWhen(pos[0], now)
	if err != nil {
		return sc.usageError("WHEN %v", err)
	}
	msg := strings.Join(pos[1:], " ")
	if msg == "" {
		msg = shutdownfile.DefaultMessage
	}
	f := &shutdownfile.File{At: at.Truncate(time.Minute), Deny: time.Duration(*deny) * time.Minute,
		Disconnect: time.Duration(*disc) * time.Minute, Message: shutdownfile.Wrap(msg)}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		fmt.Fprintln(stderr, "tunnelftpd shutdown:", err)
		return 1
	}
	if err := shutdownfile.Write(file, f); err != nil {
		fmt.Fprintln(stderr, "tunnelftpd shutdown:", err)
		return 1
	}
	show := func(t time.Time) string {
		s := shutdownfile.CTime(t)
		if !t.After(now) {
			s += " (already passed)"
		}
		return s
	}
	fmt.Fprintf(stdout, "tunnelftpd shutdown: wrote %s\n  shutdown at             %s\n  new connections refused %s\n  sessions closed         %s\n",
		file, shutdownfile.CTime(f.At), show(f.DenyAt()), show(f.DisconnectAt()))
	return 0
}
