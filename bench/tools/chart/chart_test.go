package chart

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func spec() *Spec {
	return &Spec{Title: "run X", Panels: []Panel{
		{Title: "mirror down p10", Unit: "s", LowerBetter: true, Bars: []Bar{
			{Label: "tunnelftpd", Value: 8.1, Text: "8.10", Min: 7.9, Max: 8.6},
			{Label: "vsftpd", Value: 12, Text: "12.0", Min: 11, Max: 13},
			{Label: "pure-ftpd", Missing: true, Note: "FAIL"},
		}},
		{Title: "RETR 512 MiB", Unit: "MiB/s", Bars: []Bar{{Label: "tunnelftpd", Value: 45.25, Text: "45.3"}, {Label: "raw", Value: 47.125}}},
	}}
}

func TestSVGHasEveryPanelAndBar(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.svg")
	if err := Write(spec(), path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	// gonum's SVG writes each glyph run as text; the labels, titles, the
	// medians above the bars (as given, or in full without a text) and the
	// note of the missing bar must be there.
	for _, want := range []string{"run X", "mirror down p10", "RETR 512 MiB", "tunnelftpd", "vsftpd", "pure-ftpd", "raw", "8.10", "12.0", "45.3", "47.125", "FAIL", "lower is better", "higher is better"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
	// One filled bar per figure: tunnelftpd's blue appears in both panels.
	if n := strings.Count(svg, "fill:#1F77B4") + strings.Count(svg, "fill:#1f77b4"); n < 2 {
		t.Errorf("tunnelftpd's bar colour appears %d times, want one bar in each of the 2 panels", n)
	}
}

func TestPNGDecodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	if err := Write(spec(), path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Some pixel has tunnelftpd's colour.
	found := false
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y && !found; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr>>8 == 0x1f && cg>>8 == 0x77 && cb>>8 == 0xb4 {
				found = true
				break
			}
		}
	}
	if !found {
		t.Fatal("no pixel of tunnelftpd's bar colour in the PNG")
	}
}

func TestRejectsUnknownFormatAndEmptySpec(t *testing.T) {
	if err := Write(spec(), filepath.Join(t.TempDir(), "c.gif")); err == nil {
		t.Error("a .gif path was accepted")
	}
	if _, err := ReadSpec(strings.NewReader(`{"panels":[]}`)); err == nil {
		t.Error("a spec without panels was accepted")
	}
}
