package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/views"
)

// Error is an error with the status it answers and a message safe to show.
type Error struct {
	Status  int
	Message string // catalog key or text shown to the person; empty = the status's text
	Err     error  // the cause, logged for 5xx only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return http.StatusText(e.Status)
}

func (e *Error) Unwrap() error { return e.Err }

func errForbidden() error  { return &Error{Status: http.StatusForbidden} }
func errNotFound() error   { return &Error{Status: http.StatusNotFound} }
func errBadRequest() error { return &Error{Status: http.StatusBadRequest} }
func errInternal(err error) error {
	return &Error{Status: http.StatusInternalServerError, Err: err}
}

// kindStatus is the one table from a service error's kind to the status it
// answers with.
var kindStatus = map[service.Kind]int{
	service.Invalid:   http.StatusUnprocessableEntity,
	service.NotFound:  http.StatusNotFound,
	service.Conflict:  http.StatusConflict,
	service.Forbidden: http.StatusForbidden,
	service.Upstream:  http.StatusBadGateway,
	service.Internal:  http.StatusInternalServerError,
}

// statusOf maps an error to the status it answers with and a message.
func statusOf(err error) (int, string) {
	var e *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &e):
		return e.Status, e.Message
	case errors.As(err, &he):
		return he.Code, ""
	}
	// Service errors, and the store's not-found and conflict, by kind.
	return kindStatus[service.KindOf(err)], service.KeyOf(err)
}

// handleError is the one HTTPErrorHandler: it maps typed errors to a status
// and an error page; only internal errors are logged as errors.
func (h *Handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := statusOf(err)
	log := h.Logger.With("request_id", c.Response().Header().Get(echo.HeaderXRequestID), "path", c.Request().URL.Path)
	if status >= 500 {
		log.Error("request failed", "status", status, "err", err)
	} else {
		log.Debug("request refused", "status", status, "err", err)
	}
	ctx := h.langContext(c)
	if msg == "" {
		msg = views.T(ctx, "error."+itoa(status))
		if msg == "error."+itoa(status) {
			msg = http.StatusText(status)
		}
	} else {
		msg = views.T(ctx, msg)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	page := h.page(c, views.T(ctx, "error.title"))
	if rerr := h.render(c, status, views.ErrorPage(page, views.ErrorView{Status: status, Message: msg})); rerr != nil {
		log.Error("render error page", "err", rerr)
		_ = c.String(status, msg)
	}
}

// actor is who acts in a request: the signed-in person and their address.
func actor(c echo.Context) service.Actor {
	a := service.Actor{IP: c.RealIP()}
	if id := currentIdentity(c); id != nil {
		a.UserID, a.Username = id.User.ID, id.User.Username
	}
	return a
}
