// Package etc holds the files tunnelftpd ships for /etc: the sample config
// (documenting every key), the PAM, fail2ban, logrotate, tmpfiles, inetd and
// xinetd snippets. Only the sample config is Go-visible: it is built into
// the binary so that `tunnelftpd check --sample` prints it on a system that
// has no checkout. This package must not hold code beyond that.
package etc

import _ "embed"

// SampleConfig is etc/tunnelftpd.toml: every key with its default and its
// documentation.
//
//go:embed tunnelftpd.toml
var SampleConfig []byte
