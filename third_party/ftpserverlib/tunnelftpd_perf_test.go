package ftpserver

// tunnelftpd: tests of the reply writer's changes (PATCHES.md, performance 1).

import (
	"bufio"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// scannerLines is how getMessageLines split replies before: bufio.ScanLines.
func scannerLines(message string) []string {
	lines := []string{}
	sc := bufio.NewScanner(strings.NewReader(message))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) == 0 {
		lines = append(lines, "")
	}

	return lines
}

func TestMessageLinesAsTheScannerSplitThem(t *testing.T) {
	cases := []string{"", "\n", "\r\n", "\r", "a", "a\r", "a\n", "a\r\n", "a\nb", "a\r\nb\r\n", "a\n\nb\n\n",
		"\n\n", "a\rb\n", "226 Closing data connection, sent 4096 bytes", "211-Features:\n MDTM\n SIZE\n211 End"}
	rng := rand.New(rand.NewSource(1))
	for range 2000 {
		b := make([]byte, rng.Intn(12))
		for i := range b {
			b[i] = "ab\r\n "[rng.Intn(5)]
		}
		cases = append(cases, string(b))
	}
	for _, msg := range cases {
		if got, want := getMessageLines(msg), scannerLines(msg); !slices.Equal(got, want) {
			t.Errorf("getMessageLines(%q) = %q, want %q", msg, got, want)
		}
	}
}

// A line longer than the Scanner's 64 KiB limit no longer ends the reply there.
func TestMessageLinesKeepALongLine(t *testing.T) {
	long := strings.Repeat("x", 70000)
	if got := getMessageLines("first\n" + long + "\nlast"); len(got) != 3 || got[1] != long || got[2] != "last" {
		t.Errorf("got %d lines, want first, the long one and last", len(got))
	}
}

// A one-line reply costs one small allocation (the slice), not a Scanner and its 4 KiB buffer.
func TestMessageLinesAllocations(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { getMessageLines("226 Closing data connection, sent 4096 bytes") }); n > 1 {
		t.Errorf("a one-line reply allocates %v times, want at most 1", n)
	}
}

func BenchmarkMessageLines(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		getMessageLines("150 Using transfer connection")
		getMessageLines("226 Closing transfer connection")
	}
}

func BenchmarkMessageLinesScanner(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		scannerLines("150 Using transfer connection")
		scannerLines("226 Closing transfer connection")
	}
}
