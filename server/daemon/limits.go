package daemon

import (
	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/tunnelftpd/tunnelftpd/server"
)

// raiseFileLimit raises the soft open-files limit to the hard one (the Go
// runtime does it too, but says nothing) and says what the limit is, and
// whether it is too low for max_sessions: connections beyond what it allows
// get 421 (the server keeps a reserve descriptor for that), but the
// operator should know.
func raiseFileLimit(srv *server.Server, single bool, log *slog.Logger) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn("cannot read the open-file limit", "err", err)
		return
	}
	if rl.Cur < rl.Max {
		from := rl.Cur
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			log.Warn("cannot raise the open-file limit to its hard limit", "soft", from, "hard", rl.Max, "err", err)
			rl.Cur = from
		} else {
			log.Info("raised the open-file limit to its hard limit", "from", from, "to", rl.Cur)
		}
	}
	if single {
		return // one session: any limit a process can start with will do
	}
	cfg := srv.Config()
	if need := srv.FileLimitNeeded(); rl.Cur < uint64(need) {
		log.Warn("open-file limit too low for max_sessions: connections beyond what it allows get 421 (raise LimitNOFILE= or ulimit -Hn)",
			"limit", rl.Cur, "max_sessions", cfg.MaxSessions, "needs", need)
	} else {
		log.Debug("open-file limit", "limit", rl.Cur, "needs", need)
	}
}
