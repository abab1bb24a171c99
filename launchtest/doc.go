// Package launchtest holds the end-to-end tests of tunnelftpd's launch modes
// (standalone, inetd nowait and wait, systemd Accept=yes and Accept=no),
// signals (SIGHUP reload, SIGTERM drain), sd_notify and the shipped unit
// files. The tests build the real binary and start it the way inetd and
// systemd do, with systemd-socket-activate. The package has no code of its
// own.
package launchtest
