// Command benchtools holds the helpers of bench/run that need libraries the
// daemon's module must not depend on (toxiproxy, gonum/plot).
//
// Usage:
//
//	benchtools relay  -listen ADDR -upstream ADDR -rtt DURATION [-mss N] [-quickack=false]
//	                  a latency relay: each direction delayed by RTT/2 (toxiproxy's latency toxic)
//	benchtools fdpass -netns PATH [-nodelay] ADDR
//	                  an ssh ProxyCommand for ProxyUseFdpass=yes: connect to ADDR
//	                  from inside the network namespace PATH, pass the socket on fd 1
//	benchtools chart  -in PANELS.json -out CHART.svg|.png [-title TEXT]
//	                  draw one panel per figure, one bar per server
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/bench/tools/chart"
	"github.com/tunnelftpd/tunnelftpd/bench/tools/netns"
	"github.com/tunnelftpd/tunnelftpd/bench/tools/relay"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtools relay|fdpass|chart ... (see the package comment)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "relay":
		err = cmdRelay(os.Args[2:])
	case "fdpass":
		err = cmdFdpass(os.Args[2:])
	case "chart":
		err = cmdChart(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "benchtools: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtools:", err)
		os.Exit(1)
	}
}

func cmdRelay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	up := fs.String("upstream", "", "address to forward to")
	rtt := fs.Duration("rtt", 0, "round trip to add (each direction gets half; whole milliseconds each way)")
	mss := fs.Int("mss", relay.DefaultMSS, "segment size of both legs (0: the kernel's, 64 KiB on loopback)")
	quick := fs.Bool("quickack", true, "acknowledge every read at once (false: the kernel's delayed ACKs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *up == "" {
		return fmt.Errorf("relay: -upstream is required")
	}
	r, err := relay.Start(*listen, *up, relay.Options{OneWay: *rtt / 2, MSS: *mss, NoQuickAck: !*quick, Log: os.Stderr})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s relay %s -> %s, %s each way, MSS %d, quick ACKs %v\n",
		time.Now().Format("15:04:05"), r.Addr(), *up, r.OneWay(), *mss, *quick)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	r.Close()
	return nil
}

func cmdFdpass(args []string) error {
	fs := flag.NewFlagSet("fdpass", flag.ContinueOnError)
	ns := fs.String("netns", "", "network namespace to connect from (e.g. /proc/PID/ns/net)")
	nodelay := fs.Bool("nodelay", false, "set TCP_NODELAY on the socket (ssh sets it itself only for sessions with a terminal)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ns == "" || fs.NArg() != 1 {
		return fmt.Errorf("fdpass: usage: fdpass -netns PATH [-nodelay] HOST:PORT")
	}
	fd, err := netns.DialIn(*ns, fs.Arg(0))
	if err != nil {
		return err
	}
	if *nodelay {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fmt.Errorf("fdpass: TCP_NODELAY: %w", err)
		}
	}
	return netns.SendFD(1, fd)
}

func cmdChart(args []string) error {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	in := fs.String("in", "", "panels JSON (ftpbench chartdata)")
	out := fs.String("out", "chart.svg", "output file, .svg or .png")
	title := fs.String("title", "", "title above the panels (default: the JSON's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	spec, err := chart.ReadSpec(f)
	if err != nil {
		return err
	}
	if *title != "" {
		spec.Title = *title
	}
	return chart.Write(spec, *out)
}
