package store

import (
	"context"
	"fmt"
)

// DayCounts is one day's counts by metric (daily_counts' names).
type DayCounts struct {
	Day    string // yyyy-mm-dd, Beijing
	Counts map[string]int
}

// Stats metrics as daily_counts names them.
const (
	MetricOpened       = metricOpened
	MetricClosed       = metricClosed
	MetricRefused      = "refused"
	MetricTerminated   = "terminate.succeeded"
	MetricTermFailed   = "terminate.failed"
	MetricLinksCreated = "link.created"
)

// FunnelMetric is the daily_counts metric of a funnel step.
func FunnelMetric(step string) string { return funnelMetricPrefix + step }

// DailyCounts reads the day counts from day `from` to day `to` (inclusive,
// yyyy-mm-dd), summed over sub-merchants, or of one sub-merchant when
// subMchID is not "". Days without any count are absent.
func (db *DB) DailyCounts(ctx context.Context, from, to, subMchID string) ([]DayCounts, error) {
	q := `SELECT day, metric, sum(n) FROM daily_counts WHERE day >= ? AND day <= ?`
	args := []any{from, to}
	if subMchID != "" {
		q = `SELECT day, metric, n FROM daily_counts WHERE sub_mchid = ? AND day >= ? AND day <= ?`
		args = []any{subMchID, from, to}
	} else {
		q += ` GROUP BY day, metric`
	}
	rows, err := db.read.QueryContext(ctx, q+` ORDER BY day`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: daily counts: %w", err)
	}
	defer rows.Close()
	var out []DayCounts
	for rows.Next() {
		var day, metric string
		var n int
		if err := rows.Scan(&day, &metric, &n); err != nil {
			return nil, fmt.Errorf("store: daily counts: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Day != day {
			out = append(out, DayCounts{Day: day, Counts: map[string]int{}})
		}
		out[len(out)-1].Counts[metric] += n
	}
	return out, rows.Err()
}

// SubMerchantCounts is one sub-merchant's counts over a span of days.
type SubMerchantCounts struct {
	ID       int64
	SubMchID string
	Name     string
	Counts   map[string]int
}

// CountsBySubMerchant sums the day counts from day `from` to `to` per
// registered sub-merchant (every one, in registration order, even those
// without counts).
func (db *DB) CountsBySubMerchant(ctx context.Context, from, to string) ([]SubMerchantCounts, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT m.id, m.sub_mchid, m.name, coalesce(d.metric, ''), coalesce(sum(d.n), 0)
		FROM sub_merchants m LEFT JOIN daily_counts d ON d.sub_mchid = m.sub_mchid AND d.day >= ? AND d.day <= ?
		GROUP BY m.id, d.metric ORDER BY m.id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: counts by sub-merchant: %w", err)
	}
	defer rows.Close()
	var out []SubMerchantCounts
	for rows.Next() {
		var c SubMerchantCounts
		var metric string
		var n int
		if err := rows.Scan(&c.ID, &c.SubMchID, &c.Name, &metric, &n); err != nil {
			return nil, fmt.Errorf("store: counts by sub-merchant: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].ID != c.ID {
			c.Counts = map[string]int{}
			out = append(out, c)
		}
		if metric != "" {
			out[len(out)-1].Counts[metric] = n
		}
	}
	return out, rows.Err()
}
