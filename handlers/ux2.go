package handlers

// Issue 13's "feedback and safety" (ux2): the emergency pause on every
// page, the explanation of a refusal while it is on, and the confirm steps
// of destructive acts (the same POST again with confirm=1).

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/views"
)

// pauseBanner is the emergency pause for the layout's banner, nil when it
// is off. A failure to read it is logged, not shown: the page still works.
func (h *Handler) pauseBanner(c echo.Context) *views.PauseBanner {
	p, err := h.Services.Emergency.State(c.Request().Context())
	if err != nil {
		h.Logger.Warn("emergency state for the banner", "err", err)
		return nil
	}
	if !p.Paused {
		return nil
	}
	return &views.PauseBanner{Reason: p.Reason, By: p.By, At: p.At}
}

// pausedText explains a refusal while the emergency pause is on: reason,
// who, since when.
func (h *Handler) pausedText(c echo.Context) string {
	ctx := h.langContext(c)
	p, err := h.Services.Emergency.State(c.Request().Context())
	if err != nil || !p.Paused {
		return views.Tf(ctx, "links.err.paused", "-", "-", "-")
	}
	return views.Tf(ctx, "links.err.paused", p.Reason, p.By, views.FormatTime(p.At))
}

// isPaused reports whether err is the refusal of a link while paused.
func isPaused(err error) bool { return errors.Is(err, service.ErrLandingPaused) }

// confirmed reports whether the POST is the confirm step's (confirm=1).
func confirmed(c echo.Context) bool { return c.FormValue("confirm") == "1" }

// renderConfirm shows a confirm step (200): nothing has changed.
func (h *Handler) renderConfirm(c echo.Context, v views.ConfirmView) error {
	ctx := h.langContext(c)
	return h.render(c, http.StatusOK, views.ConfirmPage(h.page(c, views.T(ctx, "confirm.title")), v))
}

// userDisableConfirm is the confirm step of disabling user id.
func (h *Handler) userDisableConfirm(c echo.Context, id int64) error {
	ctx := h.langContext(c)
	u, err := h.Services.Users.ByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return h.renderConfirm(c, views.ConfirmView{
		Kind:     "user-disable",
		Question: views.Tf(ctx, "confirm.user.disable.question", u.Username),
		Facts: []views.ConfirmFact{
			{Label: views.T(ctx, "confirm.user.username"), Value: u.Username, ID: "username"},
			{Label: views.T(ctx, "confirm.user.role"), Value: views.T(ctx, "role."+u.Role), ID: "role"},
			{Label: views.T(ctx, "confirm.user.created"), Value: views.FormatTime(u.CreatedAt), ID: "created"},
		},
		Warning:    views.T(ctx, "confirm.user.disable.warning"),
		Action:     c.Request().URL.Path,
		Hidden:     []views.HiddenField{{Name: "action", Value: "disable"}},
		Submit:     views.T(ctx, "confirm.user.disable.submit"),
		Danger:     true,
		CancelHref: "/users",
	})
}

// subMerchantDisableConfirm is the confirm step of disabling sub-merchant
// id.
func (h *Handler) subMerchantDisableConfirm(c echo.Context, id int64) error {
	ctx := h.langContext(c)
	list, err := h.Services.SubMerchants.List(c.Request().Context())
	if err != nil {
		return errInternal(err)
	}
	for _, m := range list {
		if m.ID != id {
			continue
		}
		return h.renderConfirm(c, views.ConfirmView{
			Kind:     "submerchant-disable",
			Question: views.Tf(ctx, "confirm.submerchant.disable.question", m.Name, m.SubMchID),
			Facts: []views.ConfirmFact{
				{Label: views.T(ctx, "confirm.submerchant.name"), Value: m.Name, ID: "name"},
				{Label: views.T(ctx, "confirm.submerchant.sub_mchid"), Value: m.SubMchID, Code: true, ID: "sub_mchid"},
			},
			Warning:    views.T(ctx, "confirm.submerchant.disable.warning"),
			Action:     c.Request().URL.Path,
			Hidden:     []views.HiddenField{{Name: "action", Value: "disable"}},
			Submit:     views.T(ctx, "confirm.submerchant.disable.submit"),
			Danger:     true,
			CancelHref: "/sub-merchants",
		})
	}
	return errNotFound()
}

// emergencyConfirm is the confirm step of pausing (paused) or resuming
// every landing page, with the reason given and, for a resume, the pause
// it ends.
func (h *Handler) emergencyConfirm(c echo.Context, paused bool, reason, next string) error {
	ctx := h.langContext(c)
	v := views.ConfirmView{
		Action: "/emergency",
		Hidden: []views.HiddenField{{Name: "paused", Value: "0"}, {Name: "reason", Value: reason}, {Name: "next", Value: next}},
		// Neither pausing nor resuming is a success: a warning button.
		CancelHref: next,
	}
	if v.CancelHref == "/emergency" {
		v.CancelHref = "/"
	}
	if paused {
		v.Kind, v.Hidden[0].Value = "emergency-pause", "1"
		v.Question = views.T(ctx, "confirm.emergency.pause.question")
		v.Warning = views.T(ctx, "confirm.emergency.pause.warning")
		v.Submit, v.Danger = views.T(ctx, "confirm.emergency.pause.submit"), true
	} else {
		v.Kind = "emergency-resume"
		v.Question = views.T(ctx, "confirm.emergency.resume.question")
		v.Warning = views.T(ctx, "confirm.emergency.resume.warning")
		v.Submit = views.T(ctx, "confirm.emergency.resume.submit")
		if p, err := h.Services.Emergency.State(c.Request().Context()); err == nil && p.Paused {
			v.Facts = append(v.Facts, views.ConfirmFact{Label: views.T(ctx, "confirm.emergency.current"), ID: "current",
				Value: views.Tf(ctx, "confirm.emergency.current.value", p.Reason, p.By, views.FormatTime(p.At))})
		}
	}
	if reason != "" {
		v.Facts = append(v.Facts, views.ConfirmFact{Label: views.T(ctx, "confirm.emergency.reason"), Value: reason, ID: "reason"})
	}
	return h.renderConfirm(c, v)
}

// terminateFacts names the authorization on the terminate confirm step:
// the sub-merchant's name, the user's openid, the state known locally and
// when the user agreed. Nothing is asked of WeChat Pay.
func (h *Handler) terminateFacts(ctx context.Context, code, subMchID string) (views.TerminateFacts, error) {
	var f views.TerminateFacts
	found, err := h.Services.Lookup.Known(ctx, code)
	if err != nil {
		return f, err
	}
	if l := found.History.Link; l != nil {
		f.SubMerchantName = l.SubMerchantName
	}
	if f.SubMerchantName == "" {
		list, err := h.Services.SubMerchants.List(ctx)
		if err != nil {
			return f, err
		}
		for _, m := range list {
			if m.SubMchID == subMchID {
				f.SubMerchantName = m.Name
			}
		}
	}
	if a := found.Local; a != nil {
		f.OpenID, f.SubOpenID, f.State = a.OpenID, a.SubOpenID, a.State
		if a.SuccessTime != nil {
			f.AuthorizedAt = views.FormatTime(*a.SuccessTime)
		}
		f.CheckedAt = views.FormatTime(a.CheckedAt)
	}
	return f, nil
}
