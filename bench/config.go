package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Server is one FTP server under test, as bench/run started it.
type Server struct {
	Name       string `json:"name"`
	Version    string `json:"version,omitempty"`
	Addr       string `json:"addr"`                  // standalone control address
	TunnelAddr string `json:"tunnel_addr,omitempty"` // the same, through the ssh -L forward
	InetdAddr  string `json:"inetd_addr,omitempty"`  // per-connection (inetd, Accept=yes) control address
	InetdNote  string `json:"inetd_note,omitempty"`  // why per-connection mode is not measured
	PID        int    `json:"pid"`                   // standalone daemon, for the memory probe
	Dir        string `json:"dir"`                   // FTP path of the server's work directory
	LocalDir   string `json:"local_dir"`             // the same directory on this host
	// ProfileDir, when set, is where the profiling build of tunnelftpd
	// (cmd/tunnelftpd-pprof) writes a CPU and heap profile for each phase:
	// ftpbench writes the label to ProfileDir/label and sends SIGUSR1
	// before the phase and SIGUSR2 after it.
	ProfileDir string `json:"profile_dir,omitempty"`
}

// Sizes are the workload parameters.
type Sizes struct {
	BigMiB      int   `json:"big_mib"`      // loopback RETR/STOR file
	Runs        int   `json:"runs"`         // loopback runs (median)
	TunnelMiB   int   `json:"tunnel_mib"`   // tunnel RETR/STOR file
	TunnelRuns  int   `json:"tunnel_runs"`  // tunnel runs (median)
	Clients     []int `json:"clients"`      // concurrency levels
	ConcMiB     int   `json:"conc_mib"`     // file each concurrent client downloads
	SmallFiles  int   `json:"small_files"`  // files stored then retrieved in one session
	SmallKiB    int   `json:"small_kib"`    // size of each small file
	ListEntries int   `json:"list_entries"` // entries of the listed directory
	ListRuns    int   `json:"list_runs"`    // LIST/MLSD runs (median)
	Idle        int   `json:"idle"`         // idle logged-in sessions for the memory probe
	Logins      int   `json:"logins"`       // connect/login samples per server and mode (median)
	Scale       int   `json:"scale"`        // idle sessions of the scale phase (tunnelftpd only)
	TimeoutSec  int   `json:"timeout_sec"`  // per reply, and per data connection
}

// Config is everything ftpbench needs; bench/run writes it as JSON.
type Config struct {
	User     string  `json:"user"`
	Password string  `json:"password"`
	Passive  Passive `json:"passive"` // PortOffset is the tunnel's; direct runs use 0
	Scratch  string  `json:"scratch"` // client-side directory for downloads
	// SrcDir holds the source files; every server directory has hard links
	// to them (big.bin, tunnel.bin, conc.bin), and the raw helper serves them.
	SrcDir        string `json:"src_dir"`
	UID           int    `json:"uid"` // owner of the prepared files (the test user)
	GID           int    `json:"gid"`
	RawSend       string `json:"raw_send"` // RawServer listeners, direct
	RawRecv       string `json:"raw_recv"`
	TunnelRawSend string `json:"tunnel_raw_send"` // the same through the tunnel
	TunnelRawRecv string `json:"tunnel_raw_recv"`
	// TunnelPIDs are the pids of the processes on the tunnel's path, for
	// the retrgap phase's accounting: "sshd" (the listener; the session is
	// its descendant), "ssh" (the client that forwards) and "raw" (the raw
	// helper, ftpbench rawserve). Missing when not known.
	TunnelPIDs map[string]int `json:"tunnel_pids,omitempty"`
	Servers    []Server       `json:"servers"`
	Sizes      Sizes          `json:"sizes"`
	Machine    Machine        `json:"machine"`
	// WAN is the WAN variant of the tunnel bench (wan.go); nil when the
	// wan phase is not run.
	WAN *WANConfig `json:"wan,omitempty"`
}

// Machine identifies where the figures came from.
type Machine struct {
	Nproc  int    `json:"nproc"`
	CPU    string `json:"cpu"`
	Kernel string `json:"kernel"`
	MemGiB int    `json:"mem_gib"`
	Data   string `json:"data"` // file system the servers' files live on
}

// LoadConfig reads a Config written by bench/run.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.Sizes.TimeoutSec <= 0 {
		c.Sizes.TimeoutSec = 120
	}
	return &c, nil
}

func (c *Config) timeout() time.Duration { return time.Duration(c.Sizes.TimeoutSec) * time.Second }

// Source file names, in SrcDir and in every server directory.
const (
	BigName    = "big.bin"
	TunnelName = "tunnel.bin"
	ConcName   = "conc.bin"
	SmallDir   = "small"
	ListDir    = "list"
)
