package service

import (
	"context"
	"errors"
)

// ErrCurrentPassword is a wrong current password when changing one's own.
var ErrCurrentPassword = errors.New("service: current password wrong")

// ChangeOwnPassword changes the actor's own password after checking the
// current one (Invalid, account.err.current when it is wrong or missing).
// The new one goes through the same rules as any password (Users.Update),
// and every session of the person ends, this one included.
func (s *Users) ChangeOwnPassword(ctx context.Context, actor Actor, current, password string) error {
	u, err := s.Store.UserByID(ctx, actor.UserID)
	if err != nil {
		return err
	}
	if current == "" {
		return newError(Invalid, "account.err.current", ErrCurrentPassword)
	}
	ok, err := CheckPassword(u.PasswordHash, current)
	if err != nil {
		return err
	}
	if !ok {
		loggerOr(s.Logger).Warn("own password change: current password wrong", "username", u.Username, "ip", actor.IP)
		return newError(Invalid, "account.err.current", ErrCurrentPassword)
	}
	_, err = s.Update(ctx, actor, u.ID, UserChange{Action: UserActionPassword, Password: password})
	return err
}
