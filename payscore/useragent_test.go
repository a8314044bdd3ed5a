package payscore

import "testing"

// User-Agents of real phones (the handlers' landing tests use the same).
const (
	uaWeChat801  = "Mozilla/5.0 (Linux; Android 10; V1916A Build/QP1A.190711.020; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.62 XWEB/2691 MMWEBSDK/200801 Mobile Safari/537.36 MMWEBID/1234 MicroMessenger/8.0.1.1841(0x28000151) Process/tools WeChat/arm64 NetType/WIFI Language/zh_CN ABI/arm64"
	uaWeChat7010 = "Mozilla/5.0 (iPhone; CPU iPhone OS 13_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/7.0.10(0x17000a21) NetType/WIFI Language/zh_CN"
	uaWeChat704  = "Mozilla/5.0 (iPhone; CPU iPhone OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/7.0.4(0x17000428) NetType/WIFI Language/zh_CN"
	uaDesktop    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"7.0.5", "7.0.5", 0},
		{"7.0.10", "7.0.5", 1}, // numeric, not text
		{"7.0.4", "7.0.5", -1},
		{"8.0.1.1841", "7.0.5", 1},
		{"7.0", "7.0.5", -1},
		{"7.0.5.0", "7.0.5", 0},
		{"6.7.3", "7.0.5", -1},
		{"7.1", "7.0.5", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := CompareVersions(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
	for ua, want := range map[string]string{uaWeChat801: "8.0.1.1841", uaWeChat7010: "7.0.10", uaWeChat704: "7.0.4", uaDesktop: ""} {
		if got, _ := WeChatVersion(ua); got != want {
			t.Errorf("WeChatVersion(…%s) = %q, want %q", ua[len(ua)-20:], got, want)
		}
	}
}
