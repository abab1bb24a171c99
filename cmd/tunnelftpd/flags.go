package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/tunnelftpd/tunnelftpd/auth"
)

// Exit codes of every subcommand, as the usage text documents them.
const (
	exitOK      = 0 // done; for check: the config is valid
	exitFailure = 1 // the config is invalid, or the work failed at run time
	exitUsage   = 2 // bad command line
)

// subcommand is one subcommand's flag set with its usage text: -h/--help
// prints the text and the flags to standard output and exits 0; a bad flag
// prints the error and the text to standard error and exits 2.
type subcommand struct {
	*flag.FlagSet
	name   string
	usage  string
	stdout io.Writer
	stderr io.Writer
}

func newSubcommand(name, usage string, stdout, stderr io.Writer) *subcommand {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by parse, usage by printUsage
	fs.Usage = func() {}
	return &subcommand{FlagSet: fs, name: name, usage: usage, stdout: stdout, stderr: stderr}
}

func (s *subcommand) printUsage(w io.Writer) {
	fmt.Fprint(w, s.usage)
	s.SetOutput(w)
	s.PrintDefaults()
	s.SetOutput(io.Discard)
}

// parse parses args. done says the caller must return code now: after
// -h/--help (0, usage printed) or a bad flag (2, error printed).
func (s *subcommand) parse(args []string) (code int, done bool) {
	err := s.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		s.printUsage(s.stdout)
		return exitOK, true
	case err != nil:
		return s.usageError("%v", err), true
	}
	return exitOK, false
}

// usageError prints a command-line error and where to find the usage, and
// returns the usage exit code.
func (s *subcommand) usageError(format string, a ...any) int {
	fmt.Fprintf(s.stderr, "tunnelftpd %s: %s\n", s.name, fmt.Sprintf(format, a...))
	fmt.Fprintf(s.stderr, "Run 'tunnelftpd %s -h' for usage.\n", s.name)
	return exitUsage
}

// printVersion is what `tunnelftpd version` and `--version` print: the
// version (and commit), the Go toolchain, and whether PAM is built in.
func printVersion(w io.Writer) {
	fmt.Fprintln(w, "tunnelftpd", versionString())
	fmt.Fprintf(w, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if auth.PAMAvailable {
		fmt.Fprintln(w, "pam: compiled in (system accounts available)")
	} else {
		fmt.Fprintln(w, "pam: not compiled in (built without cgo or PAM headers: virtual and anonymous users only)")
	}
}
