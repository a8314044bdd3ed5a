package views

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// SubMerchantsView is the sub-merchant management screen.
type SubMerchantsView struct {
	Rows []SubMerchantRow
	Form SubMerchantForm // the add form
}

// SubMerchantRow is one sub-merchant with its edit form.
type SubMerchantRow struct {
	ID       int64
	SubMchID string
	Disabled bool
	Created  time.Time
	// Edit holds the edit form's values: the stored ones, or what was
	// typed when the edit was refused.
	Edit SubMerchantForm
}

// SubMerchantForm is the add or edit form of a sub-merchant.
type SubMerchantForm struct {
	SubMchID string
	SubAppID string
	Name     string
	Errors   map[string]string // by field name
}

// SubMerchantOption is a sub-merchant offered in a select.
type SubMerchantOption struct {
	SubMchID string
	Name     string
}

// UpstreamError is a failed WeChat Pay call as shown to a person, on every
// screen: what happened and what to do, in this console's words (see
// UpstreamAnswer), WeChat Pay's own words where they name what is wrong,
// and what to quote to it.
type UpstreamError struct {
	Explanation string
	Remedy      string
	Code        string // WeChat Pay's error code, if any
	Message     string // WeChat Pay's own message, when it helps (shown as its words)
	// NotFound: WeChat Pay knows no such authorization (ORDER_NOT_EXIST). A
	// page about one authorization shows this one message instead of empty
	// sections.
	NotFound  bool
	RequestID string
	// Unsigned marks an error answer that carried no WeChat Pay signature
	// (a 401 SIGN_ERROR, a gateway's 429): shown as WeChat's answer, with
	// a note saying why it is unsigned.
	Unsigned bool
}

// NewLinkView is the form that creates an authorization link.
type NewLinkView struct {
	SubMerchants []SubMerchantOption // enabled ones only
	Form         LinkForm
	Upstream     *UpstreamError
	// CanManageSubMerchants shows the way to /sub-merchants when there is
	// none to choose.
	CanManageSubMerchants bool
}

// LinkForm is what was typed into the new-link form, and what is wrong.
type LinkForm struct {
	SubMchID          string
	AuthorizationCode string
	Errors            map[string]string // by field name
}

// LinksView is the link list with its filters.
type LinksView struct {
	Rows         []LinkRow
	Filter       LinkFilterView
	SubMerchants []SubMerchantOption
	Creators     []string
	States       []string
	// OlderURL is the next page (older links), "" on the last page.
	OlderURL string
}

// LinkFilterView is the list's filter as submitted (query parameter names
// are the fields').
type LinkFilterView struct {
	SubMchID  string
	State     string
	CreatedBy string
}

// LinkRow is one link in the list.
type LinkRow struct {
	ID              int64
	SubMchID        string
	SubMerchantName string
	Code            string
	State           string
	CreatedBy       string
	Created         time.Time
	Expires         time.Time
	Expired         bool
	Opens           int
	// Left is the token's time left (negative once expired).
	Left time.Duration
	// TerminatedBySupport: UNAVAILABLE after a termination from this
	// console, not closed by the user.
	TerminatedBySupport bool
}

// LinkView is one authorization link: how to hand it out, and what became
// of it.
type LinkView struct {
	ID              int64
	SubMchID        string
	SubAppID        string
	SubMerchantName string
	Code            string
	Token           string
	State           string
	CreatedBy       string
	Created         time.Time
	Expires         time.Time
	Expired         bool
	Opens           int
	LastOpened      time.Time
	LandingURL      string // BASE_URL/h5/{slug}, what the QR code encodes
	SelfURL         string // this page, polled for the state
	Upstream        *UpstreamError
	// Agreed: a user agreed to this code once; renewing issues a new code.
	Agreed bool
	// RenewedFrom is the link this one replaces; RenewedTo the link that
	// replaced this one (0: none).
	RenewedFrom, RenewedTo int64
	// SubMerchantDisabled: the sub-merchant is disabled; nothing is issued.
	SubMerchantDisabled bool
	// Left is the token's time left (negative once expired).
	Left time.Duration
	// AutoRenew: the token is renewed when the landing page is opened.
	AutoRenew bool
	// Funnel is what users did on the landing page; nil when not read.
	Funnel *LinkFunnelView
	// OpenID is the user's (openid, else sub_openid), once known;
	// AgreedAt when they agreed, EndedAt when it ended (zero: unknown).
	OpenID            string
	AgreedAt, EndedAt time.Time
	// TerminatedBySupport: UNAVAILABLE after a termination from this
	// console, not closed by the user.
	TerminatedBySupport bool
}

// Finished reports whether the link has done its work: the user agreed
// (and may have ended it since). The page then leads with the outcome and
// folds the QR code and snippets away.
func (v LinkView) Finished() bool {
	return v.State == StateAvailable || (v.State == StateUnavailable && v.Agreed)
}

// DisplayState is the link's state as lists show it (UNAVAILABLE told
// apart: terminated by support or closed by the user).
func (v LinkView) DisplayState() string { return DisplayState(v.State, v.TerminatedBySupport) }

// linkLabel names a link by its number: "#42".
func linkLabel(id int64) string { return "#" + strconv.FormatInt(id, 10) }

// CanRenew reports whether the link page offers renewal: not while the user
// is on, never for a replaced link or a disabled sub-merchant, and for an
// unused code only once its token expired.
func (v LinkView) CanRenew() bool {
	return v.State != StateAvailable && v.RenewedTo == 0 && !v.SubMerchantDisabled && (v.Expired || v.Agreed)
}

// QRFaded is the catalog key of why a link's QR code is shown faded, or ""
// when it is not: the token expired (and whether opening renews it), or the
// authorization ended.
func (v LinkView) QRFaded() string {
	switch {
	case v.SubMerchantDisabled:
		return "links.qr.faded.disabled"
	case v.RenewedTo != 0:
		return "links.qr.faded.replaced"
	case v.State == StateUnavailable:
		return "links.qr.faded.ended"
	case v.State == StateAvailable || !v.Expired:
		return ""
	case v.AutoRenew:
		return "links.qr.faded.renews"
	}
	return "links.qr.faded.off"
}

// Authorization states as the views show them: the API's own names (the
// store's constants; views may not import the store, and a root test checks
// the two agree).
const (
	// StateUnbindUser: pre-authorized, the user has not agreed yet.
	StateUnbindUser = "UNBINDUSER"
	// StateAvailable: the user agreed; a link page stops polling.
	StateAvailable = "AVAILABLE"
	// StateUnavailable: closed by the user or ended by a termination.
	StateUnavailable = "UNAVAILABLE"
)

// LinkStates are the authorization states, in the order filters offer them.
// UNAVAILABLE is offered whole and split: terminated by support, closed by
// the user.
var LinkStates = []string{StateUnbindUser, StateAvailable, StateUnavailable, StateTerminated, StateClosed}

// Landing page modes: which branch the page shows.
const (
	LandingReady       = "ready"       // WeChat ≥ 7.0.5: wx.config, then openBusinessView
	LandingUpgrade     = "upgrade"     // WeChat below 7.0.5
	LandingOutside     = "outside"     // not in WeChat: open it there, with this page's QR
	LandingExpired     = "expired"     // the token expired: ask for a new link
	LandingPaused      = "paused"      // the emergency switch is on
	LandingNotFound    = "notfound"    // unknown slug
	LandingUnavailable = "unavailable" // the JS-SDK configuration could not be made
	LandingDone        = "done"        // the service is already on
	LandingDisabled    = "disabled"    // the sub-merchant is disabled: the service is unavailable here
	LandingEnded       = "ended"       // the authorization was closed or terminated
)

// LandingWaitSeconds is how long the landing page waits for the
// notification after the user came back before it offers to open again.
const LandingWaitSeconds = 10

// UpgradeURL is WeChat's own upgrade page, from the spec's example. It has
// no quote or backslash, so the H5 snippet quotes it as it is.
const UpgradeURL = "https://support.weixin.qq.com/cgi-bin/readtemplate?t=page/common_page__upgrade&text=text005&btn_text=btn_text_0"

// LandingView is the end user's landing page.
type LandingView struct {
	Mode      string
	Token     string
	Config    LandingConfig // Mode LandingReady only
	JSSDKURL  string        // Mode LandingReady only
	StatusURL string        // polled after the user comes back
	QRURL     string        // Mode LandingOutside: this page's QR code
	// MerchantName is the sub-merchant's name; every state names it.
	MerchantName string
	// Phone: outside WeChat on a phone (copy the link) rather than a
	// desktop (scan the QR code).
	Phone bool
	// PageURL is this page's address, to copy into WeChat.
	PageURL string
	// EventURL takes the page's funnel beacons (same origin, with
	// BeaconToken in X-Beacon-Token).
	EventURL    string
	BeaconToken string
	// NextURL is the landing page of the link that replaced this one (a new
	// code after the user of this one ended it), "" if none.
	NextURL string
	// ExpiredKey is the catalog key (with %s for the merchant) of what to
	// do when an expired token could not be renewed.
	ExpiredKey string
}

// LandingConfig is the server-signed wx.config of the landing page's exact URL.
type LandingConfig struct {
	AppID     string
	Timestamp int64
	NonceStr  string
	Signature string
	JSAPIList []string
}

// EmergencyView is the emergency switch that pauses every landing page.
type EmergencyView struct {
	Paused bool
	Reason string    // why it is in its present position
	By     string    // who switched it last
	At     time.Time // when; zero if never switched
	// FormReason is what was typed, kept when the switch was refused.
	FormReason string
	Errors     map[string]string // by field name
}

// Snippet is a ready-to-paste piece of code that hands the token to the
// Pay Score mini program.
type Snippet struct {
	ID    string // element id and data-testid suffix
	Title string // catalog key
	Note  string // catalog key: the versions it needs and what to do below them
	Lang  string
	Code  string
}

// UpgradeHintZH is WeChat's own wording for "this WeChat is too old" (the
// text wx.canIUse's documentation shows); the mini-program snippet shows it
// to the end user, who reads Chinese whatever the console's language.
const UpgradeHintZH = "当前微信版本过低，无法使用该功能，请升级到最新微信版本后重试。"

// ExtInfo is the optional extInfo of the APP calls: the mini program's
// version to open (0 release, the default; 1 development; 2 trial).
const ExtInfo = `{"miniProgramType":0}`

// LinkSnippets builds the snippets of the spec's three entry points with
// the token filled in: the mini program's two calls, the APP SDKs, and H5.
// Where the token goes into a query string it is URL-encoded first (the spec
// demands it); every value is then escaped for the string literal it sits in.
// Each snippet keeps the guard WeChat's documents ask for: the mini program
// checks wx.openBusinessView exists (base library ≥ 2.6.0), Android checks
// getWXAppSupportAPI() against Build.OPEN_BUSINESS_VIEW_SDK_INT (WeChat ≥
// 7.0.3), H5 asks checkJsApi; each tells the user to upgrade WeChat otherwise.
func LinkSnippets(token string) []Snippet {
	js := JSString(token)
	query := "apply_permissions_token=" + url.QueryEscape(token)
	return []Snippet{
		{ID: "snippet-mp-open", Title: "links.snippet.mp.open", Note: "links.snippet.mp.open.note", Lang: "javascript", Code: "" +
			"// Needs base library ≥ 2.6.0 (older ones have no wx.openBusinessView)\n" +
			"// and WeChat ≥ 7.0.3 to reach Pay Score.\n" +
			"if (wx.openBusinessView) {\n" +
			"  wx.openBusinessView({\n" +
			"    businessType: 'wxpayScoreEnable',\n" +
			"    extraData: {\n" +
			"      apply_permissions_token: " + js + "\n" +
			"    },\n" +
			"    success() {},\n" +
			"    fail() {},\n" +
			"    complete() {}\n" +
			"  });\n" +
			"} else {\n" +
			"  // WeChat asks merchants to prompt an upgrade here.\n" +
			"  wx.showModal({\n" +
			"    title: '提示',\n" +
			"    content: " + JSString(UpgradeHintZH) + ",\n" +
			"    showCancel: false\n" +
			"  });\n" +
			"}"},
		{ID: "snippet-mp-navigate", Title: "links.snippet.mp.navigate", Note: "links.snippet.mp.navigate.note", Lang: "javascript", Code: "" +
			"wx.navigateToMiniProgram({\n" +
			"  appId: 'wxd8f3793ea3b935b8',\n" +
			"  path: 'pages/use/enable',\n" +
			"  extraData: {\n" +
			"    apply_permissions_token: " + js + "\n" +
			"  },\n" +
			"  success() {},\n" +
			"  fail() {},\n" +
			"  complete() {}\n" +
			"});"},
		{ID: "snippet-android", Title: "links.snippet.android", Note: "links.snippet.android.note", Lang: "java", Code: "" +
			"// OpenSDK ≥ 5.3.1; api is your registered IWXAPI.\n" +
			"// import com.tencent.mm.opensdk.constants.Build;\n" +
			"// import com.tencent.mm.opensdk.modelbiz.WXOpenBusinessView;\n" +
			"// getWXAppSupportAPI() is 0 without WeChat; below\n" +
			"// OPEN_BUSINESS_VIEW_SDK_INT WeChat is older than 7.0.3.\n" +
			"if (api.getWXAppSupportAPI() >= Build.OPEN_BUSINESS_VIEW_SDK_INT) {\n" +
			"    WXOpenBusinessView.Req req = new WXOpenBusinessView.Req();\n" +
			"    req.businessType = \"wxpayScoreEnable\";\n" +
			"    req.query = " + CString(query) + ";\n" +
			"    // Optional: 0 release (default), 1 development, 2 trial.\n" +
			"    req.extInfo = " + CString(ExtInfo) + ";\n" +
			"    api.sendReq(req);\n" +
			"} else {\n" +
			"    // WeChat is missing or older than 7.0.3: ask the user to install or upgrade it.\n" +
			"}"},
		{ID: "snippet-ios", Title: "links.snippet.ios", Note: "links.snippet.ios.note", Lang: "objectivec", Code: "" +
			"// WXOpenBusinessViewReq: OpenSDK ≥ 1.8.4. sendReq:completion: is the\n" +
			"// OpenSDK ≥ 1.8.6 form (registerApp:universalLink: first); on 1.8.4–1.8.5\n" +
			"// call [WXApi sendReq:req] instead.\n" +
			"// WeChat < 7.0.3 opens but cannot show Pay Score: ask the user to upgrade.\n" +
			"WXOpenBusinessViewReq *req = [WXOpenBusinessViewReq object];\n" +
			"req.businessType = @\"wxpayScoreEnable\";\n" +
			"req.query = @" + CString(query) + ";\n" +
			"// Optional: 0 release (default), 1 development, 2 trial.\n" +
			"req.extInfo = @" + CString(ExtInfo) + ";\n" +
			"[WXApi sendReq:req completion:nil];"},
		{ID: "snippet-h5", Title: "links.snippet.h5", Note: "links.snippet.h5.note", Lang: "javascript", Code: "" +
			"// JS-SDK 1.5.0, WeChat ≥ 7.0.5, inside wx.ready after wx.config.\n" +
			"wx.checkJsApi({\n" +
			"  jsApiList: ['openBusinessView'],\n" +
			"  success: function (res) {\n" +
			"    if (!res.checkResult.openBusinessView) {\n" +
			"      // Too old: WeChat's own upgrade page.\n" +
			"      window.location.href = '" + UpgradeURL + "';\n" +
			"      return;\n" +
			"    }\n" +
			"    wx.invoke('openBusinessView', {\n" +
			"      businessType: 'wxpayScoreEnable',\n" +
			"      queryString: " + JSString(query) + "\n" +
			"    }, function (res) {\n" +
			"      // err_code is a String on Android, a Number on iOS; it does not say\n" +
			"      // whether the user agreed: wait for the notification.\n" +
			"      if (parseInt(res.err_code, 10) === 0) {}\n" +
			"    });\n" +
			"  }\n" +
			"});"},
	}
}

// JSString quotes s as a single-quoted JavaScript string literal that is
// also safe inside an HTML <script> element: quotes, backslashes, line
// terminators, control characters and <, >, & are escaped.
func JSString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '<', '>', '&', '\u2028', '\u2029':
			fmt.Fprintf(&b, `\u%04X`, r)
		case utf8.RuneError:
			b.WriteString(`\uFFFD`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// CString quotes s as a double-quoted Java / Objective-C string literal.
func CString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r > 0xffff:
			// Outside the BMP: a UTF-16 surrogate pair, as Java reads \u.
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04X\u%04X`, r1, r2)
		case r < 0x20 || r >= 0x7f:
			// Outside printable ASCII: a \u escape reads the same in Java;
			// URL-encoded tokens never get here.
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func linkPath(id int64) string { return "/links/" + strconv.FormatInt(id, 10) }

func subMerchantPath(id int64) string { return "/sub-merchants/" + strconv.FormatInt(id, 10) }

// stateKey is the catalog key of an authorization state; "" is "unknown".
func stateKey(state string) string {
	switch state {
	case StateAvailable, StateUnavailable, StateUnbindUser:
		return "links.state." + state
	}
	return "links.state.unknown"
}

func stateClass(state string) string {
	if state == "" {
		return "badge"
	}
	return "badge " + state
}

func jsAPIList(l []string) string { return strings.Join(l, ",") }

func int64s(i int64) string { return strconv.FormatInt(i, 10) }
