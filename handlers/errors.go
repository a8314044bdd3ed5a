package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/store"
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

// statusOf maps an error to the status it answers with and a message.
func statusOf(err error) (int, string) {
	var e *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &e):
		return e.Status, e.Message
	case errors.As(err, &he):
		return he.Code, ""
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, ""
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, ""
	}
	return http.StatusInternalServerError, ""
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
