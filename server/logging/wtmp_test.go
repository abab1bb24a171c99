package logging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tunnelftpd/tunnelftpd/internal/testutil"
)

// The records are read back by util-linux's own reader of the glibc format.
func TestWtmpRecordsReadByUtmpdump(t *testing.T) {
	testutil.RequireTool(t, "utmpdump")
	path := filepath.Join(t.TempDir(), "wtmp")
	if err := os.WriteFile(path, nil, 0o664); err != nil {
		t.Fatal(err)
	}
	w, err := OpenWtmp(path)
	if err != nil {
		t.Fatal(err)
	}
	line := WtmpLine(os.Getpid(), 3, false)
	if err := w.Login(line, "alice", "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	if err := w.Logout(line); err != nil {
		t.Fatal(err)
	}
	w.Close()
	st, err := os.Stat(path)
	if err != nil || st.Size() != 2*utmpSize {
		t.Fatalf("file size %v, %v; want two %d-byte records", st.Size(), err, utmpSize)
	}
	out, err := exec.Command("utmpdump", path).CombinedOutput()
	if err != nil {
		t.Fatalf("utmpdump: %v\n%s", err, out)
	}
	var recs []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "[") {
			recs = append(recs, l)
		}
	}
	if len(recs) != 2 {
		t.Fatalf("utmpdump shows %d records:\n%s", len(recs), out)
	}
	pid := fmt.Sprintf("[%05d]", os.Getpid()) // utmpdump's width
	for i, want := range [][]string{
		{"[7] " + pid, "[alice   ", "[" + pad(line, 12) + "]", "[192.0.2.7", "[192.0.2.7      ]"},
		{"[8] " + pid, "[        ]", "[" + pad(line, 12) + "]"},
	} {
		for _, w := range want {
			if !strings.Contains(recs[i], w) {
				t.Errorf("record %d %q lacks %q", i, recs[i], w)
			}
		}
	}
	if _, err := OpenWtmp(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("OpenWtmp created a missing file")
	}
}

func pad(s string, n int) string {
	for len(s) < n {
		s += " "
	}
	return s
}
