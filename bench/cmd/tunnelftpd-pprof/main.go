// Command tunnelftpd-pprof is tunnelftpd's standalone mode with profiling
// added, for the benchmark only: the same server package, config and
// listener as `tunnelftpd serve -c FILE`, plus
//
//   - net/http/pprof on a loopback address (-pprof, default 127.0.0.1:6060);
//   - SIGUSR1 starts a CPU profile, SIGUSR2 stops it and writes a heap
//     profile too, both into -profile-dir named after the text of the file
//     "label" there (ftpbench writes it before each phase).
//
// It is not part of the daemon: nothing outside bench/ imports it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/tunnelftpd/tunnelftpd/server"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/logging"
)

func main() {
	cfgPath := flag.String("c", "", "tunnelftpd config file")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "net/http/pprof address (loopback)")
	profDir := flag.String("profile-dir", "", "where SIGUSR1/SIGUSR2 profiles go")
	flag.Parse()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	logger := logging.NewLogger(cfg, os.Stderr)
	srv, err := server.New(cfg, server.Options{Log: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	var cpu *os.File
	label := "profile"
	for {
		select {
		case err := <-served:
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			return
		case sig := <-sigs:
			switch sig {
			case syscall.SIGUSR1:
				if cpu != nil || *profDir == "" {
					continue
				}
				if b, err := os.ReadFile(filepath.Join(*profDir, "label")); err == nil {
					label = strings.TrimSpace(string(b))
				}
				cpu, err = os.Create(filepath.Join(*profDir, label+".cpu.pprof"))
				if err == nil {
					err = pprof.StartCPUProfile(cpu)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "profile:", err)
					cpu = nil
				}
			case syscall.SIGUSR2:
				if cpu == nil {
					continue
				}
				pprof.StopCPUProfile()
				cpu.Close()
				cpu = nil
				runtime.GC() // heap profile shows live objects as of the last GC
				if f, err := os.Create(filepath.Join(*profDir, label+".heap.pprof")); err == nil {
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			default:
				ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Duration)
				srv.Shutdown(ctx)
				cancel()
				<-served
				return
			}
		}
	}
}
