package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CheckListen validates a [metrics] listen value: "" (off), a TCP address on loopback
// ("127.0.0.1:9121", "[::1]:9121", "localhost:9121"), or the absolute path of a unix socket.
// Another TCP address needs allowRemote: behind an SSH tunnel only sshd should face the network,
// and the metrics carry the names of classes and the load of the server.
func CheckListen(addr string, allowRemote bool) error {
	switch {
	case addr == "":
		return nil
	case strings.HasPrefix(addr, "/"):
		if filepath.Clean(addr) != addr {
			return fmt.Errorf("%q: write the unix socket path without . or .. parts or a trailing /", addr)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("%q must be HOST:PORT (e.g. 127.0.0.1:9121) or the absolute path of a unix socket", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("%q: the host must be an IP address or localhost (names are not resolved)", addr)
	}
	if !ip.IsLoopback() && !allowRemote {
		return fmt.Errorf("%q is not a loopback address: use 127.0.0.1:%s or a unix socket (scrape through node_exporter or the SSH tunnel), or set metrics.allow_remote = true", addr, port)
	}
	return nil
}

// Listen opens the listener of a checked [metrics] listen value. A unix socket's stale file
// (left by a killed daemon) is replaced, but nothing that is not a socket; the socket is made
// 0660 so that a monitoring group can be given access through the directory.
func Listen(addr string) (net.Listener, error) {
	if !strings.HasPrefix(addr, "/") {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("metrics.listen: %w", err)
		}
		return l, nil
	}
	if st, err := os.Lstat(addr); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("metrics.listen: %s exists and is not a socket", addr)
		}
		if c, err := net.Dial("unix", addr); err == nil {
			c.Close()
			return nil, fmt.Errorf("metrics.listen: %s is in use by another process", addr)
		}
		if err := os.Remove(addr); err != nil {
			return nil, fmt.Errorf("metrics.listen: removing the stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	if err := os.Chmod(addr, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	return l, nil
}

// Server serves /metrics on a listener: the registry's figures, and this process's Go runtime
// and process metrics.
type Server struct {
	http *http.Server
	l    net.Listener
	done chan error
}

// Serve starts serving src's metrics on l, in a goroutine; log receives serving errors (nil:
// discarded).
func Serve(l net.Listener, src Source, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{NewCollector(src), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "tunnelftpd metrics: see /metrics")
	})
	s := &Server{l: l, done: make(chan error, 1), http: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}
	go func() {
		err := s.http.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if err != nil {
			log.Error("metrics listener failed", "err", err)
		}
		s.done <- err
	}()
	return s, nil
}

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.l.Addr() }

// Close stops serving and closes the listener (a unix socket's file is removed).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	<-s.done
	return err
}
