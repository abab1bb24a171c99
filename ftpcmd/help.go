package ftpcmd

import (
	"os"
	"strings"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

// fsMode keeps the permission bits of a SITE CHMOD mode.
func fsMode(m uint64) os.FileMode { return os.FileMode(m) & os.ModePerm }

// commands is HELP's table: each command served and its syntax.
var commands = []struct{ name, syntax string }{
	{"ABOR", "ABOR (abort the running transfer)"},
	{"ALLO", "ALLO <size> (no allocation needed)"},
	{"APPE", "APPE <file> (append to a file)"},
	{"CDUP", "CDUP (go to the parent directory)"},
	{"CWD", "CWD <directory>"},
	{"DELE", "DELE <file>"},
	{"EPRT", "EPRT |1|<address>|<port>| (active mode)"},
	{"EPSV", "EPSV [1|ALL] (extended passive mode)"},
	{"FEAT", "FEAT (list extensions)"},
	{"HELP", "HELP [<command>]"},
	{"LIST", "LIST [<path or wildcard>] (ls -l listing)"},
	{"MDTM", "MDTM <file> (modification time)"},
	{"MFMT", "MFMT <YYYYMMDDHHMMSS> <file> (set modification time)"},
	{"MKD", "MKD <directory>"},
	{"MLSD", "MLSD [<directory>] (machine listing)"},
	{"MLST", "MLST [<path>] (machine facts of one entry)"},
	{"MODE", "MODE S (stream mode only)"},
	{"NLST", "NLST [<path or wildcard>] (names)"},
	{"NOOP", "NOOP"},
	{"OPTS", "OPTS UTF8 ON | OPTS MLST <fact>;..."},
	{"PASS", "PASS <password>"},
	{"PASV", "PASV (passive mode)"},
	{"PORT", "PORT <h1,h2,h3,h4,p1,p2> (active mode)"},
	{"PWD", "PWD (print the working directory)"},
	{"QUIT", "QUIT"},
	{"REST", "REST <offset> (restart the next RETR or STOR there)"},
	{"RETR", "RETR <file>"},
	{"RMD", "RMD <directory>"},
	{"RNFR", "RNFR <old name>"},
	{"RNTO", "RNTO <new name>"},
	{"SITE", "SITE CHMOD <mode> <name> | SITE HELP"},
	{"SIZE", "SIZE <file>"},
	{"STAT", "STAT [<path>]"},
	{"STOR", "STOR <file>"},
	{"STRU", "STRU F (file structure only)"},
	{"SYST", "SYST"},
	{"TYPE", "TYPE I | TYPE A [N] | TYPE L 8"},
	{"USER", "USER <name>"},
	{"XCUP", "XCUP (as CDUP)"},
	{"XCWD", "XCWD <directory> (as CWD)"},
	{"XMKD", "XMKD <directory> (as MKD)"},
	{"XPWD", "XPWD (as PWD)"},
	{"XRMD", "XRMD <directory> (as RMD)"},
}

// served reports whether the command is offered in this configuration.
func served(name string, cfg Config) bool {
	switch name {
	case "PORT", "EPRT":
		return cfg.ActiveMode
	case "MFMT":
		return cfg.MFMT
	}
	return true
}

// help answers HELP (the commands served, eight to a line) and HELP
// <command> (its syntax), both with 214.
func help(param string, cfg Config) *ftpserver.CommandReply {
	if want := strings.ToUpper(strings.TrimSpace(param)); want != "" {
		for _, c := range commands {
			if c.name == want && served(c.name, cfg) {
				return reply(ftpserver.StatusHelpMessage, "Syntax: "+c.syntax)
			}
		}
		return reply(ftpserver.StatusSyntaxErrorParameters, "Unknown command "+want+"; HELP lists the commands served")
	}
	lines := []string{"The following commands are recognized:"}
	var row []string
	for _, c := range commands {
		if !served(c.name, cfg) {
			continue
		}
		row = append(row, c.name)
		if len(row) == 8 {
			lines = append(lines, " "+strings.Join(row, " "))
			row = nil
		}
	}
	if len(row) > 0 {
		lines = append(lines, " "+strings.Join(row, " "))
	}
	return reply(ftpserver.StatusHelpMessage, append(lines, "Help OK")...)
}
