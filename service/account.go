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
	// Users.Update checks the current password of anyone changing their
	// own (from /account or from /users alike).
	_, err := s.Update(ctx, actor, actor.UserID, UserChange{Action: UserActionPassword, Password: password, CurrentPassword: current})
	return err
}
