// Package bench measures tunnelftpd against vsftpd, ProFTPD and Pure-FTPd and
// against the machine's own limits (issue 7). It holds the load generator's
// pieces: a small FTP client that keeps transfers zero-copy on the client side
// (sendfile for STOR, splice for RETR) and reports failures by reply code, the
// raw-TCP limit helpers, the phases, the process-memory probe and the report.
//
// bench/run sets the servers up (unpacked Debian packages, throwaway user,
// sshd tunnel) and drives cmd/ftpbench, which calls this package. Nothing here
// is imported by the daemon, and nothing here changes the daemon: profiling
// builds live in cmd/tunnelftpd-pprof.
package bench
