package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// auditSandboxControl audits every sandbox control an admin uses (POST
// …/control/…) as sandbox.<control> ("sandbox.faults", "sandbox.close",
// …), with the form's values, before the control acts: a control whose
// entry cannot be written is refused. The sandbox stands for WeChat Pay and
// the user, outside the console's records, so there is no change of the
// console's to share a transaction with: the entry is the record.
func (h *Handler) auditSandboxControl(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method != http.MethodPost || !strings.Contains(req.URL.Path, "/control/") {
			return next(c)
		}
		_, control, _ := strings.Cut(req.URL.Path, "/control/")
		e := store.AuditEntry{Action: service.AuditSandboxPrefix + strings.ReplaceAll(control, "/", "."), Target: "sandbox", Result: "requested"}
		form, err := c.FormParams()
		if err != nil {
			return errBadRequest()
		}
		var detail []string
		for k, vs := range form {
			if k == "_csrf" || len(vs) == 0 {
				continue
			}
			v := vs[0]
			if len(v) > 64 {
				v = v[:64]
			}
			switch k {
			case "authorization_code", "notification_id":
				e.Target = v
			}
			detail = append(detail, k+"="+v)
		}
		slices.Sort(detail)
		e.Detail = strings.Join(detail, " ")
		if err := h.Services.Audit.Record(req.Context(), actor(c), e); err != nil {
			return errInternal(err)
		}
		return next(c)
	}
}
