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
//	bed.CopyIn("pkg.deb", "/root/pkg.deb", 0o644)      // a host file into the bed
//	bed.Run(t, "apt-get", "install", "-y", "/root/pkg.deb") // a command in the bed, as root
//	out := bed.Shell(t, "systemctl is-active pkg.service")
//	bed.ClientExec(ctx, "ssh", ..., "user@"+testbed.BedAddr) // from the client namespace
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
// Cost on the CI machine (2 cores): building the base image, about 70 s
// plus the download, once per package list; booting a bed on a cached
// image, a few seconds. The image takes about 400 MB.
//
// Names it creates start with "tfb-": machines, network namespaces,
// cgroups, veths ("tfb…s", "tfb…c"). It sends no traffic outside the
// namespaces it creates, except debootstrap's downloads from the Debian
// mirror when an image is built.
package testbed
