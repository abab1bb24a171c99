// Command gen writes the generated files of the tunnelftpd packages, for
// packaging/build:
//
//	gen man -version V -date YYYY-MM-DD [-sample etc/tunnelftpd.toml] PAGE.md
//	    the man page source PAGE.md with @VERSION@ and @DATE@ filled in and,
//	    with -sample, @KEYS@ replaced by the sample config's keys and comments
//	gen copyright
//	    the package's copyright file: the modules linked into
//	    ./cmd/tunnelftpd and their license texts (run in the module's root)
//
// It writes to standard output.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tunnelftpd/tunnelftpd/packaging"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: gen man|copyright ...")
	}
	switch args[0] {
	case "man":
		fs := flag.NewFlagSet("man", flag.ContinueOnError)
		version := fs.String("version", "", "package version (required)")
		date := fs.String("date", "", "page date, YYYY-MM-DD (required)")
		sample := fs.String("sample", "", "sample config whose keys fill @KEYS@")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 || *version == "" || *date == "" {
			return fmt.Errorf("usage: gen man -version V -date YYYY-MM-DD [-sample FILE] PAGE.md")
		}
		page, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		keys := ""
		if *sample != "" {
			data, err := os.ReadFile(*sample)
			if err != nil {
				return err
			}
			s, err := packaging.ParseSample(*sample, data)
			if err != nil {
				return err
			}
			keys = s.Markdown()
		}
		_, err = os.Stdout.WriteString(packaging.Fill(string(page), *version, *date, keys))
		return err
	case "copyright":
		text, err := packaging.Copyright(".", "./cmd/tunnelftpd")
		if err != nil {
			return err
		}
		_, err = os.Stdout.WriteString(text)
		return err
	}
	return fmt.Errorf("unknown command %q: use man or copyright", args[0])
}
