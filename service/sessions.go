package service

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// SessionStore is what listing and revoking sessions needs from the database.
type SessionStore interface {
	UserByID(ctx context.Context, id int64) (*store.User, error)
	SessionsOf(ctx context.Context, userID int64) ([]store.Session, error)
	RevokeSession(ctx context.Context, userID, id int64, audit store.AuditEntry) error
	RevokeSessions(ctx context.Context, userID int64, keepHash string, audit store.AuditEntry) (int64, error)
}

// Sessions lists and revokes signed-in browsers: a person their own, an
// admin anyone's. Every revocation is audited AuditSessionRevoked in the
// same transaction.
type Sessions struct {
	Store  SessionStore
	Now    func() time.Time
	Logger *slog.Logger
}

// Of lists a user's sessions (0: everyone's), most recently seen first.
func (s *Sessions) Of(ctx context.Context, userID int64) ([]store.Session, error) {
	return s.Store.SessionsOf(ctx, userID)
}

// Revoke ends session number id of user userID. A session not theirs is
// NotFound.
func (s *Sessions) Revoke(ctx context.Context, actor Actor, userID, id int64) error {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if err := s.Store.RevokeSession(ctx, userID, id, actor.entry(store.AuditEntry{Action: AuditSessionRevoked,
		Target: "user:" + u.Username, Result: "ok", Detail: "session=" + strconv.FormatInt(id, 10)})); err != nil {
		return err
	}
	loggerOr(s.Logger).Info("session revoked", "username", u.Username, "by", actor.Username)
	return nil
}

// RevokeAll ends every session of user userID but the one whose id hashes
// to keepHash ("" for none), and reports how many ended.
func (s *Sessions) RevokeAll(ctx context.Context, actor Actor, userID int64, keepHash string) (int64, error) {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return 0, err
	}
	detail := "all"
	if keepHash != "" {
		detail = "others"
	}
	n, err := s.Store.RevokeSessions(ctx, userID, keepHash, actor.entry(store.AuditEntry{Action: AuditSessionRevoked,
		Target: "user:" + u.Username, Result: "ok", Detail: detail}))
	if err != nil {
		return 0, err
	}
	loggerOr(s.Logger).Info("sessions revoked", "username", u.Username, "by", actor.Username, "count", n)
	return n, nil
}
