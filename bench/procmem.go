package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TreeMem is the memory of a process and all its descendants.
type TreeMem struct {
	Procs int
	RSS   int64 // KiB, sum of VmRSS (counts shared pages once per process)
	PSS   int64 // KiB, sum of Pss from smaps_rollup (shared pages split between sharers)
}

// ProcessTreeMem sums the memory of pid and its descendants. Forking servers
// (vsftpd, ProFTPD, Pure-FTPd) have one or two processes per session, so the
// daemon's cost is the whole tree; PSS is the fair sum, RSS overcounts the
// shared libraries and copy-on-write pages.
func ProcessTreeMem(pid int) (TreeMem, error) {
	var m TreeMem
	for _, p := range processTree(pid) {
		rss, pss, err := procMem(p)
		if err != nil {
			if p == pid {
				return m, err
			}
			continue // exited meanwhile
		}
		m.Procs++
		m.RSS += rss
		m.PSS += pss
	}
	return m, nil
}

// processTree lists pid and its descendants, pid first.
func processTree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, err := ppid(p); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}

// statFields is /proc/PID/stat after "(comm)", split (comm may hold spaces
// and parentheses).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed stat of %d", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

func ppid(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 2 {
		return 0, fmt.Errorf("malformed stat of %d", pid)
	}
	return strconv.Atoi(f[1])
}

// procMem reads VmRSS and Pss (KiB) of one process.
func procMem(pid int) (rss, pss int64, err error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "Rss":
			rss = n
		case "Pss":
			pss = n
		}
	}
	return rss, pss, sc.Err()
}

// LoadAvg is the 1-minute load average, to tell a quiet machine from a busy one.
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// TreeUse is what a process tree has used so far: CPU (user and system,
// every thread, and the children it has reaped), context switches of every
// thread, and read system calls with the bytes they returned (/proc/PID/io,
// which counts every thread).
type TreeUse struct {
	CPU      time.Duration
	VolCS    int64 // voluntary context switches (the thread slept)
	InvolCS  int64 // involuntary ones (the thread was preempted)
	ReadCall int64 // syscr
	ReadByte int64 // rchar
}

// Sub is u - o, field by field.
func (u TreeUse) Sub(o TreeUse) TreeUse {
	return TreeUse{u.CPU - o.CPU, u.VolCS - o.VolCS, u.InvolCS - o.InvolCS, u.ReadCall - o.ReadCall, u.ReadByte - o.ReadByte}
}

// ProcessTreeUse sums TreeUse over pid and its living descendants. A
// descendant that exited and was reaped still counts in its parent's CPU
// (cutime, cstime), not in the other fields.
func ProcessTreeUse(pid int) (TreeUse, error) {
	var u TreeUse
	for _, p := range processTree(pid) {
		f, err := statFields(p)
		if err != nil || len(f) < 15 {
			if p == pid {
				return u, fmt.Errorf("use of %d: %w", pid, err)
			}
			continue
		}
		var ticks int64
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
		u.CPU += time.Duration(ticks) * (time.Second / 100)
		dir := filepath.Join("/proc", strconv.Itoa(p))
		tasks, _ := os.ReadDir(filepath.Join(dir, "task"))
		for _, t := range tasks {
			kv := procKV(filepath.Join(dir, "task", t.Name(), "status"))
			u.VolCS += kv["voluntary_ctxt_switches"]
			u.InvolCS += kv["nonvoluntary_ctxt_switches"]
		}
		io := procKV(filepath.Join(dir, "io"))
		u.ReadCall += io["syscr"]
		u.ReadByte += io["rchar"]
	}
	return u, nil
}

// procKV reads "key: number" lines (status, io); missing keys are 0.
func procKV(path string) map[string]int64 {
	m := map[string]int64{}
	b, err := os.ReadFile(path)
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}
