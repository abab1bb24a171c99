package main

import (
	"fmt"
	"io"

	"github.com/tunnelftpd/tunnelftpd/server/daemon"
)

const countUsage = `Usage: tunnelftpd count [-c FILE]

Counts the sessions running now, in every process of the daemon (ftpcount): one
line per session class of the config, in its order, with the class's
max_sessions, then the sessions in no class and those not logged in yet, the
total, and the passive ports listening for a data connection now:

  Service class partner              -   3 users (  8 maximum)
  Service class (no class)           -   1 users (no maximum)
  Service class (not logged in)      -   1 users (no maximum)
  Total                              -   5 users
  Passive ports 22000-22004: 1 of 5 busy

The sessions are read from the registry directory of the config (registry_dir);
a session whose process has ended, even killed, is never counted.

Flags:
`

func cmdCount(args []string, stdout, stderr io.Writer) int {
	sc, path := adminCommand("count", countUsage, stdout, stderr)
	cfg, entries, code, done := adminEntries(sc, path, args)
	if done {
		return code
	}
	perClass := map[string]int{}
	noClass, notLoggedIn, busy := 0, 0, 0
	for _, e := range entries {
		switch {
		case e.Login.IsZero():
			notLoggedIn++
		case e.Class == "":
			noClass++
		default:
			perClass[e.Class]++
		}
		if e.PasvPort != 0 {
			busy++
		}
	}
	line := func(name string, n int, max int) {
		limit := "(no maximum)"
		if max > 0 {
			limit = fmt.Sprintf("(%3d maximum)", max)
		}
		fmt.Fprintf(stdout, "Service class %-20.20s - %3d users %s\n", name, n, limit)
	}
	for _, c := range daemon.MetricsClasses(cfg) {
		line(c.Name, perClass[c.Name], c.MaxSessions)
		delete(perClass, c.Name)
	}
	for name, n := range perClass { // classes of sessions started under another config
		line(name+" (gone)", n, 0)
	}
	line("(no class)", noClass, 0)
	line("(not logged in)", notLoggedIn, 0)
	fmt.Fprintf(stdout, "%-34s - %3d users\n", "Total", len(entries))
	ports := cfg.Passive.Last - cfg.Passive.First + 1
	fmt.Fprintf(stdout, "Passive ports %s: %d of %d busy\n", cfg.Passive.Ports, busy, ports)
	return 0
}
