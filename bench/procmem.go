package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	children := map[int][]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return TreeMem{}, err
	}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pp, err := ppid(p)
		if err != nil {
			continue
		}
		children[pp] = append(children[pp], p)
	}
	var m TreeMem
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		queue = append(queue, children[p]...)
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

func ppid(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat of %d", pid)
	}
	f := strings.Fields(string(b[i+1:]))
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
