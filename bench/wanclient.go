package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// The client side of the WAN figures: `ftpbench wanclient` runs this inside
// a client namespace, where the servers' ports are the ssh forwards, and
// prints a WANClientResult.

// WANClient runs one client figure against server (a Server name, or
// LimitServer for the raw stream) and returns its result. kind is conc (n
// clients at once, each downloading ConcName), retr or stor (the bulk file),
// rawretr or rawstor (the bulk file over the raw helper, through the same
// tunnel), or stages (n sequential downloads of mirror files, timed stage by
// stage).
func WANClient(cfg *Config, server, kind string, n, sessions int) WANClientResult {
	b := &Bench{Cfg: cfg}
	if cfg.WAN == nil {
		return WANClientResult{Err: "no WAN configuration"}
	}
	js, err := os.ReadFile(filepath.Join(cfg.WAN.Work, "digests.json"))
	if err == nil {
		err = json.Unmarshal(js, &b.digests)
	}
	if err != nil {
		return WANClientResult{Err: "reading the digests: " + err.Error()}
	}
	var s Server
	for _, x := range cfg.Servers {
		if x.Name == server {
			s = x
		}
	}
	if s.Name == "" && server != LimitServer {
		return WANClientResult{Err: fmt.Sprintf("no server %q in the config", server)}
	}
	pasv := cfg.Passive
	pasv.PortOffset = 0 // in the namespace, the forwards have the servers' numbers
	size := int64(cfg.WAN.BulkMiB) * MiB
	want := b.digests[WANBulkName]
	one := func(secs float64, err error) WANClientResult {
		if err != nil {
			return WANClientResult{Seconds: secs, Err: err.Error(), Failures: map[string]int{FailureKey(err): 1}}
		}
		return WANClientResult{Seconds: secs, OK: 1}
	}
	down := filepath.Join(cfg.Scratch, "wan-bulk-"+server+".bin")
	switch kind {
	case "conc":
		return b.wanConcClients(s, pasv, n)
	case "retr":
		return one(b.ftpRetr(s, s.Addr, pasv, WANBulkName, down, size, want))
	case "stor":
		return one(b.ftpStorAs(s, pasv, WANBulkName, "wan-up.bin", size, want))
	case "rawretr":
		return one(b.rawRetr(cfg.RawSend, WANBulkName, down, size, want))
	case "rawstor":
		return one(b.rawStor(cfg.RawRecv, WANBulkName, size, want))
	case "stages":
		return b.wanStages(s, pasv, n, max(sessions, 1))
	}
	return WANClientResult{Err: fmt.Sprintf("unknown kind %q", kind)}
}

// ftpStorAs times one STOR of the source file name as remote, then checks
// the stored file.
func (b *Bench) ftpStorAs(s Server, pasv Passive, name, remote string, size int64, want Digest) (float64, error) {
	c, err := b.session(s, s.Addr, pasv)
	if err != nil {
		return 0, err
	}
	defer c.Quit()
	return b.timedUpload(name, size, want, func(f *os.File) (int64, string, error) {
		n, err := c.Stor(remote, f)
		return n, filepath.Join(s.LocalDir, remote), err
	})
}

// wanConcClients starts n clients at once; each logs in and downloads
// ConcName into a file of its own, which is then checked and removed.
func (b *Bench) wanConcClients(s Server, pasv Passive, n int) WANClientResult {
	want := b.digests[ConcName]
	errs, wall := atOnce(n, nil, func(i int) error {
		down := filepath.Join(b.Cfg.Scratch, fmt.Sprintf("wan-conc-%s-%d.bin", s.Name, i))
		_, err := b.ftpRetr(s, s.Addr, pasv, ConcName, down, want.Size, want)
		return err
	})
	r := WANClientResult{Seconds: wall.Seconds()}
	r.OK, r.Failures = tally(errs, 0)
	if len(r.Failures) == 0 {
		r.Failures = nil
	}
	return r
}

// wanStages downloads n mirror files one after the other in each of
// sessions sessions at once, and reports the median (and 90th percentile)
// time of each stage of a file, in milliseconds (after noop, the round trip
// of a NOOP on the control connection): pasv (PASV sent to 227 read; with
// more sessions than ports, the wait for a port is in it), connect (the data
// connection's connect), mark (RETR sent to the 150 read), data (150 to the
// data's EOF), final (EOF to the 226 read) and file (PASV sent to 226 read).
func (b *Bench) wanStages(s Server, pasv Passive, n, sessions int) WANClientResult {
	stages := map[string][]float64{}
	r := WANClientResult{}
	var mu sync.Mutex
	add := func(k string, v time.Duration) {
		mu.Lock()
		stages[k] = append(stages[k], float64(v.Microseconds())/1000)
		mu.Unlock()
	}
	fail := func(err error) {
		mu.Lock()
		r.Failures = addCount(r.Failures, FailureKey(err))
		mu.Unlock()
	}
	size := b.Cfg.WAN.FileKiB << 10
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := b.session(s, s.Addr, pasv)
			if err != nil {
				fail(err)
				return
			}
			defer c.Quit()
			// The control connection's own round trip first: 10 NOOPs.
			for range 10 {
				t := time.Now()
				if _, _, err := c.Cmd("2", "NOOP"); err != nil {
					fail(err)
					return
				}
				add("noop", time.Since(t))
			}
			<-start
			for j := range n {
				i := (k*n + j) % b.Cfg.WAN.Files
				got, st, err := c.retrStages(WANMirrorDir + "/" + wanFileName(i))
				if err == nil && !bytes.Equal(got, wanFileContent(i, size)) {
					err = errContentMismatch
				}
				if err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				r.OK++
				mu.Unlock()
				for k, v := range st {
					add(k, v)
				}
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	r.Seconds = time.Since(t0).Seconds()
	r.Stages = map[string]float64{}
	keys := make([]string, 0, len(stages))
	for k := range stages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.Stages[k] = round3(median(stages[k]))
		r.Stages[k+"_p90"] = round3(percentile(stages[k], 0.9))
	}
	return r
}

// retrStages is one RETR into memory, timed stage by stage (see wanStages).
func (c *Conn) retrStages(path string) ([]byte, map[string]time.Duration, error) {
	st := map[string]time.Duration{}
	t0 := time.Now()
	_, text, err := c.Cmd("2", "PASV")
	if err != nil {
		return nil, nil, err
	}
	t1 := time.Now()
	st["pasv"] = t1.Sub(t0)
	ip, port, err := parsePasv(text)
	if err != nil {
		return nil, nil, &StageError{Stage: "PASV", Err: err}
	}
	if c.pasv.First != 0 && (port < c.pasv.First || port > c.pasv.Last) {
		return nil, nil, &StageError{Stage: "PASV", Err: fmt.Errorf("%w: %d", ErrPasvOutOfRange, port)}
	}
	nd, err := net.DialTimeout("tcp", net.JoinHostPort(ip, fmt.Sprint(port+c.pasv.PortOffset)), c.timeout)
	if err != nil {
		return nil, nil, &StageError{Stage: "data-connect", Err: err}
	}
	d := nd.(*net.TCPConn)
	defer d.Close()
	d.SetDeadline(time.Now().Add(c.timeout))
	t2 := time.Now()
	st["connect"] = t2.Sub(t1)
	if _, _, err := c.Cmd("1", "RETR %s", path); err != nil {
		return nil, nil, err
	}
	t3 := time.Now()
	st["mark"] = t3.Sub(t2)
	var buf bytes.Buffer
	_, derr := buf.ReadFrom(d)
	// Close at EOF, as clients do (ProFTPD holds its 226 until the client
	// has closed, up to its 10 s TimeoutLinger).
	d.Close()
	t4 := time.Now()
	st["data"] = t4.Sub(t3)
	code, text, err := c.reply()
	t5 := time.Now()
	st["final"] = t5.Sub(t4)
	st["file"] = t5.Sub(t0)
	if err != nil {
		return nil, nil, &StageError{Stage: "RETR final reply", Err: err}
	}
	if code/100 != 2 {
		return nil, nil, &ReplyError{Cmd: "RETR", Code: code, Text: text}
	}
	if derr != nil {
		return nil, nil, &StageError{Stage: "RETR data", Err: derr}
	}
	return buf.Bytes(), st, nil
}
