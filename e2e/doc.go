// Package e2e tests tunnelftpd end to end behind a real OpenSSH tunnel: two
// network namespaces joined by a veth pair, sshd and tunnelftpd on the server
// side behind a packet filter that lets only SSH in, ssh -L and real FTP
// clients (curl, lftp, Python ftplib; TestClients adds wget, tnftp, ncftp
// and rclone, on a tree with links, an old file, spaces and UTF-8) on the
// client side. The SSH client command and sshd's Match block come from
// `tunnelftpd tunnel`, so the test exercises that output too.
// TestDirectClientGetsSendfile is the other side of retr_sendfile = "auto":
// curl straight to the daemon on the host's loopback (no tunnel, no root
// needed; strace shows the daemon's sendfile calls).
//
// The package has no code of its own outside its tests. The test needs root
// and the tools it lists (Debian: openssh-server openssh-client curl lftp
// iproute2 nftables python3 strace, and for TestClients tnftp ncftp rclone wget); without them it skips, unless TUNNELFTPD_E2E=1
// (set by CI), where a skip would hide a broken setup and it fails instead.
// It creates and removes its namespaces, a throwaway system user and its
// processes; it sends no traffic outside the namespaces it creates (the
// direct test: none off the host's loopback).
package e2e
