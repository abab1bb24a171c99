package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/tunnelftpd/tunnelftpd/registry"
)

const whoUsage = `Usage: tunnelftpd who [-c FILE] [--json]

Lists the sessions running now, in every process of the daemon (ftpwho):
  PID       the process serving the session
  SESSION   its id in that process's log lines (session=N)
  USER      the login name ("-" before login), KIND virtual, anonymous or system
  SSH_USER  the SSH user owning the tunnel, CLIENT the SSH client's address
            (else the TCP peer), CLASS the session class
  LOGIN     when the login succeeded (or the connection came, before login)
  IDLE      time since the last command
  COMMAND   the last command (a PASS argument never), PATH the working directory
  BYTES     bytes moved by the session so far, RATE the running transfer's speed

The sessions are read from the registry directory of the config (registry_dir);
a session whose process has ended, even killed, is never listed.

Flags:
`

// whoSession is one session as `who --json` prints it.
type whoSession struct {
	PID       int                `json:"pid"`
	Session   uint64             `json:"session"`
	User      string             `json:"user"`
	Kind      string             `json:"kind"`
	SSHUser   string             `json:"ssh_user"`
	Client    string             `json:"client"`
	Class     string             `json:"class"`
	Connected time.Time          `json:"connected"`
	Login     *time.Time         `json:"login"`
	Idle      float64            `json:"idle_seconds"`
	Command   string             `json:"command"`
	Path      string             `json:"path"`
	Bytes     int64              `json:"bytes"`
	Rate      float64            `json:"rate"`
	Transfer  *registry.Transfer `json:"transfer"`
	PasvPort  int                `json:"pasv_port"`
}

func newWhoSession(e registry.Entry, now time.Time) whoSession {
	w := whoSession{PID: e.PID, Session: e.Session, User: e.User, Kind: e.Kind, SSHUser: e.SSHUser,
		Client: e.Client, Class: e.Class, Connected: e.Connected, Command: e.Command, Path: e.Path,
		Bytes: e.Bytes, Transfer: e.Transfer, PasvPort: e.PasvPort}
	if !e.Login.IsZero() {
		login := e.Login
		w.Login = &login
	}
	if !e.Active.IsZero() {
		w.Idle = math.Round(max(now.Sub(e.Active).Seconds(), 0)*10) / 10
	}
	if e.Transfer != nil {
		w.Bytes += e.Transfer.Bytes
		w.Rate = math.Round(e.Transfer.Rate())
	}
	return w
}

func cmdWho(args []string, stdout, stderr io.Writer) int {
	sc, path := adminCommand("who", whoUsage, stdout, stderr)
	asJSON := sc.Bool("json", false, "print one JSON array of the sessions instead of the table")
	_, entries, code, done := adminEntries(sc, path, args)
	if done {
		return code
	}
	now := clock()
	sessions := make([]whoSession, 0, len(entries))
	for _, e := range entries {
		sessions = append(sessions, newWhoSession(e, now))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sessions); err != nil {
			fmt.Fprintln(stderr, "tunnelftpd who:", err)
			return 1
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tSESSION\tUSER\tKIND\tSSH_USER\tCLIENT\tCLASS\tLOGIN\tIDLE\tCOMMAND\tPATH\tBYTES\tRATE")
	for _, s := range sessions {
		login := s.Connected
		if s.Login != nil {
			login = *s.Login
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.PID, s.Session,
			dash(s.User), dash(s.Kind), dash(s.SSHUser), dash(s.Client), dash(s.Class),
			clockTime(login, now), idle(time.Duration(s.Idle*float64(time.Second))), dash(s.Command),
			dash(s.Path), size(s.Bytes), rate(s.Transfer))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d session%s\n", len(sessions), plural(len(sessions)))
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// clockTime is t as w(1) shows a login: the time of day today, else the date.
func clockTime(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	t = t.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("Jan02")
}

// idle is a duration as w(1)'s IDLE column: seconds, then minutes:seconds, then hours:minutes.
func idle(d time.Duration) string {
	s := int(d / time.Second)
	switch {
	case s < 60:
		return strconv.Itoa(s) + "s"
	case s < 3600:
		return fmt.Sprintf("%d:%02d", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02d", s/3600, s%3600/60)
}

// size is a byte count with a binary unit.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10)
	}
	f, u := float64(n), ""
	for _, u = range []string{"K", "M", "G", "T", "P"} {
		f /= unit
		if f < unit {
			break
		}
	}
	return fmt.Sprintf("%.1f%s", f, u)
}

func rate(t *registry.Transfer) string {
	if t == nil {
		return "-"
	}
	return size(int64(t.Rate())) + "/s"
}
