package handlers

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// refusal is a refused notification's diagnosis page: what was received,
// the step that failed and the likely cause; for a kept delivery, the
// re-verify button (admins).
func (h *Handler) refusal(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound()
	}
	r, err := h.Logs.RefusalByID(c.Request().Context(), id)
	if err != nil {
		return err // store.ErrNotFound answers 404
	}
	v := views.RefusalDetailView{
		Row: refusalRow(*r), Kind: r.Kind, Step: r.Step, Detail: r.Detail,
		PublicKeyID: h.Keys.PublicKeyID, Timestamp: r.Timestamp, Skew: r.Skew, SkewKnown: r.SkewKnown,
		MaxSkew: int64(payscore.MaxClockSkew.Seconds()), BodyRead: r.BodyRead, BodySize: r.BodySize, BodySHA256: r.BodySHA256,
		Kept: r.Kept(), BackURL: "/callbacks?outcome=" + outcomeRefused,
	}
	if v.Kind == "" {
		// A row from before the diagnosis: read from its reason.
		v.Kind, v.Step = service.RefusalKind(r.Reason, false), service.RefusalStep(r.Reason)
	}
	v.Cause = refusalCause(v.Kind, r.Reason, r.Detail)
	if h.Keys.Certificates != nil {
		for _, c := range h.Keys.Certificates.Status().Certificates {
			v.CertSerials = append(v.CertSerials, c.Serial)
		}
	}
	switch {
	case r.Serial != "" && r.Serial == v.PublicKeyID:
		v.SerialMatch = "public_key"
	case slices.Contains(v.CertSerials, r.Serial):
		v.SerialMatch = "certificate"
	default:
		v.SerialMatch = "none"
	}
	if v.Kept {
		var hs map[string]string
		if json.Unmarshal([]byte(r.RawHeaders), &hs) == nil {
			for _, name := range slices.Sorted(maps.Keys(hs)) {
				v.KeptHeaders = append(v.KeptHeaders, views.KeptHeader{Name: name, Value: hs[name]})
			}
		}
		// The envelope as received: its resource is still encrypted.
		v.KeptBody = string(r.RawBody)
		if currentIdentity(c).User.Role == store.RoleAdmin {
			v.ReverifyURL = "/callbacks/refusals/" + strconv.FormatInt(r.ID, 10) + "/reverify"
		}
	}
	if rv := r.Reverify; rv != nil {
		v.Reverify = &views.ReverifyView{At: rv.At, By: rv.By, Outcome: rv.Outcome, Reason: rv.Reason}
		if rv.Outcome == service.ReverifyRefused {
			kind := service.RefusalKind(rv.Reason, false)
			v.Reverify.Step, v.Reverify.Cause = service.RefusalStep(rv.Reason), refusalCause(kind, rv.Reason, "")
		}
	}
	return h.render(c, http.StatusOK, views.RefusalDetailPage(h.page(c, views.T(ctx, "diag.title")), v))
}

// reverify runs a kept refused delivery through the receiver again with
// the configuration the console has now (service.Notifications.Reverify),
// then shows the refusal's page with the outcome.
func (h *Handler) reverify(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound()
	}
	parser, _ := h.Receiver.Parser.(service.ReceivedParser)
	res, err := h.Services.Notifications.Reverify(c.Request().Context(), actor(c), id, parser)
	if err != nil {
		return err
	}
	if res.Outcome == service.ReverifyRefused {
		h.addFlash(c, "error", views.Tf(ctx, "diag.reverify.refused", views.T(ctx, "diag.step."+service.RefusalStep(res.Reason))))
	} else {
		h.addFlash(c, "success", views.T(ctx, "diag.reverify."+res.Outcome))
	}
	return c.Redirect(http.StatusSeeOther, "/callbacks/refusals/"+strconv.FormatInt(id, 10))
}

// refusalCause is the catalog key of a refusal's likely cause.
func refusalCause(kind, reason, field string) string {
	if kind == service.RefusalOwnership {
		switch {
		case reason == service.ReasonUnknownSubMchID || reason == service.ReasonSubMchIDMismatch:
			field = "sub_mchid"
		case field == "":
			field = "mchid"
		}
		return "diag.cause.ownership." + field
	}
	if kind == "" {
		kind = service.RefusalInternal
	}
	return "diag.cause." + kind
}
