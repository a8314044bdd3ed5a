package service

import (
	"context"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// ChartDays is how many days the charts show, today included.
const ChartDays = 30

// StatsStore is what the statistics need from the database.
type StatsStore interface {
	DailyCounts(ctx context.Context, from, to, subMchID string) ([]store.DayCounts, error)
	CountsBySubMerchant(ctx context.Context, from, to string) ([]store.SubMerchantCounts, error)
	SubMerchantByID(ctx context.Context, id int64) (*store.SubMerchant, error)
	SubMerchantByMchID(ctx context.Context, subMchID string) (*store.SubMerchant, error)
}

// SubMerchant finds the sub-merchant whose page charts it, by id.
func (s *Stats) SubMerchant(ctx context.Context, id int64) (*store.SubMerchant, error) {
	return s.Store.SubMerchantByID(ctx, id)
}

// SubMerchantByMchID finds a sub-merchant by its sub_mchid.
func (s *Stats) SubMerchantByMchID(ctx context.Context, subMchID string) (*store.SubMerchant, error) {
	return s.Store.SubMerchantByMchID(ctx, subMchID)
}

// Stats reads the day counts behind the charts and the funnel.
type Stats struct {
	Store StatsStore
	Now   func() time.Time
}

// Daily is a span of days and each day's counts by metric (store.Metric*,
// store.FunnelMetric(step)); every day of the span is present.
type Daily struct {
	Days   []string // yyyy-mm-dd, Beijing, oldest first
	counts []map[string]int
}

// Values is one metric's count for each day of the span.
func (d Daily) Values(metric string) []int {
	out := make([]int, len(d.Days))
	for i, c := range d.counts {
		out[i] = c[metric]
	}
	return out
}

// Total is one metric's count over the span.
func (d Daily) Total(metric string) int {
	n := 0
	for _, c := range d.counts {
		n += c[metric]
	}
	return n
}

// Report is what the overview (or a sub-merchant's page) charts.
type Report struct {
	Daily Daily
	// BySubMerchant sums the span per sub-merchant (the overview only).
	BySubMerchant []store.SubMerchantCounts
}

// Report reads the last ChartDays days: of every sub-merchant when
// subMchID is "", with the per-sub-merchant sums; of one otherwise.
func (s *Stats) Report(ctx context.Context, subMchID string) (Report, error) {
	now := nowOr(s.Now)
	var days []string
	for i := ChartDays - 1; i >= 0; i-- {
		days = append(days, store.Day(now.Add(-time.Duration(i)*24*time.Hour)))
	}
	from, to := days[0], days[len(days)-1]
	rows, err := s.Store.DailyCounts(ctx, from, to, subMchID)
	if err != nil {
		return Report{}, err
	}
	byDay := map[string]map[string]int{}
	for _, r := range rows {
		byDay[r.Day] = r.Counts
	}
	r := Report{Daily: Daily{Days: days}}
	for _, d := range days {
		r.Daily.counts = append(r.Daily.counts, byDay[d])
	}
	if subMchID == "" {
		if r.BySubMerchant, err = s.Store.CountsBySubMerchant(ctx, from, to); err != nil {
			return Report{}, err
		}
	}
	return r, nil
}
