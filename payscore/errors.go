package payscore

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Error codes of the acquiring-bank Pay Score APIs, as listed in the spec's
// error tables.
const (
	CodeSystemError       = "SYSTEM_ERROR"
	CodeParamError        = "PARAM_ERROR"
	CodeNoAuth            = "NO_AUTH"
	CodeFrequencyLimited  = "FREQUENCY_LIMITED"
	CodeInvalidRequest    = "INVALID_REQUEST"
	CodeOrderNotExist     = "ORDER_NOT_EXIST" // the spec's table misprints it as "ORDER_NOT_ EXIST"
	CodeInvalidOrderState = "INVALID_ORDER_STATE"
	CodeOrderCanceled     = "ORDER_CANCELED"
	CodeOrderDone         = "ORDER_DONE"
)

// CodeSignError is APIv3's answer to a request whose merchant signature
// WeChat Pay could not verify (401, unsigned): wrong certificate serial,
// wrong private key, or a clock more than 5 minutes off.
const CodeSignError = "SIGN_ERROR"

// ErrBadSignature is matched (errors.Is) by every error caused by a WeChat Pay
// response that is forged: a 2xx without a valid signature, or any answer
// whose Wechatpay-* signature headers fail verification. Such a response is
// never treated as data and never retried. (An error answer with no
// Wechatpay-* header at all is an unsigned APIError instead.)
var ErrBadSignature = errors.New("payscore: response signature invalid")

// APIError is an error answer from WeChat Pay: a non-2xx status with the
// standard {"code","message"} body. It is signed, unless Unsigned says
// otherwise.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is WeChat Pay's error code, e.g. "PARAM_ERROR"; empty when the body
	// had none.
	Code string
	// Message is WeChat Pay's own description of the error.
	Message string
	// RequestID is the Request-ID header, to quote to WeChat Pay support.
	RequestID string
	// Unsigned is true when the answer carried no Wechatpay-* header at all.
	// WeChat Pay does not sign its answers to requests it could not
	// authenticate (401 SIGN_ERROR), and its gateway may answer 429 or 5xx
	// unsigned. An unsigned error can only make a call fail, never succeed,
	// so it is shown as WeChat's answer; an unsigned 2xx is a forgery
	// (ErrBadSignature).
	Unsigned bool
}

// Error implements error.
func (e *APIError) Error() string {
	s := "payscore: WeChat Pay answered " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (Request-ID " + e.RequestID + ")"
	}
	if e.Unsigned {
		s += " [unsigned]"
	}
	return s
}

// Temporary reports whether calling again later with the same parameters may
// succeed: system errors (5xx) and rate limiting (429).
func (e *APIError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests ||
		e.Code == CodeSystemError || e.Code == CodeFrequencyLimited
}

type explanation struct{ zh, zhRemedy, en, enRemedy string }

// explanations follows the spec's error table (descriptions and remedies).
var explanations = map[string]explanation{
	CodeSystemError: {
		"系统错误", "5开头的状态码都为系统问题，请使用相同参数稍后重新调用",
		"WeChat Pay system error.", "Status codes starting with 5 are system problems: call again later with the same parameters.",
	},
	CodeParamError: {
		"参数错误", "根据错误提示，传入正确参数",
		"Invalid parameter.", "Correct the parameter named in the error message and try again.",
	},
	CodeNoAuth: {
		"商户信息不合法", "登录商户平台核对，传入正确信息",
		"Merchant information is not valid for this call.", "Check the merchant information on the merchant platform and send the correct values.",
	},
	CodeFrequencyLimited: {
		"频率超限", "请求量不要超过接口调用频率限制",
		"Rate limit exceeded.", "Stay within the API's call-rate limit and try again later.",
	},
	CodeInvalidRequest: {
		// APIv3's general meaning first, then the spec's for these calls.
		"HTTP 请求不符合微信支付 APIv3 接口规则，或请求参数符合参数格式，但不符合业务规则",
		"请参阅 APIv3 接口规则（请求头 Accept、Content-Type、User-Agent 与 Authorization 的格式）；若请求合规，请确认相同单号是否使用了不同的参数",
		"The request breaks WeChat Pay's APIv3 rules, or its parameters are well-formed but break a business rule.",
		"Check the request against the APIv3 rules (Accept, Content-Type, User-Agent and Authorization headers); if it complies, check whether the same authorization code was used with different parameters.",
	},
	CodeSignError: {
		"签名错误：微信支付无法验证本次请求的商户签名（该应答未签名）",
		"请检查商户API证书序列号（WECHATPAY_CERT_SERIAL）是否为本商户号当前有效的证书、商户API私钥（WECHATPAY_PRIVATE_KEY）是否与该证书匹配，以及服务器时钟是否准确（与北京时间相差不能超过 5 分钟）",
		"Signature error: WeChat Pay could not verify this request's merchant signature (its answer is unsigned).",
		"Check that the merchant certificate serial (WECHATPAY_CERT_SERIAL) is a current certificate of this merchant id, that the merchant API private key (WECHATPAY_PRIVATE_KEY) belongs to that certificate, and that the server clock is right (within 5 minutes of Beijing time).",
	},
	CodeOrderNotExist: {
		"订单不存在", "确认入参，传入正确单据",
		"The authorization does not exist.", "Check the authorization code and the sub-merchant, then try again.",
	},
	CodeInvalidOrderState: {
		"单据状态错误", "确认操作是否符合流程",
		"The authorization is not in a state that allows this operation.", "Check that the operation fits the authorization's current state.",
	},
	CodeOrderCanceled: {
		"单据已取消", "当前状态无需操作",
		"The authorization has already been cancelled.", "Nothing to do in this state.",
	},
	CodeOrderDone: {
		"订单已完成", "当前状态无需操作",
		"The authorization is already complete.", "Nothing to do in this state.",
	},
}

// Explain returns the spec's explanation of the error code and the remedy it
// recommends, in lang "zh" (the spec's own words) or "en" (any other value).
// Unknown codes get a generic text that points at the message and Request-ID.
func (e *APIError) Explain(lang string) (explanation, remedy string) {
	// The spec's table prints "ORDER_NOT_ EXIST" with a stray space; accept
	// either spelling.
	x, ok := explanations[strings.ReplaceAll(e.Code, " ", "")]
	if !ok {
		if lang == "zh" {
			return "微信支付返回了未知错误（" + e.statusAndCode() + "）", "请根据错误信息处理；如需联系微信支付，请提供 Request-ID"
		}
		return "WeChat Pay returned an unexpected error (" + e.statusAndCode() + ").",
			"Follow the error message; quote the Request-ID when contacting WeChat Pay."
	}
	if lang == "zh" {
		return x.zh, x.zhRemedy
	}
	return x.en, x.enRemedy
}

func (e *APIError) statusAndCode() string {
	if e.Code == "" {
		return "HTTP " + strconv.Itoa(e.Status)
	}
	return "HTTP " + strconv.Itoa(e.Status) + " " + e.Code
}

// TransportError reports a call whose outcome is unknown: network failure,
// time-out, cancellation, or an unsigned 5xx from something in front of WeChat
// Pay (a gateway or proxy). For a POST, WeChat Pay may or may not have acted:
// query before calling again with different parameters.
type TransportError struct {
	// Call is the API call: "preauthorize", "query" or "terminate".
	Call string
	// Attempts is how many requests were sent.
	Attempts int
	// Timeout is true when an attempt or the overall deadline expired.
	Timeout bool
	// Status is the HTTP status of an unsigned 5xx answer, otherwise 0.
	Status int
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *TransportError) Error() string {
	what := "transport error"
	if e.Timeout {
		what = "time-out"
	}
	if e.Status != 0 {
		what = "unsigned HTTP " + strconv.Itoa(e.Status) + " answer"
	}
	return fmt.Sprintf("payscore: %s: %s after %d attempt(s): %v", e.Call, what, e.Attempts, e.Err)
}

// Unwrap returns the underlying error, so errors.Is(err, context.DeadlineExceeded) works.
func (e *TransportError) Unwrap() error { return e.Err }

// AfterUnknownError is the final error of a call an earlier attempt of which
// had an unknown outcome (no answer in time, a network failure, a 5xx): that
// attempt may have taken effect at WeChat Pay, so an answer about the state
// ("INVALID_ORDER_STATE" to a retried terminate) may be the consequence of
// the call itself. Classify reports it as Failure.AfterUnknown; errors.As
// still finds the final *APIError underneath.
type AfterUnknownError struct {
	// Attempts is how many requests were sent in all.
	Attempts int
	// Err is the final attempt's error.
	Err error
}

// Error implements error.
func (e *AfterUnknownError) Error() string {
	return e.Err.Error() + " (after an earlier attempt whose outcome is unknown; " + strconv.Itoa(e.Attempts) + " attempts)"
}

// Unwrap returns the final attempt's error.
func (e *AfterUnknownError) Unwrap() error { return e.Err }
