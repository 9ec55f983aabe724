package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shaperdev/shaper/history"
)

// dayFixture is a day of 5 min steps: apps with daily rhythms, so that the
// chart looks like one a user would see.
func dayFixture(names ...string) []history.Series {
	var out []history.Series
	for k, name := range names {
		out = append(out, series("egress", history.KindApp, name, 288, 5*time.Minute, func(i int) uint64 {
			phase := float64(i)/288*2*math.Pi + float64(k)
			return uint64(float64(300e6/(k+1)) * (1.2 + math.Sin(phase)))
		}))
	}
	return out
}

func chart(t *testing.T, format string, names ...string) []byte {
	t.Helper()
	r := Build(dayFixture(names...), Options{By: ByApp, Direction: Up, Netns: "lab"}, t0, t0.Add(24*time.Hour), 5*time.Minute)
	var buf bytes.Buffer
	if err := r.WriteChart(&buf, format); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("SHAPER_CHART_DIR"); dir != "" {
		_ = os.WriteFile(dir+"/fixture."+format, buf.Bytes(), 0o644)
	}
	return buf.Bytes()
}

func TestPNGChart(t *testing.T) {
	img, err := png.Decode(bytes.NewReader(chart(t, "png", "web", "video", "mail", "updates")))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != ChartWidth || b.Dy() != ChartHeight {
		t.Fatalf("size %v, want %d×%d", b, ChartWidth, ChartHeight)
	}
	// The middle of the plot area is filled by the stacked areas: most of
	// its pixels are neither white nor grey, and at least 4 colours show.
	coloured, colours := 0, map[color.RGBA]int{}
	region := image.Rect(ChartWidth/5, ChartHeight/3, ChartWidth*3/5, ChartHeight*4/5)
	for y := region.Min.Y; y < region.Max.Y; y++ {
		for x := region.Min.X; x < region.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if c.R != c.G || c.G != c.B {
				coloured++
				colours[c]++
			}
		}
	}
	if total := region.Dx() * region.Dy(); coloured < total/2 {
		t.Errorf("plot area: %d of %d pixels coloured", coloured, total)
	}
	seen := 0
	for _, p := range palette[:4] {
		if colours[p] > 100 {
			seen++
		}
	}
	if seen != 4 {
		t.Errorf("%d of the 4 groups' colours fill the plot area", seen)
	}
}

func TestSVGChartLegend(t *testing.T) {
	names := []string{"web", "video", "mail", "updates", "backup"}
	svg := string(chart(t, "svg", names...))
	for _, n := range names {
		if c := strings.Count(svg, ">"+n+"<"); c != 1 {
			t.Errorf("%q is in the chart %d times, want once (the legend)", n, c)
		}
	}
	for _, want := range []string{"shaper: bandwidth by app, 2026-12-01 10:00 – 2026-12-02 10:00 (5m)", "bit/s", "time (UTC)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

func TestChartOther(t *testing.T) {
	var names []string
	for i := range 14 {
		names = append(names, "app"+string(rune('a'+i)))
	}
	svg := string(chart(t, "svg", names...))
	if !strings.Contains(svg, ">other (5)<") || strings.Contains(svg, ">appn<") {
		t.Errorf("14 groups: the chart does not sum the smallest five as other")
	}
}
