package server

import "github.com/tunnelftpd/tunnelftpd/tunnel"

// DefaultConfig is every key at its default value, with no user: what
// `tunnelftpd tunnel` reads when no config file exists. Unlike BuiltinConfig
// it creates nothing, and it is not a config the daemon can serve on.
func DefaultConfig() *Config {
	c := defaultConfig()
	c.Passive.First, c.Passive.Last, _ = ParsePortRange(c.Passive.Ports)
	return &c
}

// TunnelSpec is the input of package tunnel's generators for cfg: its listen
// address and passive range, the client's name for the SSH server ("[user@]
// server") and the client's control port (0 for tunnel.DefaultLocalPort).
func TunnelSpec(cfg *Config, host string, localPort int) tunnel.Spec {
	return tunnel.Spec{
		Listen:       cfg.Listen,
		PassiveFirst: cfg.Passive.First,
		PassiveLast:  cfg.Passive.Last,
		Host:         host,
		LocalPort:    localPort,
	}
}
