package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// Audit actions of acts that change nothing in the console's own records,
// so that the entry is the record: downloads of the logs, and what an admin
// makes the sandbox do.
const (
	AuditExportCallbacks = "export.callbacks"
	AuditExportAudit     = "export.audit"
	// AuditSandboxPrefix starts the action of every sandbox control
	// ("sandbox.faults", "sandbox.close", …).
	AuditSandboxPrefix = "sandbox."
)

// AuditStore appends to the audit log.
type AuditStore interface {
	Audit(ctx context.Context, e store.AuditEntry) error
}

// Audits records acts whose only record is their audit entry. Changes to
// the console's state are audited by the service that makes them, in the
// same transaction; these have no other write to share one with, so the
// entry is written alone and an error is returned, never only logged:
// the caller refuses the act when it cannot be recorded.
type Audits struct {
	Store  AuditStore
	Now    func() time.Time
	Logger *slog.Logger
}

// Record appends one entry for actor.
func (s *Audits) Record(ctx context.Context, actor Actor, e store.AuditEntry) error {
	if err := s.Store.Audit(ctx, actor.entry(e)); err != nil {
		loggerOr(s.Logger).Error("audit failed", "action", e.Action, "err", err)
		return err
	}
	return nil
}
