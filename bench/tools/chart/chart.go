// Package chart draws the benchmark's figures with gonum/plot: one panel per
// figure, one bar per server, with the min-max range of the runs as an error
// bar and the median written above each bar. What the figures are comes from
// the caller (ftpbench writes the panels as JSON); this package only draws.
// It is not used by the daemon.
package chart

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Spec is the whole chart.
type Spec struct {
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is one figure.
type Panel struct {
	Title       string `json:"title"`
	Unit        string `json:"unit"`
	LowerBetter bool   `json:"lower_better"`
	Bars        []Bar  `json:"bars"`
}

// Bar is one server's figure. Text is the figure as written above the bar
// (the bench gives it as its table writes it; Value in Go's shortest form
// otherwise). Missing marks a server without a figure (failed, not
// supported); Note is then written instead of a bar.
type Bar struct {
	Label   string  `json:"label"`
	Value   float64 `json:"value"`
	Text    string  `json:"text,omitempty"`
	Min     float64 `json:"min,omitempty"`
	Max     float64 `json:"max,omitempty"`
	Missing bool    `json:"missing,omitempty"`
	Note    string  `json:"note,omitempty"`
}

// ReadSpec reads a Spec from JSON.
func ReadSpec(r io.Reader) (*Spec, error) {
	var s Spec
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("chart: reading the panels: %w", err)
	}
	if len(s.Panels) == 0 {
		return nil, fmt.Errorf("chart: no panels")
	}
	return &s, nil
}

// palette gives each server the same color in every panel, by its position
// in the first panel that names it.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue: tunnelftpd comes first
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// Columns is the number of panels per row.
const Columns = 4

// Write draws s into path; the extension chooses SVG or PNG.
func Write(s *Spec, path string) error {
	rows := (len(s.Panels) + Columns - 1) / Columns
	w, h := vg.Length(Columns)*3.4*vg.Inch, vg.Length(rows)*2.6*vg.Inch+0.5*vg.Inch
	var canvas vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		canvas = vgsvg.New(w, h)
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))}
	default:
		return fmt.Errorf("chart: %s: want a .svg or .png file", path)
	}
	if err := Draw(s, canvas, w, h); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("chart: writing %s: %w", path, err)
	}
	return f.Close()
}

// Draw draws s on c, w by h.
func Draw(s *Spec, c vg.CanvasSizer, w, h vg.Length) error {
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	colors := map[string]color.Color{}
	for _, p := range s.Panels {
		for _, b := range p.Bars {
			if _, ok := colors[b.Label]; !ok {
				colors[b.Label] = palette[len(colors)%len(palette)]
			}
		}
	}
	if s.Title != "" {
		sty := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 13), XAlign: draw.XCenter, YAlign: draw.YTop,
			Handler: plot.DefaultTextHandler}
		dc.FillText(sty, vg.Point{X: w / 2, Y: h - 0.1*vg.Inch}, s.Title)
		dc.Max.Y -= 0.4 * vg.Inch
	}
	rows := (len(s.Panels) + Columns - 1) / Columns
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, Columns)
	}
	for i, p := range s.Panels {
		pl, err := panel(p, colors)
		if err != nil {
			return fmt.Errorf("chart: panel %q: %w", p.Title, err)
		}
		grid[i/Columns][i%Columns] = pl
	}
	tiles := draw.Tiles{Rows: rows, Cols: Columns, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j, pl := range grid[i] {
			if pl != nil {
				pl.Draw(canvases[i][j])
			}
		}
	}
	return nil
}

// panel builds one figure's plot.
func panel(p Panel, colors map[string]color.Color) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.Title.TextStyle.Font.Size = 9
	better := "higher is better"
	if p.LowerBetter {
		better = "lower is better"
	}
	pl.Y.Label.Text = strings.TrimSpace(p.Unit + " (" + better + ")")
	pl.Y.Label.TextStyle.Font.Size = 7
	pl.Y.Tick.Label.Font.Size = 7
	pl.X.Tick.Label.Font.Size = 7
	pl.Y.Min = 0
	var names []string
	var errs plotter.XYs
	var errv plotter.YErrors
	var labels plotter.XYLabels
	top := 0.0
	for _, b := range p.Bars {
		if !b.Missing {
			top = math.Max(top, math.Max(b.Value, b.Max))
		}
	}
	for i, b := range p.Bars {
		names = append(names, b.Label)
		if b.Missing || math.IsNaN(b.Value) {
			note := b.Note
			if note == "" {
				note = "none"
			}
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: top * 0.02})
			labels.Labels = append(labels.Labels, note)
			continue
		}
		bc, err := plotter.NewBarChart(plotter.Values{b.Value}, vg.Points(16))
		if err != nil {
			return nil, err
		}
		bc.XMin = float64(i)
		bc.Color = colors[b.Label]
		bc.LineStyle.Width = 0
		pl.Add(bc)
		lo, hi := b.Min, b.Max
		if lo != 0 || hi != 0 {
			errs = append(errs, plotter.XY{X: float64(i), Y: b.Value})
			errv = append(errv, struct{ Low, High float64 }{b.Value - lo, hi - b.Value})
		}
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: math.Max(b.Value, hi)})
		text := b.Text
		if text == "" {
			text = strconv.FormatFloat(b.Value, 'g', -1, 64)
		}
		labels.Labels = append(labels.Labels, text)
	}
	if len(errs) > 0 {
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{errs, errv})
		if err != nil {
			return nil, err
		}
		eb.CapWidth = vg.Points(6)
		pl.Add(eb)
	}
	if len(labels.Labels) > 0 {
		lb, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, err
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Font.Size = 7
			lb.TextStyle[i].XAlign = draw.XCenter
			lb.Offset = vg.Point{Y: vg.Points(2)}
		}
		pl.Add(lb)
	}
	if top > 0 {
		pl.Y.Max = top * 1.18 // room for the labels
	}
	pl.NominalX(names...)
	return pl, nil
}
