// Package launchtest holds the tests that need the built tunnelftpd binary
// in a process of its own, started the way it is deployed:
//
//   - the launch modes (standalone, inetd nowait and wait, systemd
//     Accept=yes and Accept=no, driven with systemd-socket-activate; the
//     shipped inetd.conf line and xinetd service under the real
//     super-servers) and the shipped unit and tmpfiles files;
//   - signals (SIGHUP reload, SIGTERM drain) in every mode and during 50
//     running transfers, and sd_notify;
//   - system users through the host's PAM, and the privilege drops;
//   - running out of file descriptors, and a client that vanishes without
//     a FIN (in network namespaces the test creates).
//
// TestMain builds cmd/tunnelftpd once per run; testutil.Daemon is the
// fixture (config file, user root, logs, xferlog) and testutil.Process the
// started process. The in-process parts of the reliability suite (hostile
// input, protocol abuse, fuzzing, faults, the soak) are in package server,
// the SSH tunnel end to end in e2e; SECURITY.md maps each attack to its
// test. The package has no code of its own, and sees the daemon only from
// the outside: its command line, config file, log lines and FTP replies.
package launchtest
