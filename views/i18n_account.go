package views

// accountStrings are the strings of /account, two-factor sign-in, step-up
// and sessions.
var accountStrings = map[string]entry{
	"account.title":            {"我的账户", "My account"},
	"account.password":         {"修改密码", "Change password"},
	"account.password.current": {"当前密码", "Current password"},
	"account.password.new":     {"新密码（至少 10 个字符）", "New password (at least 10 characters)"},
	"account.password.submit":  {"修改密码", "Change password"},
	"account.password.changed": {"密码已修改，所有会话已结束，请用新密码登录。", "Password changed; every session has ended. Sign in with the new password."},
	"account.err.current":      {"当前密码错误。", "The current password is wrong."},

	"mfa.title":             {"两步验证（TOTP）", "Two-factor sign-in (TOTP)"},
	"mfa.on":                {"已启用", "On"},
	"mfa.on.since":          {"启用于 %s", "since %s"},
	"mfa.off":               {"未启用", "Off"},
	"mfa.required":          {"您的角色必须启用两步验证：完成设置后才能使用其他页面。", "Your role must sign in with two-factor: set it up to use the other pages."},
	"mfa.start":             {"设置两步验证", "Set up two-factor"},
	"mfa.enrol.scan":        {"用身份验证器应用（如 Microsoft Authenticator、Google Authenticator、FreeOTP）扫描二维码：", "Scan the QR code with an authenticator app (Microsoft Authenticator, Google Authenticator, FreeOTP…):"},
	"mfa.enrol.qr":          {"两步验证二维码", "Two-factor QR code"},
	"mfa.enrol.text":        {"或在应用中输入此地址：", "Or enter this URI in the app:"},
	"mfa.enrol.secret":      {"密钥：", "Secret:"},
	"mfa.enrol.code":        {"应用显示的 6 位验证码", "The 6-digit code the app shows"},
	"mfa.enrol.confirm":     {"确认启用", "Turn on"},
	"mfa.enrolled":          {"两步验证已启用。", "Two-factor sign-in is on."},
	"mfa.recovery.title":    {"恢复码", "Recovery codes"},
	"mfa.recovery.once":     {"请立即保存以下恢复码：手机丢失时，每个恢复码可代替验证码登录一次。它们只显示这一次。", "Save these recovery codes now: if you lose your phone, each one signs you in once instead of a code. They are shown only this once."},
	"mfa.recovery.done":     {"我已保存", "I have saved them"},
	"mfa.code":              {"验证码", "Code"},
	"mfa.step.title":        {"两步验证", "Two-factor sign-in"},
	"mfa.step.code":         {"身份验证器应用中的 6 位验证码", "The 6-digit code from your authenticator app"},
	"mfa.step.hint":         {"手机不在身边？可输入一个恢复码。", "No phone at hand? Enter a recovery code."},
	"mfa.step.submit":       {"验证", "Verify"},
	"mfa.pending.expired":   {"登录步骤已失效，请重新输入用户名和密码。", "The sign-in step is no longer valid; enter your username and password again."},
	"mfa.err.code":          {"验证码错误、已使用或已失效。", "The code is wrong, already used, or expired."},
	"mfa.err.code.required": {"请输入验证码。", "Enter the code."},
	"mfa.err.enrolled":      {"两步验证已经启用。", "Two-factor sign-in is already on."},
	"mfa.err.nothing":       {"没有待确认的两步验证设置，请重新开始。", "There is no two-factor set-up to confirm; start again."},

	"stepup.title":              {"请再次确认身份", "Confirm it is you"},
	"stepup.ask.code":           {"此操作需要验证：您上次验证已超过 15 分钟，请输入身份验证器应用中的验证码。", "This needs a fresh check: you last authenticated more than 15 minutes ago. Enter the code from your authenticator app."},
	"stepup.ask.password":       {"此操作需要验证：您上次验证已超过 15 分钟，请再次输入密码。", "This needs a fresh check: you last authenticated more than 15 minutes ago. Enter your password again."},
	"stepup.submit":             {"确认并继续", "Confirm and continue"},
	"stepup.err.code":           {"验证码错误、已使用或已失效，未做任何更改。", "The code is wrong, already used, or expired; nothing was changed."},
	"stepup.err.password":       {"密码错误，未做任何更改。", "Wrong password; nothing was changed."},
	"stepup.err.expired":        {"确认已失效，请重新提交。", "The confirmation is no longer valid; submit the form again."},
	"support.err.code.required": {"请输入验证码。", "Enter the code."},

	"sessions.title":         {"登录会话", "Sessions"},
	"sessions.ip":            {"地址", "Address"},
	"sessions.browser":       {"浏览器", "Browser"},
	"sessions.started":       {"开始时间", "Started"},
	"sessions.lastseen":      {"最近活动", "Last seen"},
	"sessions.current":       {"当前会话", "This session"},
	"sessions.revoke":        {"结束", "End"},
	"sessions.revoke.others": {"结束其他所有会话", "End all other sessions"},
	"sessions.revoke.all":    {"结束全部会话", "End all sessions"},
	"sessions.revoked":       {"会话已结束。", "The session has ended."},

	"users.mfa":          {"两步验证", "Two-factor"},
	"users.mfa.reset":    {"重置两步验证", "Reset two-factor"},
	"users.mfa.reset.ok": {"已重置 %s 的两步验证，其所有会话已结束。", "Two-factor of %s reset; their sessions have ended."},
	"users.sessions":     {"会话", "Sessions"},
}

// accountPlurals are the count-bearing strings of /account and sessions.
var accountPlurals = plurals(map[string]plural{
	"mfa.recovery.left":       {"剩余恢复码：%d 个", "%d recovery code left", "%d recovery codes left"},
	"sessions.revoked.others": {"已结束 %d 个会话。", "%d session ended.", "%d sessions ended."},
})
