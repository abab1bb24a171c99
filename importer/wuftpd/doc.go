// Package wuftpd turns a wu-ftpd 2.6/2.8 setup (ftpaccess, ftpusers, ftphosts, the inetd line
// or xinetd service of in.ftpd, and the host's accounts) into a tunnelftpd config, with a report
// line for every directive, flag and file entry: "FILE:LINE: directive: status: explanation".
// It is what `tunnelftpd import wu-ftpd` runs.
//
// The package owns the reading of wu-ftpd's files as wu-ftpd 2.6.2 read them (parseacl's
// comments and case, hostmatch's sscanf address forms, getopt, checkuser's ftpusers, rhost_ok's
// ftphosts, strtoul's defumask), a model of wu-ftpd's per-path decisions (upload best match,
// noretrieve/allow-retrieve, path-filter, delete/rename/overwrite per kind), and the writing of
// the TOML: today's keys, issue 14's access policy (umask, banner_file, [messages], [[rules]],
// [[classes]]) and issue 15's shutdown_file, log.commands and log.wtmp.
//
// The rule it follows: never widen silently. Where tunnelftpd cannot say what wu-ftpd did, the
// importer writes the narrower behaviour and reports "narrowed"; what it cannot keep either way
// is reported "lost" with what to do. The [[rules]] are derived, not translated line by line:
// candidate globs from the directives, each given the verbs wu-ftpd allowed on every sample path
// it covers in every context a rule cannot tell apart (classes, kinds, homes), see rules.go.
//
// It is pure: it reads only the bytes it is given (and files through Options.ReadFile), knows
// nothing of the daemon's config structs or of the access engine, opens no socket and writes
// nothing.
package wuftpd
