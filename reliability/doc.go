// Package reliability holds the tests of issue 6 that need the real daemon
// in a process of its own: signals (SIGHUP, SIGTERM) during 50 running
// transfers, running out of file descriptors, and a client that vanishes
// without a FIN (in network namespaces). The tests build
// cmd/tunnelftpd once per run. The in-process parts of the suite (hostile
// input, protocol abuse, fuzzing, faults, the soak) are in package server;
// SECURITY.md maps each attack to its test. The package has no code of its
// own.
package reliability
