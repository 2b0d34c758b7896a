package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strings"
)

// Chart geometry (SVG user units).
const (
	chartW, chartH         = 760, 460
	plotL, plotR           = 80, 540 // plot area left and right edges
	plotT, plotB           = 50, 400 // plot area top and bottom edges
	legendX, legendY, legH = 560, 60, 22
)

// chartColors are distinguishable line colours (Okabe-Ito without its yellow, then a few more).
var chartColors = []string{"#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B", "#777777", "#17BECF"}

// SVG draws goodput against loss as a standalone SVG document: one line
// per link, loss rates evenly spaced on the x axis, goodput on a log scale.
// Links with no measured cell are listed in the legend as n/a; a link
// measured only without loss (TCP) is a single marker.
func (r *Results) SVG() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	losses := r.losses()
	if len(losses) == 0 {
		losses = Losses
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range r.Goodput {
		if x.Status == "" && x.Mbps > 0 {
			lo, hi = math.Min(lo, x.Mbps), math.Max(hi, x.Mbps)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 1000
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	xAt := func(i int) float64 {
		if len(losses) == 1 {
			return (plotL + plotR) / 2
		}
		return plotL + 20 + float64(i)*float64(plotR-plotL-40)/float64(len(losses)-1)
	}
	yAt := func(v float64) float64 {
		return plotB - (math.Log10(v)-dlo)/(dhi-dlo)*(plotB-plotT)
	}

	w(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	w(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	w(`<text x="%d" y="26" font-size="16" font-weight="bold">Loopback goodput vs netsim loss</text>`+"\n", plotL)
	sub := fmt.Sprintf("%s, %d CPUs, %s", r.Machine.CPUModel, r.Machine.NumCPU, r.Date.Format("2006-01-02 15:04 UTC"))
	if r.Machine.LoadAvg != "" {
		sub += ", load " + r.Machine.LoadAvg + " at the start"
	}
	w(`<text x="%d" y="42" fill="#555">%s</text>`+"\n", plotL, esc(sub))
	// Grid and y axis: one line per decade, lighter lines at 2x and 5x.
	for d := dlo; d <= dhi; d++ {
		v := math.Pow(10, d)
		y := yAt(v)
		w(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ccc"/>`+"\n", plotL, y, plotR, y)
		w(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotL-6, y+4, esc(formatMbps(v)))
		if d < dhi {
			for _, k := range []float64{2, 5} {
				y := yAt(k * v)
				w(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", plotL, y, plotR, y)
			}
		}
	}
	for i, l := range losses {
		x := xAt(i)
		w(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", x, plotT, x, plotB)
		w(`<text x="%.1f" y="%d" text-anchor="middle">%g%%</text>`+"\n", x, plotB+18, l*100)
	}
	w(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", plotL, plotT, plotR-plotL, plotB-plotT)
	w(`<text x="%d" y="%d" text-anchor="middle">packet loss (each direction)</text>`+"\n", (plotL+plotR)/2, plotB+40)
	w(`<text transform="translate(22 %d) rotate(-90)" text-anchor="middle">goodput, bit/s (log scale)</text>`+"\n", (plotT+plotB)/2)

	for li, link := range r.goodputLinks() {
		color := chartColors[li%len(chartColors)]
		var pts []string
		for i, l := range losses {
			if x, ok := r.goodput(link, l); ok && x.Status == "" && x.Mbps > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xAt(i), yAt(x.Mbps)))
			}
		}
		ly := legendY + li*legH
		label := link
		if len(pts) == 0 {
			label += " — n/a"
			w(`<text x="%d" y="%d" fill="#999">%s</text>`+"\n", legendX+28, ly+4, esc(label))
			continue
		}
		if len(pts) > 1 {
			w(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		}
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			w(`<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", x, y, color)
		}
		w(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", legendX, ly, legendX+22, ly, color)
		w(`<circle cx="%d" cy="%d" r="3.5" fill="%s"/>`+"\n", legendX+11, ly, color)
		w(`<text x="%d" y="%d">%s</text>`+"\n", legendX+28, ly+4, esc(label))
	}
	w("</svg>\n")
	return b.Bytes()
}

func formatMbps(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%gG", v/1000)
	case v >= 1:
		return fmt.Sprintf("%gM", v)
	default:
		return fmt.Sprintf("%gk", v*1000)
	}
}
