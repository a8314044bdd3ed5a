package service

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// subMchIDPattern: WeChat Pay issues sub-merchant ids as digits; the API
// allows 1–32 characters.
var subMchIDPattern = regexp.MustCompile(`^[0-9]{1,32}$`)

// MaxSubMerchantName is the limit of a sub-merchant's display name, in runes.
const MaxSubMerchantName = 64

// SubMerchantStore is what managing sub-merchants needs from the database.
type SubMerchantStore interface {
	SubMerchants(ctx context.Context) ([]store.SubMerchant, error)
	SubMerchantByID(ctx context.Context, id int64) (*store.SubMerchant, error)
	CreateSubMerchantAudited(ctx context.Context, m store.SubMerchant, audit store.AuditEntry) (*store.SubMerchant, error)
	UpdateSubMerchantAudited(ctx context.Context, m store.SubMerchant, audit store.AuditEntry) (*store.SubMerchant, error)
}

// SubMerchants registers and edits sub-merchants; every change is audited
// in its own transaction.
type SubMerchants struct {
	Store  SubMerchantStore
	Now    func() time.Time
	Logger *slog.Logger
}

// Actions of SubMerchants.Update.
const (
	SubMerchantEdit    = "edit"
	SubMerchantDisable = "disable"
	SubMerchantEnable  = "enable"
)

// SubMerchantErrors checks a sub-merchant's fields; the result maps field
// names (sub_mchid, sub_appid, name) to catalog keys. withID checks the
// sub_mchid too (it never changes after registration).
func SubMerchantErrors(m store.SubMerchant, withID bool) map[string]string {
	errs := map[string]string{}
	if withID && !subMchIDPattern.MatchString(m.SubMchID) {
		errs["sub_mchid"] = "submerchants.err.sub_mchid"
	}
	if err := payscore.ValidateSubAppID(m.SubAppID); err != nil {
		errs["sub_appid"] = "submerchants.err.sub_appid"
	}
	if HasInvisible(m.Name) {
		errs["name"] = KeyInvisible
	} else if !validName(m.Name) {
		errs["name"] = "submerchants.err.name"
	}
	return errs
}

// validName: required, at most 64 runes, valid UTF-8, no control characters.
func validName(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxSubMerchantName {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// FieldsError is an Invalid error naming each field's problem (catalog keys).
type FieldsError struct{ Fields map[string]string }

// Error implements error.
func (e *FieldsError) Error() string { return "service: invalid fields" }

// List lists every sub-merchant, disabled ones included.
func (s *SubMerchants) List(ctx context.Context) ([]store.SubMerchant, error) {
	return s.Store.SubMerchants(ctx)
}

// Create registers a sub-merchant. Invalid fields are Invalid with a
// *FieldsError; a sub_mchid already registered is Conflict.
func (s *SubMerchants) Create(ctx context.Context, actor Actor, m store.SubMerchant) (*store.SubMerchant, error) {
	if errs := SubMerchantErrors(m, true); len(errs) > 0 {
		return nil, newError(Invalid, "", &FieldsError{Fields: errs})
	}
	out, err := s.Store.CreateSubMerchantAudited(ctx, store.SubMerchant{SubMchID: m.SubMchID, SubAppID: m.SubAppID, Name: m.Name},
		actor.entry(store.AuditEntry{Action: "submerchant.create", Target: SubMerchantTarget(m.SubMchID), Result: "ok",
			Detail: "name=" + m.Name + " sub_appid=" + m.SubAppID}))
	if errors.Is(err, store.ErrConflict) {
		return nil, newError(Conflict, "submerchants.err.taken", err)
	}
	return out, err
}

// SubMerchantChange is what SubMerchants.Update does: Action is one of
// SubMerchantEdit, SubMerchantDisable, SubMerchantEnable; SubAppID and Name
// go with edit.
type SubMerchantChange struct {
	Action   string
	SubAppID string
	Name     string
}

// Update edits a sub-merchant's name and sub_appid, or disables / enables
// it. The sub_mchid never changes: links and callbacks refer to it. It
// returns the sub-merchant as it was before the change.
func (s *SubMerchants) Update(ctx context.Context, actor Actor, id int64, c SubMerchantChange) (*store.SubMerchant, error) {
	m, err := s.Store.SubMerchantByID(ctx, id)
	if err != nil {
		return nil, err
	}
	ch := *m
	detail := ""
	switch c.Action {
	case SubMerchantEdit:
		ch.SubAppID, ch.Name = c.SubAppID, c.Name
		if errs := SubMerchantErrors(ch, false); len(errs) > 0 {
			return m, newError(Invalid, "", &FieldsError{Fields: errs})
		}
		detail = "name=" + c.Name + " sub_appid=" + c.SubAppID
	case SubMerchantDisable:
		ch.Disabled = true
	case SubMerchantEnable:
		ch.Disabled = false
	default:
		return m, newError(Invalid, "", errors.New("service: unknown sub-merchant action "+c.Action))
	}
	if _, err := s.Store.UpdateSubMerchantAudited(ctx, ch,
		actor.entry(store.AuditEntry{Action: "submerchant." + c.Action, Target: SubMerchantTarget(m.SubMchID), Result: "ok", Detail: detail})); err != nil {
		return m, err
	}
	return m, nil
}

// SubMerchantTarget names a sub-merchant in the audit log.
func SubMerchantTarget(subMchID string) string { return "sub_mchid:" + subMchID }
