package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
	"github.com/tunnelftpd/tunnelftpd/server/config"
)

// TestNoMetricsEndpointWhileRoot: a listening process with system users stays root, so it
// serves no HTTP: it warns once, naming the textfile collector, and does not listen; without
// system users (the process drops to run_as) the endpoint is served.
func TestNoMetricsEndpointWhileRoot(t *testing.T) {
	testutil.Privileged(t, "checks what a root process serves")
	for _, system := range []bool{true, false} {
		t.Run(fmt.Sprintf("system_users=%v", system), func(t *testing.T) {
			listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
			cfg := &config.Config{RegistryDir: t.TempDir()}
			cfg.Auth.SystemUsers = system
			cfg.Metrics.Listen = listen
			var logs bytes.Buffer
			a := openAdmin(cfg, slog.New(slog.NewTextHandler(&logs, nil)), !system, true)
			defer a.close()
			c, err := net.Dial("tcp", listen)
			if err == nil {
				c.Close()
			}
			warned := strings.Count(logs.String(), "tunnelftpd metrics -o FILE")
			if system && (err == nil || a.metrics != nil || warned != 1) {
				t.Errorf("root process: dial %v, endpoint %v, %d warnings; logs:\n%s", err, a.metrics != nil, warned, logs.String())
			}
			if !system && (err != nil || warned != 0) {
				t.Errorf("dropping process: dial %v, %d warnings; logs:\n%s", err, warned, logs.String())
			}
		})
	}
}
