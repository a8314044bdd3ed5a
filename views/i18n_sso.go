package views

// ssoStrings are the strings of single sign-on (OIDC).
var ssoStrings = map[string]entry{
	"sso.signin":        {"使用 %s 登录", "Sign in with %s"},
	"sso.or_password":   {"或使用用户名和密码登录：", "Or sign in with a username and password:"},
	"sso.local_off":     {"密码登录仅限应急账户使用。", "Password sign-in is for emergency (break-glass) accounts only."},
	"sso.refused.title": {"单点登录未成功", "Single sign-on did not sign you in"},
	"sso.back":          {"返回登录页", "Back to sign-in"},

	"sso.err.no_mapped_role":      {"您在身份提供方的角色没有对应的控制台角色，无法登录。请联系管理员为您分配角色。", "Your roles at the identity provider map to no role in this console, so you cannot sign in. Ask an admin to give you a role."},
	"sso.err.disabled":            {"您的账户已在控制台中停用。", "Your account is disabled in this console."},
	"sso.err.bad_username":        {"身份提供方未提供可用的用户名（preferred_username：3–32 位字母、数字、点、下划线或连字符）。", "The identity provider sent no usable username (preferred_username: 3–32 letters, digits, dots, underscores or hyphens)."},
	"sso.err.username_taken":      {"控制台中已有同名的本地账户，不能用单点登录使用它。请联系管理员。", "A local account with your username already exists in this console; single sign-on cannot take it over. Ask an admin."},
	"sso.err.token_refused":       {"身份提供方的应答未通过校验，请重新登录。", "The identity provider's answer did not pass verification. Sign in again."},
	"sso.err.bad_state":           {"登录请求已失效或不是从本浏览器发起的，请重新登录。", "This sign-in has expired or was not started in this browser. Sign in again."},
	"sso.err.provider_error":      {"暂时无法连接身份提供方，请稍后重试。", "The identity provider cannot be reached right now. Try again later."},
	"sso.err.provider_denied":     {"身份提供方拒绝了登录。", "The identity provider refused the sign-in."},
	"sso.stepup.ask":              {"此操作需要重新确认身份：请在身份提供方重新登录，返回后再次提交。", "This needs you to confirm who you are: sign in again at the identity provider, then send the form again."},
	"sso.stepup.link":             {"在身份提供方确认身份", "Confirm at the identity provider"},
	"sso.err.other_account":       {"身份提供方登录的是另一个账户。", "The identity provider signed in a different account."},
	"sso.err.not_reauthenticated": {"身份提供方没有重新验证您的身份，请重试。", "The identity provider did not authenticate you again. Try again."},
	"users.err.sso_password":      {"单点登录用户没有本地密码，其密码由身份提供方管理。", "A single sign-on user has no local password: the identity provider manages it."},
	"users.sso":                   {"单点登录", "single sign-on"},
	"users.break_glass":           {"应急账户", "break-glass"},
}
