package sandbox

import (
	"bytes"
	"embed"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

//go:embed static
var staticFS embed.FS

// Mount registers every sandbox route on g, the "/sandbox" group:
//
//   - the WeChat Pay API at the spec's paths under /v3/… (merchant-signed,
//     no session, no CSRF token);
//   - the official account API /cgi-bin/token, /cgi-bin/stable_token and
//     /cgi-bin/ticket/getticket;
//   - the JS-SDK shim /jweixin.js and its /jssdk/verify (public, no CSRF token);
//   - the Pay Score consent page /payscore (public; its form carries _csrf);
//   - assets under /static/;
//   - the control page "" (and "/") and its /control/… forms, behind
//     requireAdmin.
//
// g may also be the root (Group("")), as in the standalone sandbox: the
// WeChat Pay paths then are exactly WeChat's (/v3/…, /cgi-bin/…) and the
// control page is "/".
func (s *Sandbox) Mount(g *echo.Group, requireAdmin echo.MiddlewareFunc) {
	// The group's prefix is not exported by Echo; the control page's route
	// path is exactly it, and pages build their links from it.
	s.base = strings.TrimSuffix(g.GET("", s.controlGet, requireAdmin).Path, "/")
	g.GET("/", s.controlGet, requireAdmin)
	g.POST("/control/settings", s.controlSettings, requireAdmin)
	g.POST("/control/faults", s.controlFaults, requireAdmin)
	g.POST("/control/faults/clear", s.controlClearFaults, requireAdmin)
	g.POST("/control/close", s.controlClose, requireAdmin)
	g.POST("/control/forged", s.controlForged, requireAdmin)
	g.POST("/control/resend", s.controlResend, requireAdmin)
	g.POST("/control/duplicate", s.controlDuplicate, requireAdmin)
	g.POST("/control/rotate", s.controlRotate, requireAdmin)

	g.GET("/v3/certificates", s.apiHandlerSignedBy(s.certificates, s.certificateKey))

	const perms = "/v3/payscore/acquiringbank/permissions"
	g.POST(perms, s.apiHandler(s.preAuthorize))
	g.GET(perms+"/authorization-code/:authorization_code", s.apiHandler(s.query))
	g.POST(perms+"/authorization-code/:authorization_code/terminate", s.apiHandler(s.terminate))

	g.GET("/cgi-bin/token", s.mpToken)
	g.POST("/cgi-bin/stable_token", s.mpStableToken)
	g.GET("/cgi-bin/ticket/getticket", s.mpTicket)
	g.POST("/jssdk/verify", s.jssdkVerify)

	g.GET("/jweixin.js", asset("jweixin.js", "application/javascript; charset=utf-8"))
	g.GET("/static/consent.js", asset("consent.js", "application/javascript; charset=utf-8"))
	g.GET("/static/sandbox.css", asset("sandbox.css", "text/css; charset=utf-8"))

	g.GET("/payscore", s.consentGet)
	g.POST("/payscore", s.consentPost)
}

func asset(name, contentType string) echo.HandlerFunc {
	data, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		panic("sandbox: missing embedded asset " + name) // a build mistake, not a runtime condition
	}
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-cache")
		c.Response().Header().Set("X-Content-Type-Options", "nosniff")
		return c.Blob(http.StatusOK, contentType, data)
	}
}

// render writes a component with status; rendering into a buffer first makes
// a render failure an ordinary error before any header is sent.
func render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(buf.Bytes())
	return err
}

// consentCSP replaces the console's policy on the consent page: it is shown
// in an iframe of the landing page (frame-ancestors 'self') and loads only
// its own script and style.
// The standalone sandbox widens frame-ancestors (Options.FrameAncestors) so
// that a partner's landing page on another origin can frame it.
func (s *Sandbox) consentCSP() string {
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"form-action 'self'; frame-ancestors " + s.frameAnc + "; base-uri 'none'"
}

// consentGet is GET /payscore?apply_permissions_token=…, the simulated Pay
// Score mini program page openBusinessView opens.
func (s *Sandbox) consentGet(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.QueryParam("apply_permissions_token")
	result := c.QueryParam("result")
	v := consentView{Base: s.base, CSRF: s.csrfToken(c), Token: token}
	status := http.StatusOK
	t, a, err := usableToken(ctx, s.db.read, token, s.now())
	switch {
	case errors.Is(err, ErrNotFound):
		v.Stage, status = "unknown", http.StatusNotFound
	case errors.Is(err, ErrTokenExpired):
		v.Stage = "expired"
	case errors.Is(err, ErrTokenUsed) && result == "agreed":
		v.Stage = "agreed"
	case errors.Is(err, ErrTokenUsed):
		v.Stage = "used"
	case err != nil:
		return err
	case a.State == StateAvailable:
		v.Stage = "already"
	case result == "declined":
		v.Stage = "declined"
	default:
		v.Stage, v.SubMchID, v.ServiceID = "form", a.SubMchID, a.ServiceID
		v.ExpiresAt = t.ExpiresAt.In(beijing).Format("2006-01-02 15:04")
	}
	c.Response().Header().Set("Content-Security-Policy", s.consentCSP())
	// Older browsers read X-Frame-Options instead of frame-ancestors; a
	// console-wide DENY would blank the frame. Framing by other origins
	// (standalone) has no X-Frame-Options spelling: CSP alone says it.
	if s.frameAnc == "'self'" {
		c.Response().Header().Set("X-Frame-Options", "SAMEORIGIN")
	} else {
		c.Response().Header().Del("X-Frame-Options")
	}
	return render(c, status, consentPage(v))
}

// consentPost is the consent form: the user's choice reaches the server,
// then the page shows the outcome (post/redirect/get).
func (s *Sandbox) consentPost(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.FormValue("apply_permissions_token")
	var err error
	result := ""
	switch c.FormValue("decision") {
	case "agree":
		_, err = s.Agree(ctx, token)
		result = "agreed"
	case "decline":
		err = s.Decline(ctx, token)
		result = "declined"
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "decision must be agree or decline")
	}
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrTokenExpired), errors.Is(err, ErrTokenUsed),
		errors.Is(err, ErrAlreadyAvailable):
		// The page shown for the token explains it.
		result = ""
	case err != nil:
		return err
	}
	q := url.Values{"apply_permissions_token": {token}}
	if result != "" {
		q.Set("result", result)
	}
	return c.Redirect(http.StatusSeeOther, s.base+"/payscore?"+q.Encode())
}

// flashes and controlErrors are the control page's messages, chosen by a
// fixed key in the redirect so that no text travels through the URL.
var flashes = map[string]string{
	"settings":   "Settings saved.",
	"faults":     "Faults queued for the next API calls.",
	"cleared":    "Queued faults cleared.",
	"closed":     "The user closed the service; a USER_CLOSE_SERVICE notification is queued.",
	"forged":     "Forged notification sent: see its attempt below (the console must refuse it).",
	"resent":     "Notification sent again: see its attempt below.",
	"duplicated": "Notification sent twice at once: see its attempts below.",
	"rotated":    "New platform certificate issued: in certificate mode it signs from now on.",
}

var controlErrors = map[string]string{
	"not_found":     "No such authorization or notification.",
	"invalid_state": "Only an AVAILABLE authorization can be closed.",
	"no_notify_url": "That authorization has no notify_url: nothing to send to.",
	"bad_fault":     "Choose a fault kind, a count from 1 to 100 and, for a late answer, 1 to 120 seconds.",
}

func (s *Sandbox) controlGet(c echo.Context) error {
	ctx := c.Request().Context()
	auths, err := s.Authorizations(ctx)
	if err != nil {
		return err
	}
	notes, err := s.Notifications(ctx, "")
	if err != nil {
		return err
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	byCode := map[string][]notificationView{}
	for _, n := range notes {
		nv := notificationView{
			ID: n.ID, Event: n.EventType, Status: n.Status, Created: showTime(n.CreatedAt),
			NextAttempt: showTime(n.NextAttemptAt), CanSend: n.NotifyURL != "",
		}
		for _, a := range n.Attempts {
			code := "no answer"
			if a.StatusCode != 0 {
				code = strconv.Itoa(a.StatusCode)
			}
			nv.Attempts = append(nv.Attempts, attemptView{
				At: showTime(a.At), Kind: a.Kind, Status: code, Error: a.Error,
				Duration: a.Duration.String(), OK: a.OK(),
			})
		}
		byCode[n.AuthorizationCode] = append(byCode[n.AuthorizationCode], nv)
	}
	cr := s.Credentials()
	v := controlView{
		Base: s.base, CSRF: s.csrfToken(c),
		Flash: flashes[c.QueryParam("done")], Error: controlErrors[c.QueryParam("err")],
		Identity: []fieldView{
			{"mchid", cr.MchID}, {"service_id", cr.ServiceID}, {"channel_id", cr.ChannelID},
			{"appid (also the official account)", cr.AppID}, {"merchant certificate serial", cr.CertSerial},
			{"WeChat Pay public key id", cr.PublicKeyID}, {"signing mode", signingModeText(st.SignWithCertificate)},
			{"notification retry schedule", scheduleText(s.schedule, s.giveUpAfter)},
			{"notifications go to", or(s.notifyURL, "each pre-authorize's notify_url")},
		},
		Settings: st,
	}
	for _, pc := range s.PlatformCertificates() {
		v.Certificates = append(v.Certificates, certView{Serial: pc.Serial, Expires: showTime(pc.NotAfter), Current: pc.Current})
	}
	for _, k := range s.PendingFaults() {
		v.Faults = append(v.Faults, faultLabel(k))
	}
	for _, k := range FaultKinds {
		v.FaultKinds = append(v.FaultKinds, optionView{k.String(), faultLabel(k)})
	}
	for _, a := range auths {
		v.Authorizations = append(v.Authorizations, authView{
			Code: a.Code, SubMchID: a.SubMchID, SubAppID: a.SubAppID, State: a.State, OpenID: a.OpenID,
			UserLabel: a.UserLabel, SuccessTime: showTime(a.SuccessTime), CancelTime: showTime(a.CancelTime),
			Reason: a.TerminateReason, NotifyURL: a.NotifyURL, TokenExpires: showTime(a.TokenExpiresAt),
			CanClose: a.State == StateAvailable, CanForge: a.NotifyURL != "",
			Notifications: byCode[a.Code],
		})
	}
	return render(c, http.StatusOK, controlPage(v))
}

func faultLabel(k FaultKind) string {
	switch k {
	case FaultSystemError:
		return "500 SYSTEM_ERROR"
	case FaultFrequencyLimited:
		return "429 FREQUENCY_LIMITED (Retry-After: 1)"
	case FaultSlow:
		return "slow answer (past the client's time-out)"
	case FaultBadSignature:
		return "answer with a wrong signature"
	case FaultUnsigned401:
		return "401 SIGN_ERROR, unsigned (as for a wrong merchant serial, key or clock)"
	case FaultUnsigned429:
		return "429 FREQUENCY_LIMITED, unsigned (gateway; Retry-After: 1)"
	case FaultLate:
		return "late answer: do the work, answer after the seconds given"
	}
	return k.String()
}

func scheduleText(sched []time.Duration, giveUp time.Duration) string {
	parts := make([]string, len(sched))
	for i, d := range sched {
		parts[i] = d.String()
	}
	return strings.Join(parts, ", ") + ", then every " + sched[len(sched)-1].String() + " until " + giveUp.String() + " after the first attempt"
}

// showTime formats a time for the pages in Beijing time ("" for zero).
func showTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(beijing).Format("2006-01-02 15:04:05")
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func joinComma(s []string) string { return strings.Join(s, ", ") }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// home is the control page's path: the group's prefix, or "/" when the
// sandbox is mounted at the root (standalone).
func (s *Sandbox) home() string {
	if s.base == "" {
		return "/"
	}
	return s.base
}

// controlDone redirects back to the control page with a flash or an error
// key; unexpected errors go to Echo's error handler.
func (s *Sandbox) controlDone(c echo.Context, done string, err error) error {
	key := ""
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, s.home()+"?done="+done)
	case errors.Is(err, ErrNotFound):
		key = "not_found"
	case errors.Is(err, ErrInvalidState):
		key = "invalid_state"
	case errors.Is(err, ErrNoNotifyURL):
		key = "no_notify_url"
	default:
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.home()+"?err="+key)
}

func (s *Sandbox) controlSettings(c echo.Context) error {
	err := s.SetSettings(c.Request().Context(), Settings{
		Duplicates:          c.FormValue("duplicates") == "on",
		ExampleSpelling:     c.FormValue("spelling") == "example",
		SignWithCertificate: c.FormValue("signing") == "certificate",
	})
	return s.controlDone(c, "settings", err)
}

func (s *Sandbox) controlFaults(c echo.Context) error {
	kind, ok := ParseFaultKind(c.FormValue("kind"))
	n, err := strconv.Atoi(c.FormValue("n"))
	if !ok || err != nil || n < 1 || n > 100 {
		return c.Redirect(http.StatusSeeOther, s.home()+"?err=bad_fault")
	}
	if kind == FaultLate {
		secs := int(DefaultLateDelay / time.Second)
		if v := c.FormValue("seconds"); v != "" {
			if secs, err = strconv.Atoi(v); err != nil || secs < 1 || secs > 120 {
				return c.Redirect(http.StatusSeeOther, s.base+"?err=bad_fault")
			}
		}
		s.InjectLateAnswer(time.Duration(secs)*time.Second, n)
		return s.controlDone(c, "faults", nil)
	}
	s.InjectFault(kind, n)
	return s.controlDone(c, "faults", nil)
}

func (s *Sandbox) controlClearFaults(c echo.Context) error {
	s.ClearFaults()
	return s.controlDone(c, "cleared", nil)
}

func (s *Sandbox) controlClose(c echo.Context) error {
	return s.controlDone(c, "closed", s.UserClose(c.Request().Context(), c.FormValue("authorization_code")))
}

func (s *Sandbox) controlForged(c echo.Context) error {
	_, err := s.SendForged(c.Request().Context(), c.FormValue("authorization_code"))
	return s.controlDone(c, "forged", err)
}

func (s *Sandbox) controlResend(c echo.Context) error {
	_, err := s.Resend(c.Request().Context(), c.FormValue("notification_id"))
	return s.controlDone(c, "resent", err)
}

func (s *Sandbox) controlDuplicate(c echo.Context) error {
	_, err := s.Duplicate(c.Request().Context(), c.FormValue("notification_id"))
	return s.controlDone(c, "duplicated", err)
}

func (s *Sandbox) controlRotate(c echo.Context) error {
	_, err := s.RotatePlatformCertificate(c.Request().Context())
	return s.controlDone(c, "rotated", err)
}
