package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// demoSubMerchants are registered on a fresh sandbox database.
var demoSubMerchants = []store.SubMerchant{
	{SubMchID: "1900000101", Name: "示例便利店（沙箱）"},
	{SubMchID: "1900000102", Name: "示例咖啡馆（沙箱）", SubAppID: "wx5f2e3c0a1b2c3d4e"},
}

// demoHistoryDays is how much history the demo's charts show.
const demoHistoryDays = 30

// seedSandboxDemo gives a fresh sandbox console something to look at: two
// sub-merchants, 30 days of history before today (links, their funnel,
// notifications, closes, terminations, refusals: store.SeedHistory) so the
// overview's charts are worth a look, and three links made today through
// the very same paths an operator uses (pre-authorize over HTTP against the
// simulator), of which one user agreed, one agreed and then closed the
// service, and one has not opened the link yet. The simulator then delivers
// the notifications as WeChat Pay would. It runs once per database.
func seedSandboxDemo(ctx context.Context, a *app, db *store.DB, logger *slog.Logger) error {
	if _, err := db.Setting(ctx, "demo_seeded"); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	admin, err := db.UserByUsername(ctx, "admin")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, m := range demoSubMerchants {
		if _, err := db.CreateSubMerchant(ctx, m); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("demo: %w", err)
		}
	}
	subs := make([]string, len(demoSubMerchants))
	for i, m := range demoSubMerchants {
		subs[i] = m.SubMchID
	}
	// History first: the overview counts the last day's notifications by
	// their ids, which must follow time.
	if err := db.SeedHistory(ctx, subs, time.Now(), demoHistoryDays, 14); err != nil {
		return fmt.Errorf("demo: history: %w", err)
	}
	var links []*store.Link
	for _, sub := range []string{"1900000101", "1900000102", "1900000101"} {
		att, err := a.services.Links.Create(ctx, service.Actor{UserID: admin.ID, Username: admin.Username}, sub, "")
		if err != nil {
			return fmt.Errorf("demo: create link: %w", err)
		}
		links = append(links, att.Link)
	}
	for _, l := range links[:2] {
		if _, err := a.sandbox.Agree(ctx, l.Token); err != nil {
			return fmt.Errorf("demo: agree: %w", err)
		}
	}
	if err := a.sandbox.UserClose(ctx, links[1].AuthorizationCode); err != nil {
		return fmt.Errorf("demo: close: %w", err)
	}
	if err := db.SetSetting(ctx, "demo_seeded", "1"); err != nil {
		return err
	}
	logger.Info("sandbox demo data: 2 sub-merchants, 30 days of history, 3 links today (one agreed, one agreed then closed, one waiting)")
	return nil
}
