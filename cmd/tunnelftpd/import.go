package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/tunnelftpd/tunnelftpd/importer/wuftpd"
)

const importUsage = `tunnelftpd import wu-ftpd: turn a wu-ftpd setup into a tunnelftpd config

Usage:
  tunnelftpd import wu-ftpd --ftpaccess FILE [--ftpusers FILE] [--ftphosts FILE]
                            [--inetd-line LINE | --xinetd FILE] [-o OUT]

Reads wu-ftpd's ftpaccess and the files given with it, and writes a tunnelftpd config
(TOML) to standard output, or to OUT, and a report to standard error: one line for
every directive, flag and file entry, as

  FILE:LINE: directive: mapped|note|narrowed|lost: explanation

  mapped    tunnelftpd does the same
  note      nothing to carry over, or nothing changes
  narrowed  tunnelftpd allows less than wu-ftpd did (a refusal more, a feature gone)
  lost      the effect is gone and that may let someone do or see more: read it

Where a rule cannot be written exactly, the importer writes the narrower one and says
so: it never gives anyone more access than wu-ftpd did without a "lost" line.

Options:
  --ftpaccess FILE    wu-ftpd's ftpaccess (/etc/ftpaccess, /etc/ftpd/ftpaccess); required
  --ftpusers FILE     its ftpusers (a listed ftp or anonymous turns anonymous off)
  --ftphosts FILE     its ftphosts (per-user client rules)
  --inetd-line LINE   the inetd.conf line that started in.ftpd, e.g.
                      "ftp stream tcp nowait root /usr/sbin/tcpd in.ftpd -l -a"
  --xinetd FILE       or its xinetd service file (server_args hold the flags)
  -o OUT              write the config to OUT (which must not exist yet)
  -h, --help          print this help

Without --inetd-line or --xinetd, in.ftpd is taken to have run with -a (ftpaccess in
effect) and no other flag; without -a in the launch line wu-ftpd ignored the
ftpaccess, and so does the import. Files the ftpaccess names (limit messages, files
of address globs) are read as well, and so are this host's /etc/passwd and
/etc/group: the ftp account's home is the anonymous root when no anonymous-root line
gives one, the homes tell which upload lines reach which users, the groups who is a
guest. Run the import where wu-ftpd ran. Check the result with: tunnelftpd check -c OUT

Exit status: 0 when the config was written, 1 when an input cannot be read, 2 for
a usage error.
`

// cmdImport runs "tunnelftpd import".
func cmdImport(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, importUsage)
		return 0
	}
	if len(args) == 0 || args[0] != "wu-ftpd" {
		fmt.Fprint(stderr, "tunnelftpd import: say what to import from: tunnelftpd import wu-ftpd ...\n\n"+importUsage)
		return 2
	}
	fs := flag.NewFlagSet("import wu-ftpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	access := fs.String("ftpaccess", "", "")
	users := fs.String("ftpusers", "", "")
	hosts := fs.String("ftphosts", "", "")
	inetd := fs.String("inetd-line", "", "")
	xinetd := fs.String("xinetd", "", "")
	out := fs.String("o", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, importUsage)
			return 0
		}
		fmt.Fprintln(stderr, "tunnelftpd import wu-ftpd: see tunnelftpd import wu-ftpd --help")
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "tunnelftpd import wu-ftpd: %s (see --help)\n", msg)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *access == "":
		return usage("--ftpaccess FILE is required")
	case *inetd != "" && *xinetd != "":
		return usage("give --inetd-line or --xinetd, not both")
	}
	if *out != "" {
		if _, err := os.Lstat(*out); err == nil {
			fmt.Fprintf(stderr, "tunnelftpd import wu-ftpd: %s exists; remove it or write to another file (the import never overwrites a config)\n", *out)
			return 1
		}
	}

	in := wuftpd.Input{InetdLine: *inetd}
	read := func(path string) (*wuftpd.Source, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading %w", err)
		}
		return &wuftpd.Source{Name: path, Data: data}, nil
	}
	var err error
	var src *wuftpd.Source
	if src, err = read(*access); err == nil {
		in.FtpAccess = *src
		if *users != "" {
			in.FtpUsers, err = read(*users)
		}
	}
	if err == nil && *hosts != "" {
		in.FtpHosts, err = read(*hosts)
	}
	if err == nil && *xinetd != "" {
		in.Xinetd, err = read(*xinetd)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd import wu-ftpd:", err)
		return 1
	}
	if u, err := user.Lookup("ftp"); err == nil {
		in.FTPHome = u.HomeDir
	}
	// The accounts tell which upload lines reach whom: wu-ftpd matched them against homes.
	if pw, err := os.ReadFile("/etc/passwd"); err == nil {
		gr, _ := os.ReadFile("/etc/group")
		in.Accounts = wuftpd.ParseAccounts(pw, gr)
	}
	in.ReadFile = os.ReadFile

	res, err := wuftpd.Import(in)
	if err != nil {
		fmt.Fprintln(stderr, "tunnelftpd import wu-ftpd:", err)
		return 1
	}
	for _, f := range res.Report {
		fmt.Fprintln(stderr, f)
	}
	n := res.Counts()
	dest := "standard output"
	if *out != "" {
		dest = *out
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil {
			_, err = io.WriteString(f, res.TOML)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "tunnelftpd import wu-ftpd: writing the config:", err)
			return 1
		}
	} else {
		fmt.Fprint(stdout, res.TOML)
	}
	fmt.Fprintf(stderr, "tunnelftpd import wu-ftpd: config written to %s: %d mapped, %d narrowed, %d lost, %d notes; read every narrowed and lost line, then run tunnelftpd check\n",
		dest, n[wuftpd.Mapped], n[wuftpd.Narrowed], n[wuftpd.Lost], n[wuftpd.Note])
	return 0
}
