// Package testbed boots throwaway Debian 12 (bookworm) systems for tests
// that need a real init: systemd as PID 1, journald, D-Bus, units and
// socket activation, sshd, fail2ban, logrotate. It owns building and
// caching the images, booting and tearing down the containers, their
// network namespaces and cgroups; it knows nothing about tunnelftpd (its
// own tests, in this package, install and check the daemon).
//
// An image is a directory made once with debootstrap (minbase variant,
// BasePackages plus what a caller adds, from the mirror apt on this host
// uses) and kept in CacheDir, /var/cache/tunnelftpd-testbed, under a name
// hashed from the suite, architecture, build recipe and package list. It
// is never booted itself: every bed runs on an overlay (copy-on-write)
// layer of its own over it, removed at teardown, so runs do not pollute
// the cache and beds can run at once.
//
// Using it, from any package's tests:
//
//	bed := testbed.Boot(t, testbed.Options{Packages: []string{"adduser"}})
//	bed.CopyIn("pkg.deb", "/root/pkg.deb", 0o644)           // a host file into the bed
//	bed.Run(t, "apt-get", "install", "-y", "/root/pkg.deb") // a command in the bed, as root
//	out := bed.Shell(t, "systemctl is-active pkg.service")  // sh -ec
//	b, err := bed.ReadFile("/var/log/pkg.log")
//	bed.ClientExec(ctx, "ssh", ..., "user@"+testbed.BedAddr) // a host tool in the client namespace
//	c, err := bed.DialClient("127.0.0.1:2121", 5*time.Second) // a Go connection from there
//
// Exec and Command give the error and the process for finer control;
// WriteFile, CopyIn and ReadFile resolve paths inside the bed (its
// symlinks cannot reach the host's files). Options.Mask masks units for
// the boot (e.g. rsyslog.service, for a journal-only system as Debian 12
// installs are). Teardown runs by itself at the end of the test.
//
// Boot skips the test unless it runs as root with debootstrap,
// systemd-nspawn (systemd-container), nsenter and ip on the host; under
// TUNNELFTPD_E2E=1 it fails instead. It boots with `systemd-nspawn -b
// --keep-unit --register=no` (no systemd or machined needed on the host),
// in cgroups of its own, with the network namespace Name (loopback and
// BedAddr on a veth pair whose other end, ClientAddr, is in ClientNS: no
// route leaves them), and waits until systemd reports startup finished.
// Commands run in the bed through `nsenter -t Leader -a` with a clean
// environment. Teardown (registered with t.Cleanup) kills the bed's PID 1,
// which ends every process in it, and removes the layer, the namespaces
// and the cgroups.
//
// A test binary killed before its cleanups ran (go test -timeout) leaves
// its beds running; the next Boot finds them (their owner process is gone)
// and removes them.
//
// Cost on the CI machine (2 cores, shared): building the base image 1 to
// 2.5 minutes (debootstrap with the download), once per package list;
// booting a bed on a cached image 0.3 to 1.5 s; this package's whole test
// run about a minute on a cached image. An image takes about 290 MB;
// images of other package lists or an older recipe stay until removed
// (rm -r /var/cache/tunnelftpd-testbed/bookworm-*).
//
// Names it creates start with "tfb-": machines, network namespaces,
// cgroups, veths ("tfb…s", "tfb…c"). It sends no traffic outside the
// namespaces it creates, except debootstrap's downloads from the Debian
// mirror when an image is built.
package testbed
