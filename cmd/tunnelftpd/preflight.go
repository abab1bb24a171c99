package main

import (
	"fmt"
	"io"
	"os"

	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/preflight"
)

// runtimeChecks runs check's run-time checks for cfg as the account as
// (see checkUsage) and prints the findings; it returns false when one is a
// problem. Warnings are not printed with quiet.
func runtimeChecks(cfg *config.Config, as string, quiet bool, stderr io.Writer) bool {
	var acct preflight.Account
	var err error
	switch {
	case as != "":
		acct, err = preflight.LookupAccount(as)
	case cfg.RunAs != "" && os.Geteuid() == 0:
		acct, err = preflight.LookupAccount(cfg.RunAs)
	default:
		acct, err = preflight.CurrentAccount()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: --as: %v\n", cfg.File, err)
		return false
	}
	ok := true
	for _, f := range preflight.Check(cfg, preflight.Options{As: acct}) {
		if f.Severity == preflight.Problem {
			ok = false
		} else if quiet {
			continue
		}
		fmt.Fprintf(stderr, "%s: %s (checked as %s)\n", cfg.File, f, acct.Name)
	}
	return ok
}
