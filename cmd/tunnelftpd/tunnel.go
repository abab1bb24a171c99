package main

import (
	"fmt"
	"io"
)

// cmdTunnel prints the client-side SSH setup for the server's config.
func cmdTunnel(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "tunnelftpd tunnel: not implemented yet")
	return 2
}
