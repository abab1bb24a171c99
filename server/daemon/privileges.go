package daemon

import (
	"fmt"
	"log/slog"

	"github.com/tunnelftpd/tunnelftpd/privsep"
	"github.com/tunnelftpd/tunnelftpd/server/config"
	"github.com/tunnelftpd/tunnelftpd/server/launch"
)

// DropPrivileges switches a daemon started as root to the run_as account
// once its sockets are bound, when every session can run as that account
// (only virtual users, one process for all sessions). A per-session process
// switches after login instead, and a daemon with system users stays root to
// start them. It warns when a multi-session daemon keeps serving as root.
func DropPrivileges(cfg *config.Config, mode launch.Mode, log *slog.Logger) error {
	if !privsep.IsRoot() || mode.Single() || cfg.Auth.SystemUsers {
		return nil
	}
	if cfg.RunAs == "" {
		log.Warn("serving as root: set run_as to an unprivileged account (or start the daemon as one)")
		return nil
	}
	id, err := privsep.Lookup(cfg.RunAs)
	if err != nil {
		return fmt.Errorf("run_as: %w", err)
	}
	if err := privsep.Drop(id); err != nil {
		return fmt.Errorf("run_as %s: %w", cfg.RunAs, err)
	}
	log.Info("switched to run_as", "user", cfg.RunAs, "uid", id.UID)
	return nil
}
