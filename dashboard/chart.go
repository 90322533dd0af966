package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// The charts are inline SVG drawn here from numbers, with axes, tick labels
// and a legend; the page needs no script and loads nothing.

type point struct {
	at time.Time
	v  float64
	ok bool // false: nothing to draw here (no traffic in the interval)
}

type series struct {
	name  string
	class string // s1..s4: the colour, from the page's style sheet
	pts   []point
}

type timeAxis struct {
	now   time.Time
	span  time.Duration
	every time.Duration
}

const (
	chartW, chartH = 360.0, 120.0
	padL, padR     = 44.0, 8.0
	padT, padB     = 8.0, 20.0
)

// lineChart draws series over the time axis. percent: the y axis is 0..100%;
// otherwise it runs from 0 to a round number above the largest value.
func lineChart(label string, ta timeAxis, percent bool, ss []series) template.HTML {
	top := 1.0
	if !percent {
		top = 0
		for _, s := range ss {
			for _, p := range s.pts {
				if p.ok && p.v > top {
					top = p.v
				}
			}
		}
		top = niceCeil(top)
	}
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	x := func(t time.Time) float64 {
		return padL + plotW*(1-float64(ta.now.Sub(t))/float64(ta.span))
	}
	y := func(v float64) float64 { return padT + plotH*(1-v/top) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, template.HTMLEscapeString(label))
	// y axis: gridlines and labels at 0, half and top.
	for _, f := range []float64{0, 0.5, 1} {
		v := top * f
		yy := y(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, yy, padL+plotW, yy)
		text := formatCount(v)
		if percent {
			text = strconv.Itoa(int(f*100)) + "%"
		}
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padL-4, yy+3.5, text)
	}
	// x axis: the window's start, middle and now.
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, padT+plotH, padL+plotW, padT+plotH)
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, padT, padL, padT+plotH)
	for i, f := range []float64{0, 0.5, 1} {
		xx := padL + plotW*f
		text := "now"
		if f < 1 {
			text = "-" + formatSpan(time.Duration(float64(ta.span)*(1-f)))
		}
		anchor := [...]string{"start", "middle", "end"}[i]
		fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, xx, padT+plotH, xx, padT+plotH+3)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, xx, chartH-5, anchor, text)
	}
	start := ta.now.Add(-ta.span)
	for _, s := range ss {
		var seg []string
		flush := func() {
			if len(seg) > 1 {
				fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, s.class, strings.Join(seg, " "))
			}
			seg = seg[:0]
		}
		var last time.Time
		for _, p := range s.pts {
			if !p.ok || p.at.Before(start) {
				flush()
				continue
			}
			if !last.IsZero() && p.at.Sub(last) > 2*ta.every {
				flush() // a quiet stretch: no line across it
			}
			last = p.at
			px, py := x(p.at), y(p.v)
			seg = append(seg, fmt.Sprintf("%.1f,%.1f", px, py))
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="2"><title>%s %s</title></circle>`,
				s.class, px, py, template.HTMLEscapeString(s.name), valueText(p.v, percent))
		}
		flush()
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers, and labels escaped above
}

// bar is one row of a bar chart.
type bar struct {
	Name  string
	Value float64
}

// barChart draws horizontal bars on a scale from 0 to a round number
// above the largest value (or to bound, when it is positive: a gauge).
func barChart(label string, bars []bar, bound float64, unit func(float64) string) template.HTML {
	if unit == nil {
		unit = formatCount
	}
	top := bound
	if top <= 0 {
		for _, br := range bars {
			top = math.Max(top, br.Value)
		}
		top = niceCeil(top)
	}
	const rowH, nameW = 18.0, 130.0
	plotW := chartW - nameW - padR - 12
	h := padT + rowH*float64(len(bars)) + padB
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart bars" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s">`,
		chartW, h, chartW, h, template.HTMLEscapeString(label))
	axisY := padT + rowH*float64(len(bars))
	for i, f := range []float64{0, 0.5, 1} {
		xx := nameW + plotW*f
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, xx, padT, xx, axisY)
		anchor := [...]string{"start", "middle", "end"}[i]
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, xx, axisY+14, anchor, template.HTMLEscapeString(unit(top*f)))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, nameW, axisY, nameW+plotW, axisY)
	for i, br := range bars {
		yy := padT + rowH*float64(i)
		w := 0.0
		if top > 0 {
			w = plotW * math.Min(br.Value/top, 1)
		}
		name := template.HTMLEscapeString(br.Name)
		fmt.Fprintf(&b, `<text class="name" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, nameW-6, yy+rowH-5, name)
		fmt.Fprintf(&b, `<rect class="s1" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
			nameW, yy+3, math.Max(w, 1), rowH-6, name, template.HTMLEscapeString(unit(br.Value)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil is the smallest of 1, 2, 5 times a power of ten that is at
// least v (1 for v <= 1), so that half of it is a round number too.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func formatCount(v float64) string {
	switch {
	case v >= 1e9:
		return trimZero(v/1e9) + "G"
	case v >= 1e6:
		return trimZero(v/1e6) + "M"
	case v >= 1e3:
		return trimZero(v/1e3) + "k"
	}
	return trimZero(v)
}

func formatBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return trimZero(v/(1<<30)) + " GiB"
	case v >= 1<<20:
		return trimZero(v/(1<<20)) + " MiB"
	case v >= 1<<10:
		return trimZero(v/(1<<10)) + " KiB"
	}
	return trimZero(v) + " B"
}

func trimZero(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0")
}

func valueText(v float64, percent bool) string {
	if percent {
		return strconv.FormatFloat(v*100, 'f', 0, 64) + "%"
	}
	return formatCount(v)
}

// formatSpan writes a duration the way the axis shows it: 10m, 90s, 2h.
func formatSpan(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d >= time.Second:
		return trimZero(d.Seconds()) + "s"
	}
	return d.String()
}
