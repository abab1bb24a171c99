package bench

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
	"sync"
	"time"
)

// Result is one raw figure, written as one JSON line.
type Result struct {
	Run      string         `json:"run"`   // run id: start time of the whole run
	Phase    string         `json:"phase"` // loopback, tunnel, concurrency, files, sessions
	Server   string         `json:"server"`
	Metric   string         `json:"metric"`
	Unit     string         `json:"unit"`
	Value    float64        `json:"value"`             // the figure: median of Samples when there are several
	Samples  []float64      `json:"samples,omitempty"` // one per run
	OK       int            `json:"ok,omitempty"`
	Failures map[string]int `json:"failures,omitempty"` // by reply code or failing stage
	Err      string         `json:"error,omitempty"`    // the figure could not be measured (or a check failed)
	Extra    map[string]any `json:"extra,omitempty"`
	Time     time.Time      `json:"time"`
}

// Failed reports whether the figure is missing or a check failed.
func (r Result) Failed() bool { return r.Err != "" }

// Sink collects results and appends them to a JSON-lines file as they come,
// so a run cut short still leaves its figures.
type Sink struct {
	Run string

	mu  sync.Mutex
	f   *os.File
	all []Result
	log func(Result)
}

// NewSink opens (truncates) path.
func NewSink(path, run string, log func(Result)) (*Sink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &Sink{Run: run, f: f, log: log}, nil
}

// Add records r.
func (s *Sink) Add(r Result) {
	r.Run = s.Run
	r.Time = time.Now().UTC().Truncate(time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, r)
	if s.f != nil {
		b, _ := json.Marshal(r)
		s.f.Write(append(b, '\n'))
	}
	if s.log != nil {
		s.log(r)
	}
}

// Results returns what was added so far.
func (s *Sink) Results() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Result(nil), s.all...)
}

// Close closes the file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// ReadResults reads a JSON-lines file; lines of other runs than the last
// one in the file are dropped.
func ReadResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var all []Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		all = append(all, r)
	}
	if len(all) == 0 {
		return nil, sc.Err()
	}
	last := all[len(all)-1].Run
	out := all[:0]
	for _, r := range all {
		if r.Run == last {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// median of xs (xs is not modified).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
