package main

import (
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/tunnelftpd/tunnelftpd/importer/wuftpd"
)

const importUsage = `Usage: tunnelftpd import wu-ftpd --ftpaccess FILE [--ftpusers FILE] [--ftphosts FILE]
                            [--inetd-line LINE | --xinetd FILE] [-o OUT]

Turns a wu-ftpd setup into a tunnelftpd config. Reads wu-ftpd's ftpaccess and
the files given with it, writes a tunnelftpd config (TOML) to standard output,
or to OUT, and a report to standard error with one line for every directive,
flag and file entry:

  FILE:LINE: directive: mapped|note|narrowed|lost: explanation

  mapped    tunnelftpd does the same
  note      nothing to carry over, or nothing changes
  narrowed  tunnelftpd allows less than wu-ftpd did (a refusal more, a feature gone)
  lost      the effect is gone and that may let someone do or see more: read it

Where a rule cannot be written exactly, the importer writes the narrower one and
says so: it never gives anyone more access than wu-ftpd did without a "lost" line.

Without --inetd-line or --xinetd, in.ftpd is taken to have run with -a
(ftpaccess in effect) and no other flag; when the launch line lacks -a, wu-ftpd
ignored the ftpaccess, and so does the import. Files the ftpaccess names (limit
messages, files of address globs) are read as well, and so are this host's
/etc/passwd and /etc/group: the ftp account's home is the anonymous root when no
anonymous-root line gives one, the homes tell which upload lines reach which
users, the groups who is a guest. Run the import where wu-ftpd ran, then check
the result with: tunnelftpd check -c OUT

Exit codes: 0 the config was written, 1 an input cannot be read or OUT exists,
2 bad command line.

Flags:
`

// importHost is where the import reads the host's accounts; tests point it at a setup's own
// passwd and group, as on the host where that wu-ftpd ran.
var importHost = struct {
	passwd, group string
	lookup        func(name string) (*user.User, error)
}{"/etc/passwd", "/etc/group", user.Lookup}

// cmdImport runs "tunnelftpd import wu-ftpd".
func cmdImport(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help") {
		args = []string{"wu-ftpd", "-h"}
	}
	if len(args) == 0 || args[0] != "wu-ftpd" {
		fmt.Fprintln(stderr, "tunnelftpd import: name what to import from: tunnelftpd import wu-ftpd --ftpaccess FILE ...")
		fmt.Fprintln(stderr, "Run 'tunnelftpd import wu-ftpd -h' for usage.")
		return exitUsage
	}
	sc := newSubcommand("import wu-ftpd", importUsage, stdout, stderr)
	fs := sc.FlagSet
	access := fs.String("ftpaccess", "", "wu-ftpd's ftpaccess (/etc/ftpaccess, /etc/ftpd/ftpaccess); required")
	users := fs.String("ftpusers", "", "its ftpusers (a listed ftp or anonymous turns anonymous off)")
	hosts := fs.String("ftphosts", "", "its ftphosts (per-user client rules)")
	inetd := fs.String("inetd-line", "", "the inetd.conf line that started in.ftpd, e.g. \"ftp stream tcp nowait root /usr/sbin/tcpd in.ftpd -l -a\"")
	xinetd := fs.String("xinetd", "", "or its xinetd service file (server_args hold the flags)")
	out := fs.String("o", "", "write the config to `OUT`, which must not exist yet (default: standard output)")
	if code, done := sc.parse(args[1:]); done {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return sc.usageError("unexpected argument %q", fs.Arg(0))
	case *access == "":
		return sc.usageError("--ftpaccess FILE is required")
	case *inetd != "" && *xinetd != "":
		return sc.usageError("give --inetd-line or --xinetd, not both")
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "tunnelftpd import wu-ftpd: "+format+"\n", a...)
		return exitFailure
	}
	if *out != "" {
		if _, err := os.Lstat(*out); err == nil {
			return fail("%s exists; remove it or write to another file (the import never overwrites a config)", *out)
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
		return fail("%v", err)
	}
	if u, err := importHost.lookup("ftp"); err == nil {
		in.FTPHome = u.HomeDir
	}
	// The accounts tell which upload lines reach whom: wu-ftpd matched them against homes.
	if pw, err := os.ReadFile(importHost.passwd); err == nil {
		gr, _ := os.ReadFile(importHost.group)
		in.Accounts = wuftpd.ParseAccounts(pw, gr)
	}
	in.ReadFile = readShown

	res, err := wuftpd.Import(in)
	if err != nil {
		return fail("%v", err)
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
			return fail("writing the config: %v", err)
		}
	} else {
		fmt.Fprint(stdout, res.TOML)
	}
	fmt.Fprintf(stderr, "tunnelftpd import wu-ftpd: config written to %s: %d mapped, %d narrowed, %d lost, %d notes; read every narrowed and lost line, then run tunnelftpd check\n",
		dest, n[wuftpd.Mapped], n[wuftpd.Narrowed], n[wuftpd.Lost], n[wuftpd.Note])
	return exitOK
}

// readShown reads a file the ftpaccess names (a limit message, a file of address globs) for the
// config: only a regular file of at most 64 KiB that everyone may read, as wu-ftpd's message
// files are (it showed them to anonymous users). A file that is not world-readable may hold a
// secret, and its text would land in the config: it is not read, and the report says so.
func readShown(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case st.Mode().Perm()&0o004 == 0:
		return nil, fmt.Errorf("%s is not world-readable, so its text is not copied into the config", path)
	case st.Size() > 64<<10:
		return nil, fmt.Errorf("%s is larger than 64 KiB", path)
	}
	return io.ReadAll(io.LimitReader(f, 64<<10))
}
