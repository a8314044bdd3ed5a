package views

import (
	"context"
	"strconv"
)

// View models of issue 13's "feedback and safety" (ux2): confirm steps of
// destructive acts, the terminate confirm step's facts, the pause banner.

// ConfirmView is the confirm step of a destructive act: the same POST again
// with confirm=1 (it works without JavaScript). The first POST, without
// confirm=1, only shows this page; nothing changes.
type ConfirmView struct {
	// Question names the act and its object ("停用用户 alice？").
	Question string
	// Facts name the object.
	Facts []ConfirmFact
	// Warning says what the act does.
	Warning string
	// Action is where the form posts (the same URL as the first POST).
	Action string
	// Hidden are the fields the first POST carried, sent again; confirm=1
	// is added by the component.
	Hidden []HiddenField
	// Submit is the confirm button's label; Danger makes it red, otherwise
	// it is a neutral/warning button.
	Submit string
	Danger bool
	// CancelHref is where cancel goes (nothing is sent).
	CancelHref string
	// Kind names the act for tests and styles: user-disable,
	// submerchant-disable, emergency-pause, emergency-resume.
	Kind string
}

// ConfirmFact is one labelled fact of a confirm step.
type ConfirmFact struct {
	Label string
	Value string
	// Code shows the value as code (ids, openids).
	Code bool
	// ID is its data-testid suffix (confirm-fact-ID).
	ID string
}

// HiddenField is a form field sent again by a confirm step.
type HiddenField struct{ Name, Value string }

// TerminateFacts are what the terminate confirm step shows about the
// authorization: whose it is and where it stands.
type TerminateFacts struct {
	SubMerchantName string
	OpenID          string
	SubOpenID       string
	// State is the last state known locally ("" when none).
	State string
	// AuthorizedAt is when the user agreed ("" when unknown), formatted.
	AuthorizedAt string
	// CheckedAt is when the state was last learned, formatted.
	CheckedAt string
}

func itoaViews(i int) string { return strconv.Itoa(i) }

// confirmDash is a value, or "未知" when there is none.
func confirmDash(ctx context.Context, s string) string {
	if s == "" {
		return T(ctx, "confirm.terminate.unknown")
	}
	return s
}
