// Package relay is the latency relay of the WAN benchmark (issue 17): a TCP
// proxy that delays every byte by a fixed time in each direction, so that a
// connection through it has a real round trip on a machine whose kernel has
// no netem. It is Shopify's toxiproxy (its proxy and latency toxic) driven as
// a library, with no HTTP API and no jitter.
//
// The latency toxic timestamps each chunk when it is read and releases it
// when its delay has passed, with up to 1,024 chunks in flight per
// direction, so the relay is a delay line: throughput is not capped at one
// chunk per delay. It keeps byte order (one pipeline per direction).
//
// This package owns nothing of the daemon and must not be imported by it; it
// lives in its own module (bench/tools) so that toxiproxy's dependencies stay
// out of tunnelftpd's go.mod.
package relay

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Relay is one running proxy.
type Relay struct {
	proxy *toxiproxy.Proxy
	delay time.Duration
}

// Start listens on listen ("127.0.0.1:0" picks a port) and forwards every
// connection to upstream, delaying each direction by oneWay (half the round
// trip). oneWay must be a whole number of milliseconds (toxiproxy's unit).
func Start(listen, upstream string, oneWay time.Duration, logOut io.Writer) (*Relay, error) {
	if oneWay < 0 || oneWay%time.Millisecond != 0 {
		return nil, fmt.Errorf("relay: one-way delay %s is not a whole number of milliseconds", oneWay)
	}
	logger := zerolog.Nop()
	if logOut != nil {
		logger = zerolog.New(logOut).With().Timestamp().Logger().Level(zerolog.WarnLevel)
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), logger)
	p := toxiproxy.NewProxy(srv, "relay", listen, upstream)
	if oneWay > 0 {
		// Toxics are set before the proxy accepts anything: every link is
		// built with both of them in its chain.
		for _, stream := range []string{"upstream", "downstream"} {
			js := fmt.Sprintf(`{"name":"latency_%s","type":"latency","stream":%q,"toxicity":1,"attributes":{"latency":%d,"jitter":0}}`,
				stream, stream, oneWay.Milliseconds())
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
				return nil, fmt.Errorf("relay: adding the %s latency toxic: %w", stream, err)
			}
		}
	}
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("relay: listening on %s: %w", listen, err)
	}
	return &Relay{proxy: p, delay: oneWay}, nil
}

// Addr is the address the relay listens on.
func (r *Relay) Addr() string { return r.proxy.Listen }

// OneWay is the delay added to each direction.
func (r *Relay) OneWay() time.Duration { return r.delay }

// Close stops listening and closes every relayed connection.
func (r *Relay) Close() { r.proxy.Stop() }

// Dial connects to the relay (a convenience for tests and probes).
func (r *Relay) Dial() (net.Conn, error) { return net.Dial("tcp", r.Addr()) }
