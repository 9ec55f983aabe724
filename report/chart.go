package report

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart size: 1000×500 pixels at 96 dpi, readable on a laptop and in a
// README at full width.
const (
	chartDPI    = 96
	ChartWidth  = 1000 // pixels
	ChartHeight = 500
	maxGroups   = 10 // more are summed as "other": an eleventh colour reads as noise
)

// ErrNoSteps says a chart was asked of a report without history over time.
var ErrNoSteps = errors.New("a chart needs history over time, and this report has totals only: " +
	"run `shaper serve --state-dir` to keep history, or use -o table, csv or json")

// palette is Tableau 10: distinct colours that stay distinct for the
// colour-blind and in grey.
var palette = []color.RGBA{
	{0x4e, 0x79, 0xa7, 0xff}, {0xf2, 0x8e, 0x2b, 0xff}, {0xe1, 0x57, 0x59, 0xff}, {0x76, 0xb7, 0xb2, 0xff},
	{0x59, 0xa1, 0x4f, 0xff}, {0xed, 0xc9, 0x48, 0xff}, {0xb0, 0x7a, 0xa1, 0xff}, {0xff, 0x9d, 0xa7, 0xff},
	{0x9c, 0x75, 0x5f, 0xff}, {0xba, 0xb0, 0xac, 0xff},
}

// WriteChart draws the report as a stacked area chart of each group's rate
// over time, as "svg" or "png".
func (r *Report) WriteChart(w io.Writer, format string) error {
	if r.Step <= 0 || len(r.Times) == 0 {
		return ErrNoSteps
	}
	wpt := vg.Length(ChartWidth) * vg.Inch / chartDPI
	hpt := vg.Length(ChartHeight) * vg.Inch / chartDPI
	var c vg.CanvasWriterTo
	switch format {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(wpt, hpt), vgimg.UseDPI(chartDPI))}
	case "svg":
		c = vgsvg.New(wpt, hpt)
	default:
		return fmt.Errorf("unknown chart format %q: use svg or png", format)
	}
	if err := r.drawChart(draw.New(c)); err != nil {
		return err
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("write %s chart: %w", format, err)
	}
	return nil
}

// drawChart draws the plot on the left and its legend in a column on the
// right, so that no area hides behind it.
func (r *Report) drawChart(dc draw.Canvas) error {
	names, bits := r.chartGroups()
	p := plot.New()
	p.Title.Text = r.Title()
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = "time (" + zoneName(r.From) + ")"
	p.Y.Label.Text = r.directionWords() + ", bit/s"
	p.Title.Padding = vg.Points(8)
	p.X.Tick.Marker = timeTicks{loc: r.From.Location()}
	p.Y.Tick.Marker = bitsTicks{}
	p.Add(plotter.NewGrid())
	p.X.Min, p.X.Max = unix(r.Times[0]), unix(r.Times[len(r.Times)-1].Add(r.Step))
	p.Y.Min = 0

	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.ThumbnailWidth = vg.Points(14)
	lower := make([]float64, len(r.Times))
	for i, name := range names {
		area, err := r.area(lower, bits[i], palette[i%len(palette)])
		if err != nil {
			return fmt.Errorf("chart %s: %w", name, err)
		}
		p.Add(area)
		legend.Add(name, area)
	}
	p.Y.Max = max(p.Y.Max, peakOf(lower)*1.05, 1)

	legend.Padding = vg.Points(3)
	legend.TextStyle.Font.Size = vg.Points(11)
	dc = draw.Crop(dc, vg.Points(6), -vg.Points(6), vg.Points(4), -vg.Points(4))
	lw := legendWidth(legend, names)
	p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	legend.YOffs = -p.Title.TextStyle.Height(p.Title.Text) - 2*p.Title.Padding
	legend.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-lw+vg.Points(10), 0, 0, 0))
	return nil
}

// area is the band of one group: from the groups below it (lower, which it
// then raises by its own rate) to the new top. Each step is drawn flat, as
// the step's mean.
func (r *Report) area(lower, bits []float64, fill color.Color) (*plotter.Polygon, error) {
	n := len(r.Times)
	pts := make(plotter.XYs, 0, 4*n)
	for j, t := range r.Times { // along the top, left to right
		y := lower[j] + bits[j]
		pts = append(pts, plotter.XY{X: unix(t), Y: y}, plotter.XY{X: unix(t.Add(r.Step)), Y: y})
	}
	for j := n - 1; j >= 0; j-- { // back along the bottom
		t := r.Times[j]
		pts = append(pts, plotter.XY{X: unix(t.Add(r.Step)), Y: lower[j]}, plotter.XY{X: unix(t), Y: lower[j]})
	}
	for j := range lower {
		lower[j] += bits[j]
	}
	poly, err := plotter.NewPolygon(pts)
	if err != nil {
		return nil, err
	}
	poly.Color = fill
	poly.LineStyle.Width = 0
	return poly, nil
}

// chartGroups are the rows' names and rates, the smallest beyond maxGroups
// summed as "other".
func (r *Report) chartGroups() ([]string, [][]float64) {
	var names []string
	var bits [][]float64
	var rows []Row
	var rowBits [][]float64
	for i, row := range r.Rows {
		if !row.Parent { // its children are drawn
			rows, rowBits = append(rows, row), append(rowBits, r.Bits[i])
		}
	}
	for i, row := range rows {
		if i < maxGroups-1 || len(rows) == maxGroups {
			names = append(names, row.Name)
			bits = append(bits, rowBits[i])
			continue
		}
		if i == maxGroups-1 {
			names = append(names, fmt.Sprintf("other (%d)", len(rows)-i))
			bits = append(bits, make([]float64, len(r.Times)))
		}
		for j, b := range rowBits[i] {
			bits[len(bits)-1][j] += b
		}
	}
	return names, bits
}

func legendWidth(l plot.Legend, names []string) vg.Length {
	w := vg.Points(60)
	for _, n := range names {
		w = max(w, l.TextStyle.Width(n))
	}
	return w + l.ThumbnailWidth + vg.Points(24)
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func peakOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

func zoneName(t time.Time) string {
	name, _ := t.Zone()
	return name
}

// bitsTicks labels the rate axis in bit/s with k, M and G.
type bitsTicks struct{}

func (bitsTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = bitsLabel(ticks[i].Value)
		}
	}
	return ticks
}

// bitsLabel is a short tick label: "0", "500k", "2.5M", "1G".
func bitsLabel(v float64) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= u.div {
			return fmt.Sprintf("%g%s", math.Round(v/u.div*100)/100, u.suffix)
		}
	}
	return fmt.Sprintf("%g", v)
}
