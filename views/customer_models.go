package views

import (
	"context"
	"time"
)

// Funnel step names as the views show them (the store's; views may not
// import it, and a test checks they agree).
const (
	FunnelOpened       = "opened"
	FunnelCheckOK      = "check_ok"
	FunnelCheckOld     = "check_old"
	FunnelCheckOutside = "check_outside"
	FunnelInvoked      = "invoked"
	FunnelAnswerOK     = "answer_ok"
	FunnelAnswerCancel = "answer_cancel"
	FunnelAnswerError  = "answer_error"
	FunnelNotified     = "notified"
)

// LinkFunnelSteps are a link's funnel rows, in the order a user goes.
var LinkFunnelSteps = []string{FunnelOpened, FunnelCheckOutside, FunnelCheckOld, FunnelCheckOK, FunnelInvoked,
	FunnelAnswerOK, FunnelAnswerCancel, FunnelAnswerError, FunnelNotified}

// LinkFunnelView is one link's funnel: counts by step.
type LinkFunnelView struct {
	Counts map[string]int
}

// Rate is n as a percentage of of, "–" when of is 0.
func Rate(n, of int) string {
	if of <= 0 {
		return "–"
	}
	p := float64(n) * 100 / float64(of)
	if p >= 10 || p == 0 {
		return itoa(int(p+0.5)) + "%"
	}
	return ftoa1(p) + "%"
}

func itoa(n int) string { return int64s(int64(n)) }

func ftoa1(f float64) string {
	n := int(f*10 + 0.5)
	return itoa(n/10) + "." + itoa(n%10)
}

// FunnelRow is the overview's funnel of a group of links (a sub-merchant,
// a day, or all): created → opened → invoked → agreed.
type FunnelRow struct {
	Label   string // a sub-merchant's name, or a day
	Href    string // its page, or ""
	Created int
	Opened  int
	Invoked int
	Agreed  int
}

// Chart is a bar chart over days with its numbers: one bar per day, the
// series stacked (or side by side when Stacked is false). The table under
// it has the same numbers.
type Chart struct {
	ID      string // element id and data-testid suffix
	Title   string // catalog key
	Days    []string
	Series  []ChartSeries
	Stacked bool
}

// ChartSeries is one series of a chart.
type ChartSeries struct {
	Label  string // catalog key
	Class  string // CSS class: its colour
	Values []int  // one per day
}

// ChartsView is the overview's (or a sub-merchant's) charts.
type ChartsView struct {
	Charts []Chart
	// Funnel is the last 30 days' funnel: in total, and per sub-merchant
	// (overview) or per day.
	Total         FunnelRow
	BySubMerchant []FunnelRow
	ByDay         []FunnelRow
}

// SubMerchantPageView is one sub-merchant's page: its charts and funnel.
type SubMerchantPageView struct {
	ID       int64
	SubMchID string
	Name     string
	Disabled bool
	Charts   ChartsView
}

// TimeLeft says how long a token has left, or how long ago it expired:
// "剩余 42 分钟" / "已过期 3 小时".
func TimeLeft(ctx context.Context, left time.Duration) string {
	key := "token.left"
	if left <= 0 {
		key, left = "token.expiredago", -left
	}
	switch {
	case left < time.Minute:
		return Tn(ctx, key+".seconds", int(left/time.Second))
	case left < 2*time.Hour:
		return Tn(ctx, key+".minutes", int(left/time.Minute))
	case left < 48*time.Hour:
		return Tn(ctx, key+".hours", int(left/time.Hour))
	}
	return Tn(ctx, key+".days", int(left/(24*time.Hour)))
}

// chartMax is the largest bar of a chart (a stack's sum when stacked).
func chartMax(c Chart) int {
	m := 0
	for i := range c.Days {
		sum := 0
		for _, s := range c.Series {
			if c.Stacked {
				sum += s.Values[i]
			} else {
				sum = max(sum, s.Values[i])
			}
		}
		m = max(m, sum)
	}
	return m
}

// niceMax rounds a chart's top up to 1, 2 or 5 × 10ⁿ (at least 1).
func niceMax(m int) int {
	if m <= 1 {
		return 1
	}
	for p := 1; ; p *= 10 {
		for _, f := range []int{1, 2, 5} {
			if f*p >= m {
				return f * p
			}
		}
	}
}

// chartBar is one drawn rectangle of a chart.
type chartBar struct {
	X, Y, W, H float64
	Class      string
	Title      string // "2026-11-02 · 开启 12"
}

// Chart geometry (SVG user units): the drawing area and the margins for the
// axis labels.
const (
	chartW, chartH          = 720.0, 200.0
	chartLeft, chartBottom  = 40.0, 24.0
	chartTop, chartRightPad = 8.0, 8.0
)

// chartBars lays a chart out.
func chartBars(ctx context.Context, c Chart) []chartBar {
	top := float64(niceMax(chartMax(c)))
	n := len(c.Days)
	if n == 0 {
		return nil
	}
	plotW := chartW - chartLeft - chartRightPad
	plotH := chartH - chartTop - chartBottom
	slot := plotW / float64(n)
	var out []chartBar
	for i, day := range c.Days {
		x := chartLeft + float64(i)*slot + slot*0.15
		w := slot * 0.7
		base := chartTop + plotH
		for j, s := range c.Series {
			v := s.Values[i]
			h := float64(v) / top * plotH
			bx, bw := x, w
			if !c.Stacked {
				bw = w / float64(len(c.Series))
				bx = x + float64(j)*bw
			}
			if v > 0 {
				out = append(out, chartBar{X: bx, Y: base - h, W: bw, H: h, Class: s.Class,
					Title: day + " · " + T(ctx, s.Label) + " " + itoa(v)})
			}
			if c.Stacked {
				base -= h
			}
		}
	}
	return out
}

// chartTick is a label on an axis.
type chartTick struct {
	X, Y  float64
	Label string
}

// chartYTicks are 0, half and the top of the y axis.
func chartYTicks(c Chart) []chartTick {
	top := niceMax(chartMax(c))
	plotH := chartH - chartTop - chartBottom
	var out []chartTick
	for _, v := range []int{0, top / 2, top} {
		if v == 0 && top == 1 {
			continue
		}
		out = append(out, chartTick{X: chartLeft - 6, Y: chartTop + plotH - float64(v)/float64(top)*plotH + 4, Label: itoa(v)})
	}
	return out
}

// chartXTicks label every 7th day from the last, "MM-DD".
func chartXTicks(c Chart) []chartTick {
	n := len(c.Days)
	plotW := chartW - chartLeft - chartRightPad
	slot := plotW / float64(max(n, 1))
	var out []chartTick
	for i := n - 1; i >= 0; i -= 7 {
		d := c.Days[i]
		if len(d) == 10 {
			d = d[5:]
		}
		out = append(out, chartTick{X: chartLeft + float64(i)*slot + slot/2, Y: chartH - 6, Label: d})
	}
	return out
}

// seriesTotal is a series' sum.
func seriesTotal(s ChartSeries) int {
	n := 0
	for _, v := range s.Values {
		n += v
	}
	return n
}
