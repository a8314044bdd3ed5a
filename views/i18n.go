package views

import (
	"context"
	"fmt"
)

// Languages the console speaks; Chinese is the default.
const (
	LangZH = "zh"
	LangEN = "en"
)

type langKey struct{}

// WithLang returns a context whose components render in lang.
func WithLang(ctx context.Context, lang string) context.Context {
	return context.WithValue(ctx, langKey{}, lang)
}

// Lang is the language components render in.
func Lang(ctx context.Context) string {
	if l, ok := ctx.Value(langKey{}).(string); ok && l == LangEN {
		return LangEN
	}
	return LangZH
}

// T translates a catalog key into the context's language. An unknown key
// renders as itself, so a missing string is visible, never blank.
func T(ctx context.Context, key string) string {
	return Tr(Lang(ctx), key)
}

// Tf translates and formats.
func Tf(ctx context.Context, key string, args ...any) string {
	return fmt.Sprintf(T(ctx, key), args...)
}

// Tn translates a count-bearing key and formats it with n as the first
// argument, followed by args. The catalog holds two forms of such a key,
// key+".one" and key+".other" (see plurals): English uses ".one" when n is
// 1 or -1 ("1 minute ago") and ".other" otherwise ("0 minutes", "2 minutes");
// Chinese has a single form, ".other". An unknown key renders as itself.
func Tn(ctx context.Context, key string, n int, args ...any) string {
	return Trn(Lang(ctx), key, n, args...)
}

// Trn is Tn for a language given directly.
func Trn(lang, key string, n int, args ...any) string {
	form := key + ".other"
	if lang == LangEN && (n == 1 || n == -1) {
		form = key + ".one"
	}
	if _, ok := catalog[form]; !ok {
		return key
	}
	return fmt.Sprintf(Tr(lang, form), append([]any{n}, args...)...)
}

// Tr translates key into lang.
func Tr(lang, key string) string {
	e, ok := catalog[key]
	if !ok {
		return key
	}
	if lang == LangEN {
		return e.en
	}
	return e.zh
}

type entry struct{ zh, en string }

// plural is a count-bearing string: Chinese has one form for every count,
// English a singular (one) and a plural (other). Its text takes the count
// as its first verb (%d).
type plural struct{ zh, one, other string }

// plurals expands count-bearing strings into the catalog entries Tn reads:
// key+".one" and key+".other".
func plurals(m map[string]plural) map[string]entry {
	out := make(map[string]entry, 2*len(m))
	for k, p := range m {
		out[k+".one"] = entry{zh: p.zh, en: p.one}
		out[k+".other"] = entry{zh: p.zh, en: p.other}
	}
	return out
}

// catalog holds every string the console shows, in both languages. Each
// screen keeps its strings beside its components; keys must not repeat.
var catalog = merge(coreStrings, linkStrings, supportStrings, supportPlurals, logStrings, accountStrings, accountPlurals,
	customerStrings, plurals(customerPlurals), ssoStrings, hardenStrings, hardenPlurals, bulkStrings, bulkPlurals, ux3Strings, upstreamStrings, logStringsUX3, auditStrings, diagStrings, diagPlurals)

func merge(parts ...map[string]entry) map[string]entry {
	out := map[string]entry{}
	for _, part := range parts {
		for k, v := range part {
			if _, dup := out[k]; dup {
				panic("views: catalog key defined twice: " + k)
			}
			out[k] = v
		}
	}
	return out
}

// coreStrings are the layout's, sign-in's and users' strings.
var coreStrings = map[string]entry{
	"app.name":           {"支付分授权控制台", "Pay Score Console"},
	"sandbox.banner":     {"沙箱模式：所有微信支付调用均由内置模拟器应答，数据仅供演示", "SANDBOX mode: every WeChat Pay call is answered by the built-in simulator; data is for demonstration only"},
	"nav.overview":       {"概览", "Overview"},
	"nav.submerchants":   {"子商户", "Sub-merchants"},
	"nav.links":          {"授权链接", "Links"},
	"nav.authorizations": {"授权查询", "Look-up"},
	"nav.callbacks":      {"回调日志", "Callbacks"},
	"nav.audit":          {"审计日志", "Audit log"},
	"nav.users":          {"用户", "Users"},
	"nav.sandbox":        {"沙箱", "Sandbox"},
	"nav.logout":         {"退出", "Sign out"},
	"lang.switch":        {"English", "中文"},
	"role.admin":         {"管理员", "Admin"},
	"role.operator":      {"渠道运营", "Operator"},
	"role.support":       {"客服", "Support"},
	"role.viewer":        {"只读", "Viewer"},
	"login.title":        {"登录", "Sign in"},
	"login.username":     {"用户名", "Username"},
	"login.password":     {"密码", "Password"},
	"login.submit":       {"登录", "Sign in"},
	"login.failed":       {"用户名或密码错误。", "Wrong username or password."},
	"login.locked":       {"登录失败次数过多，账户已锁定至 %s。", "Too many failed sign-ins: the account is locked until %s."},
	"login.required":     {"请输入用户名和密码。", "Enter your username and password."},
	"login.expired":      {"会话已失效，请重新登录。", "Your session has ended; sign in again."},
	"logout.done":        {"您已退出。", "You have signed out."},
	"users.title":        {"用户管理", "Users"},
	"users.username":     {"用户名", "Username"},
	"users.role":         {"角色", "Role"},
	"users.status":       {"状态", "Status"},
	"users.created":      {"创建时间", "Created"},
	"users.actions":      {"操作", "Actions"},
	"users.active":       {"启用", "Active"},
	"users.disabled":     {"已停用", "Disabled"},
	"users.add":          {"添加用户", "Add a user"},
	"users.password":     {"初始密码（至少 10 个字符）", "Initial password (at least 10 characters)"},
	"users.create":       {"创建", "Create"},
	"users.setrole":      {"修改角色", "Change role"},
	"users.disable":      {"停用", "Disable"},
	"users.enable":       {"启用", "Enable"},
	"users.reset":        {"重置密码", "Reset password"},
	"users.newpassword":  {"新密码", "New password"},
	"users.created.ok":   {"已创建用户 %s。", "User %s created."},
	"users.updated.ok":   {"已更新用户 %s，其所有会话已结束。", "User %s updated; their sessions have ended."},
	"users.err.username": {"用户名须为 3–32 个字母、数字、点、下划线或连字符。", "Username must be 3–32 letters, digits, dots, underscores or hyphens."},
	"users.err.taken":    {"该用户名已存在。", "That username is taken."},
	"users.err.role":     {"请选择有效的角色。", "Choose a valid role."},
	"users.err.password": {"密码至少需要 10 个字符。", "The password needs at least 10 characters."},
	"users.err.self":     {"不能停用自己或修改自己的角色。", "You cannot disable yourself or change your own role."},
	"error.title":        {"出错了", "Something went wrong"},
	"error.400":          {"请求无效。", "The request is not valid."},
	"error.401":          {"请先登录。", "Please sign in."},
	"error.403":          {"您无权执行此操作。", "You are not allowed to do this."},
	"error.404":          {"页面不存在。", "This page does not exist."},
	"error.405":          {"不支持此请求方法。", "This method is not allowed here."},
	"error.409":          {"与现有数据冲突。", "This conflicts with existing data."},
	"error.413":          {"请求内容过大。", "The request is too large."},
	"error.422":          {"提交的内容有误。", "The submitted values are not valid."},
	"error.429":          {"请求过于频繁，请稍后再试。", "Too many requests; try again shortly."},
	"error.500":          {"服务器内部错误，已记录。", "Internal error; it has been logged."},
	"error.502":          {"微信支付暂时无法访问。", "WeChat Pay could not be reached."},
	"error.503":          {"服务暂不可用。", "The service is unavailable."},
	"error.back":         {"返回概览", "Back to the overview"},
	"common.save":        {"保存", "Save"},
	"common.yes":         {"是", "Yes"},
	"common.no":          {"否", "No"},
	"common.never":       {"从未", "never"},
}
