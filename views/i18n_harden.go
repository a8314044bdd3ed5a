package views

// hardenStrings are the strings of the security rules: invisible
// characters, the password policy, lockouts and unlocking.
var hardenStrings = map[string]entry{
	"input.err.invisible": {"不能包含不可见的格式字符（如 U+202E 文字方向覆盖、U+200B 零宽空格）。",
		"Must not contain invisible format characters (such as U+202E right-to-left override or U+200B zero-width space)."},
	"users.err.password_simple": {"密码过于简单：不能只有空白、同一字符重复或简单序列（如 1234567890、qwertyuiop）。",
		"The password is too simple: not only spaces, one repeated character or a simple sequence (such as 1234567890 or qwertyuiop)."},
	"users.err.password_username": {"密码不能是用户名，也不能包含用户名。", "The password must not be or contain the username."},
	"users.err.password_common":   {"这是最常见的密码之一，请换一个。", "This is one of the most common passwords; choose another."},
	"users.currentpassword":       {"当前密码", "Current password"},
	"users.unlock":                {"解除锁定", "Unlock"},
	"users.unlocked.ok":           {"已解除用户 %s 的登录锁定。", "Sign-in lockouts of %s ended."},
	"support.live.crosssite":      {"此页面由其他网站打开：仅显示本地记录的最近状态，未向微信支付实时查询。", "This page was opened from another site: it shows the last state known here, without asking WeChat Pay live."},
	"callbacks.col.count":         {"次数", "Times"},
	"support.live.query":          {"实时查询", "Query live"},
}

// hardenPlurals are the count-bearing strings of the security screens.
var hardenPlurals = plurals(map[string]plural{
	"users.locked":            {"已锁定（%d 个地址，至 %s）", "Locked (%d address, until %s)", "Locked (%d addresses, until %s)"},
	"callbacks.refusal.times": {"%d 次，最后一次 %s", "%d time, last at %s", "%d times, last at %s"},
})
