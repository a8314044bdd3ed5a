package handlers

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/store"
)

// maxPollGaps bounds the gaps a poll URL carries: the newest are kept.
const maxPollGaps = 100

// gapsParam reads the poller's gaps: comma-separated ids below its cursor
// that were missing when it last looked.
func gapsParam(c echo.Context) ([]int64, error) {
	s := c.QueryParam("gaps")
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxPollGaps {
		return nil, errBadRequest()
	}
	out := make([]int64, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n <= 0 {
			return nil, errBadRequest()
		}
		out = append(out, n)
	}
	return out, nil
}

func formatGaps(gaps []int64) string {
	parts := make([]string, len(gaps))
	for i, g := range gaps {
		parts[i] = strconv.FormatInt(g, 10)
	}
	return strings.Join(parts, ",")
}

// pollGaps completes a poll (or the newest page) of the callback log under
// concurrent writers: ids are taken in one order and committed in another,
// so a row with a lower id than one already shown may become visible later.
// The poller carries the ids missing below its cursor (gaps); each poll
// fetches those that arrived (matching the filter: they join the new rows),
// forgets those that arrived filtered out or can no longer arrive (below a
// row received more than store.PollSettle ago), and adds the ids missing
// among the rows it returns (fresh: read in the rows' snapshot,
// store.CallbacksWithGaps). rows are the poll's new rows (newest first).
// For the newest page (not polling) the gaps are those among its rows.
func (h *Handler) pollGaps(ctx context.Context, f store.CallbackFilter, rows []store.Callback, fresh []int64, polling bool, carried []int64) ([]store.Callback, []int64, error) {
	if !polling {
		carried = nil
	}
	var gaps []int64
	if len(carried) > 0 {
		arrived, err := h.Logs.CallbackIDsIn(ctx, carried)
		if err != nil {
			return nil, nil, err
		}
		var came []int64
		for _, id := range carried {
			if arrived[id] {
				came = append(came, id)
			} else {
				gaps = append(gaps, id)
			}
		}
		late, err := h.Logs.CallbacksByIDs(ctx, f, came)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, late...)
		slices.SortFunc(rows, func(a, b store.Callback) int { return int(b.ID - a.ID) })
	}
	gaps = append(gaps, fresh...)
	if len(gaps) == 0 {
		return rows, nil, nil
	}
	settled, err := h.Logs.SettledCallbackID(ctx, h.Now().Add(-store.PollSettle))
	if err != nil {
		return nil, nil, err
	}
	kept := gaps[:0]
	for _, g := range gaps {
		if g > settled {
			kept = append(kept, g)
		}
	}
	slices.Sort(kept)
	kept = slices.Compact(kept)
	if len(kept) > maxPollGaps {
		kept = kept[len(kept)-maxPollGaps:]
	}
	return rows, kept, nil
}
