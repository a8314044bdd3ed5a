package payscore

import (
	"regexp"
	"strconv"
	"strings"
)

// MinWeChatVersion is the oldest WeChat whose JSAPI has openBusinessView
// (the spec: "要求用户微信版本>=7.0.5").
const MinWeChatVersion = "7.0.5"

// wechatUA finds WeChat's version in a User-Agent, as the spec's example does.
var wechatUA = regexp.MustCompile(`(?i)MicroMessenger/([0-9][0-9.]*)`)

// WeChatVersion returns the WeChat version in a User-Agent, and whether the
// browser is WeChat's at all.
func WeChatVersion(ua string) (string, bool) {
	m := wechatUA.FindStringSubmatch(ua)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// OpenBusinessViewSupported reports whether a User-Agent is WeChat's
// (inWeChat), and whether that WeChat is recent enough for the
// authorization page (MinWeChatVersion or later).
func OpenBusinessViewSupported(ua string) (inWeChat, supported bool) {
	v, ok := WeChatVersion(ua)
	if !ok {
		return false, false
	}
	return true, CompareVersions(v, MinWeChatVersion) >= 0
}

// CompareVersions compares dotted versions numerically part by part (7.0.10
// is above 7.0.5); a missing or empty part counts as 0.
func CompareVersions(a, b string) int {
	x, y := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(x), len(y)); i++ {
		var p, q int
		if i < len(x) {
			p, _ = strconv.Atoi(x[i])
		}
		if i < len(y) {
			q, _ = strconv.Atoi(y[i])
		}
		if p != q {
			if p > q {
				return 1
			}
			return -1
		}
	}
	return 0
}
