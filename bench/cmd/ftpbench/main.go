// Command ftpbench is the load generator and report of bench/run.
//
// Usage:
//
//	ftpbench prepare  -c CONFIG              create the source files and server directories
//	ftpbench rawserve -src DIR -dir DIR -send ADDR -recv ADDR
//	                                         the raw sendfile/splice limit helper
//	ftpbench run      -c CONFIG -out FILE [-phases LIST] [-strict]
//	                                         measure, append JSON lines, print the table
//	ftpbench table    -c CONFIG -in FILE     print the table of the last run in FILE
//	ftpbench wanclient -c CONFIG -server NAME -kind KIND [-n N]
//	                                         one client figure of the wan phase (run in its namespace)
//	ftpbench chartdata -c CONFIG -in FILE -out PANELS.json
//	                                         the chart's panels (drawn by bench/tools' benchtools chart)
//	ftpbench hash     [-cost N]              read a password line, print a bcrypt hash
//	ftpbench machine                         print nproc, CPU model, kernel as JSON
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tunnelftpd/tunnelftpd/bench"
)

var allPhases = []string{"loopback", "tunnel", "concurrency", "files", "sessions"}

// extraPhases run only when asked for (-phases): they take long (wan) or
// load the machine (scale).
var extraPhases = []string{"wan", "scale", "retrgap"}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ftpbench prepare|rawserve|run|table|hash|machine ...")
		os.Exit(2)
	}
	var err error
	code := 0
	switch os.Args[1] {
	case "prepare":
		err = cmdPrepare(os.Args[2:])
	case "rawserve":
		err = cmdRawserve(os.Args[2:])
	case "run":
		code, err = cmdRun(os.Args[2:])
	case "table":
		code, err = cmdTable(os.Args[2:])
	case "wanclient":
		err = cmdWANClient(os.Args[2:])
	case "chartdata":
		err = cmdChartData(os.Args[2:])
	case "hash":
		err = cmdHash(os.Args[2:])
	case "machine":
		err = json.NewEncoder(os.Stdout).Encode(machine(""))
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
		code = 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ftpbench:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func loadFlags(name string, args []string, extra func(*flag.FlagSet)) (*bench.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("c", "", "config JSON written by bench/run")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if *path == "" {
		return nil, nil, fmt.Errorf("%s: -c CONFIG is required", name)
	}
	cfg, err := bench.LoadConfig(*path)
	return cfg, fs, err
}

func cmdPrepare(args []string) error {
	cfg, _, err := loadFlags("prepare", args, nil)
	if err != nil {
		return err
	}
	b := &bench.Bench{Cfg: cfg, Logf: logf}
	return b.Prepare()
}

func cmdRawserve(args []string) error {
	fs := flag.NewFlagSet("rawserve", flag.ContinueOnError)
	src := fs.String("src", "", "directory of the files to send")
	dir := fs.String("dir", "", "directory for received files")
	send := fs.String("send", "127.0.0.1:0", "sendfile listener")
	recv := fs.String("recv", "127.0.0.1:0", "splice listener")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ls, err := net.Listen("tcp", *send)
	if err != nil {
		return err
	}
	lr, err := net.Listen("tcp", *recv)
	if err != nil {
		return err
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ls.Close()
		lr.Close()
	}()
	s := &bench.RawServer{SrcDir: *src, Dir: *dir}
	if err := s.Serve(ls, lr); err != nil && !strings.Contains(err.Error(), "use of closed") {
		return err
	}
	return nil
}

func cmdRun(args []string) (int, error) {
	var out, phases, runID string
	var strict bool
	cfg, _, err := loadFlags("run", args, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "out", "results.jsonl", "JSON-lines output (truncated)")
		fs.StringVar(&phases, "phases", strings.Join(allPhases, ","), "phases to run, in order")
		fs.StringVar(&runID, "run", time.Now().UTC().Format(time.RFC3339), "run id recorded in every line")
		fs.BoolVar(&strict, "strict", false, "exit 1 if a step failed (see bench.Verify)")
	})
	if err != nil {
		return 2, err
	}
	if cfg.Machine.Nproc == 0 {
		cfg.Machine = machine(cfg.Machine.Data)
	}
	sink, err := bench.NewSink(out, runID, nil)
	if err != nil {
		return 1, err
	}
	defer sink.Close()
	m, _ := json.Marshal(cfg.Machine)
	sz, _ := json.Marshal(cfg.Sizes)
	sink.Add(bench.Result{Phase: "meta", Server: "", Metric: "machine", Extra: map[string]any{
		"machine": json.RawMessage(m), "sizes": json.RawMessage(sz), "servers": serverInfo(cfg)}})
	b := &bench.Bench{Cfg: cfg, Sink: sink, Logf: logf}
	list := strings.Split(phases, ",")
	start := time.Now()
	for _, p := range list {
		t0 := time.Now()
		load0 := bench.LoadAvg()
		logf("phase %s (load average %.2f)", p, load0)
		var err error
		switch p {
		case "loopback":
			err = b.Throughput(false)
		case "tunnel":
			if cfg.TunnelRawSend == "" {
				logf("phase tunnel skipped: no tunnel configured")
				continue
			}
			err = b.Throughput(true)
		case "concurrency":
			err = b.Concurrency()
		case "files":
			err = b.Files()
		case "sessions":
			err = b.Sessions()
		case "wan":
			err = b.WAN()
		case "scale":
			err = b.Scale()
		case "retrgap":
			err = b.RetrGap()
		default:
			return 2, fmt.Errorf("unknown phase %q (want %s)", p, strings.Join(append(allPhases, extraPhases...), ","))
		}
		if err != nil {
			return 1, fmt.Errorf("phase %s: %w", p, err)
		}
		sink.Add(bench.Result{Phase: "meta", Metric: "phase_seconds", Server: p, Unit: "s", Value: time.Since(t0).Seconds(),
			Extra: map[string]any{"loadavg_start": load0, "loadavg_end": bench.LoadAvg()}})
		logf("phase %s done in %.1fs", p, time.Since(t0).Seconds())
	}
	logf("all phases done in %.1fs", time.Since(start).Seconds())
	table, checks := bench.Table(sink.Results(), cfg)
	fmt.Print(table)
	fmt.Print(bench.RetrGapTable(sink.Results(), cfg))
	printChecks(checks)
	if strict {
		if problems := bench.Verify(sink.Results(), cfg, list); len(problems) > 0 {
			fmt.Println("\nbroken steps:")
			for _, p := range problems {
				fmt.Println("  -", p)
			}
			return 1, nil
		}
		fmt.Println("\nevery step ran")
	}
	return 0, nil
}

func printChecks(checks []bench.Check) {
	if len(checks) == 0 {
		return
	}
	fmt.Println("\ntargets (tunnelftpd):")
	for _, c := range checks {
		status := "n/a"
		if c.Met != nil {
			status = map[bool]string{true: "met", false: "MISSED"}[*c.Met]
		}
		fmt.Printf("  %-6s %-34s %-34s %s %s\n", status, c.Label, c.Target, c.Ours, c.Detail)
	}
}

func serverInfo(cfg *bench.Config) []map[string]string {
	var out []map[string]string
	for _, s := range cfg.Servers {
		out = append(out, map[string]string{"name": s.Name, "version": s.Version, "inetd": s.InetdAddr, "inetd_note": s.InetdNote})
	}
	return out
}

func cmdTable(args []string) (int, error) {
	var in, phases string
	var strict bool
	cfg, _, err := loadFlags("table", args, func(fs *flag.FlagSet) {
		fs.StringVar(&in, "in", "results.jsonl", "JSON-lines results")
		fs.StringVar(&phases, "phases", strings.Join(allPhases, ","), "phases expected, for -strict")
		fs.BoolVar(&strict, "strict", false, "exit 1 if a step failed")
	})
	if err != nil {
		return 2, err
	}
	results, err := bench.ReadResults(in)
	if err != nil {
		return 1, err
	}
	table, checks := bench.Table(results, cfg)
	fmt.Print(table)
	fmt.Print(bench.RetrGapTable(results, cfg))
	printChecks(checks)
	if strict {
		if problems := bench.Verify(results, cfg, strings.Split(phases, ",")); len(problems) > 0 {
			for _, p := range problems {
				fmt.Println("  -", p)
			}
			return 1, nil
		}
	}
	return 0, nil
}

func cmdHash(args []string) error {
	fs := flag.NewFlagSet("hash", flag.ContinueOnError)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	if err := fs.Parse(args); err != nil {
		return err
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("reading the password: %w", err)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(strings.TrimRight(line, "\r\n")), *cost)
	if err != nil {
		return err
	}
	fmt.Println(string(h))
	return nil
}

func machine(data string) bench.Machine {
	m := bench.Machine{Nproc: runtime.NumCPU(), Data: data}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var sb strings.Builder
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			sb.WriteByte(byte(c))
		}
		m.Kernel = sb.String()
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		m.MemGiB = int((uint64(si.Totalram)*uint64(si.Unit) + 1<<29) >> 30)
	}
	return m
}
