module github.com/tunnelftpd/tunnelftpd

go 1.26.0

// No Multipath TCP on listening sockets (Go's default since 1.24): FTP
// clients do not speak it, and every connection to such a listener pays for
// the MPTCP socket and its fallback path (about 10% of a small-file
// transfer's time, bench/README.md).
godebug multipathtcp=0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/fclairamb/ftpserverlib v0.32.3
	github.com/jlaffaye/ftp v0.2.4
	github.com/spf13/afero v1.15.0
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

require golang.org/x/text v0.44.0 // indirect
