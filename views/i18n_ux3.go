package views

// ux3Strings: field names as people read them, time labels, copy buttons,
// WeChat Pay's codes as instructions, the callback and audit logs' words.
var ux3Strings = map[string]entry{
	"field.authorization_code": {"授权协议号", "Authorization code"},
	"field.sub_mchid":          {"子商户号", "Sub-merchant ID"},
	"field.openid":             {"用户标识", "openid"},
	"field.sub_openid":         {"子商户用户标识", "sub_openid"},
	"field.sub_openid.mark":    {"（子商户用户标识）", "(sub_openid)"},
	"field.openid_any":         {"用户标识", "openid / sub_openid"},
	"field.sub_appid":          {"子商户 AppID", "Sub-merchant AppID"},
	"field.openorclose_time":   {"开启或关闭时间", "Turned on or closed at"},
	"field.create_time":        {"通知创建时间", "Notification created at"},
	"field.event_type":         {"事件类型", "Event"},
	"time.tz":                  {"时间均为北京时间（UTC+8）", "Times are Beijing time (UTC+8)"},
	"field.serial":             {"签名证书或公钥序列号", "Signing serial"},
}

// upstreamStrings explain WeChat Pay's error codes as what this console's
// users should do: upstream.<CODE> says what happened, upstream.<CODE>.do
// what to do. WeChat Pay's own message (which speaks of 订单, orders) is
// kept only where it names the value at fault.
var upstreamStrings = map[string]entry{
	"upstream.SYSTEM_ERROR":           {"微信支付内部出错，本次调用没有完成。", "WeChat Pay had an internal error; the call was not completed."},
	"upstream.SYSTEM_ERROR.do":        {"请稍后用相同的内容重试；如持续出现，请把下方的错误码和 Request-ID 提供给微信支付。", "Try again later with the same values; if it keeps happening, give WeChat Pay the error code and Request-ID below."},
	"upstream.PARAM_ERROR":            {"微信支付不接受提交的某个值。", "WeChat Pay does not accept one of the values sent."},
	"upstream.PARAM_ERROR.do":         {"请按下方微信支付的说明改正该值后重试；如该值来自配置，请联系管理员。", "Correct the value WeChat Pay names below and try again; if it comes from the configuration, ask an admin."},
	"upstream.NO_AUTH":                {"本控制台的商户号无权为该子商户办理此操作。", "This console's merchant ID may not do this for this sub-merchant."},
	"upstream.NO_AUTH.do":             {"请确认该子商户已在微信支付与本服务商绑定并开通了微信支付分；如不确定，请联系管理员。", "Check that the sub-merchant is bound to this service provider at WeChat Pay and has WeChat Pay Score; ask an admin if unsure."},
	"upstream.FREQUENCY_LIMITED":      {"调用太频繁，微信支付暂时没有受理本次调用。", "Too many calls: WeChat Pay did not take this one for now."},
	"upstream.FREQUENCY_LIMITED.do":   {"请等一分钟后重试；本次没有做任何更改。", "Wait a minute and try again; nothing was changed."},
	"upstream.INVALID_REQUEST":        {"微信支付不受理本次请求：它不符合微信支付的接口规则或业务规则。", "WeChat Pay refused the request: it breaks WeChat Pay's API or business rules."},
	"upstream.INVALID_REQUEST.do":     {"如果这个授权协议号以前用于别的子商户或别的内容，请换一个授权协议号（或留空自动生成）；否则请把错误码和 Request-ID 交给管理员。", "If this authorization code was used before for another sub-merchant or other values, use another code (or leave it empty for a generated one); otherwise give the error code and Request-ID to an admin."},
	"upstream.SIGN_ERROR":             {"微信支付无法验证本控制台的签名，本次调用没有完成。", "WeChat Pay could not verify this console's signature; the call was not completed."},
	"upstream.SIGN_ERROR.do":          {"请管理员检查商户 API 证书序列号（WECHATPAY_CERT_SERIAL）、商户 API 私钥（WECHATPAY_PRIVATE_KEY）是否匹配，以及服务器时钟是否准确（与北京时间相差不超过 5 分钟）。", "An admin should check that the merchant certificate serial (WECHATPAY_CERT_SERIAL) and the merchant API private key (WECHATPAY_PRIVATE_KEY) belong together, and that the server clock is right (within 5 minutes of Beijing time)."},
	"upstream.ORDER_NOT_EXIST":        {"微信支付没有该子商户下使用这个授权协议号的授权。", "WeChat Pay knows no authorization with this code for this sub-merchant."},
	"upstream.ORDER_NOT_EXIST.do":     {"请核对授权协议号和子商户。", "Check the code and the sub-merchant."},
	"upstream.INVALID_ORDER_STATE":    {"该授权当前的状态不允许此操作。", "The authorization's current state does not allow this."},
	"upstream.INVALID_ORDER_STATE.do": {"请先查询它的当前状态：已解除或已被用户关闭的授权无需再解除。", "Look up its current state first: an authorization already terminated or closed by the user needs no termination."},
	"upstream.ORDER_CANCELED":         {"该授权已经结束（已解除或已被用户关闭）。", "The authorization has already ended (terminated, or closed by the user)."},
	"upstream.ORDER_CANCELED.do":      {"无需操作；如要继续为该用户服务，请创建新的授权链接。", "Nothing to do; to serve this user again, create a new link."},
	"upstream.ORDER_DONE":             {"该授权已经结束。", "The authorization has already ended."},
	"upstream.ORDER_DONE.do":          {"无需操作；如要继续为该用户服务，请创建新的授权链接。", "Nothing to do; to serve this user again, create a new link."},
	"upstream.unknown":                {"微信支付返回了本控制台不认识的错误（%s）。", "WeChat Pay answered with an error this console does not know (%s)."},
	"upstream.unknown.do":             {"请按下方微信支付的说明处理；需要帮助时，请把错误码和 Request-ID 交给管理员或微信支付。", "Follow WeChat Pay's words below; when asking for help, give the error code and Request-ID to an admin or to WeChat Pay."},
	"upstream.message":                {"微信支付的说明：", "WeChat Pay says:"},
	"upstream.escalate":               {"联系微信支付时请提供：", "To quote when contacting WeChat Pay:"},
	"upstream.code":                   {"错误码", "Error code"},

	"copy.button": {"复制", "Copy"},
	"copy.label":  {"复制 %s", "Copy %s"},
	"copy.done":   {"已复制", "Copied"},
}

// logStringsUX3: the callback and audit logs in words.
var logStringsUX3 = map[string]entry{
	"refusal.reason.missing_header": {"缺少微信支付的签名头", "WeChat Pay's signature headers are missing"},
	"refusal.reason.bad_timestamp":  {"时间戳与本机相差超过 5 分钟（可能是重放）", "The timestamp is more than 5 minutes off (possibly a replay)"},
	"refusal.reason.bad_signature":  {"签名验证失败", "The signature does not verify"},
	"refusal.reason.unknown_serial": {"未知的证书或公钥序列号", "Unknown certificate or public key serial"},
	"refusal.reason.decrypt_failed": {"无法解密（APIv3 密钥不符）", "Could not be decrypted (APIv3 key mismatch)"},
	"refusal.reason.bad_event_type": {"不是支付分授权事件", "Not a Pay Score authorization event"},
	"refusal.reason.malformed":      {"内容无法解析", "The body could not be read"},
	"refusal.reason.internal":       {"本控制台内部出错", "Internal error in this console"},

	"logs.err.filters":  {"筛选条件有误，因此没有列出任何记录：请改正标出的项。", "Some filters are not valid, so nothing is listed: correct the fields marked."},
	"callbacks.live.on": {"实时更新中：新通知会出现在顶部并高亮显示", "Live: new notifications appear at the top, highlighted"},
}

// AuditActions are the audit log's known actions, in the order the action
// filter offers them; each has a catalogue entry audit.action.<name>. (An
// action "sandbox.<control>" is shown through audit.action.sandbox.)
var AuditActions = []string{
	"link.create", "link.renew", "link.auto_renew",
	"terminate.request", "terminate.result", "terminate.skipped", "terminate.reauth", "authorization.terminate",
	"bulk.lookup.start", "bulk.lookup.cancel", "bulk.terminate.start", "bulk.terminate.cancel",
	"landing.pause", "landing.resume",
	"submerchant.create", "submerchant.edit", "submerchant.disable", "submerchant.enable",
	"user.create", "user.role", "user.disable", "user.enable", "user.password",
	"auth.login", "auth.login_failed", "auth.logout", "auth.lockout", "auth.unlock",
	"auth.mfa_enrolled", "auth.mfa_failed", "auth.mfa_reset", "auth.recovery_code_used",
	"auth.session_revoked", "auth.sso_refused", "auth.stepup", "auth.stepup_failed",
	"export.callbacks", "export.audit",
	"notification.reverify", "callbacks.purge",
}

var auditStrings = map[string]entry{
	"audit.action.link.create":             {"创建授权链接", "Link created"},
	"audit.action.link.renew":              {"续期令牌", "Token renewed"},
	"audit.action.link.auto_renew":         {"设置自动续期", "Auto-renewal set"},
	"audit.action.notification.reverify":   {"重新验证拒收的通知", "Refused notification re-verified"},
	"audit.action.callbacks.purge":         {"清理旧的回调记录", "Old callbacks purged"},
	"audit.action.terminate.request":       {"请求解除授权", "Termination requested"},
	"audit.action.terminate.result":        {"解除授权的结果", "Termination outcome"},
	"audit.action.terminate.skipped":       {"未解除：授权已结束", "Termination skipped: already over"},
	"audit.action.terminate.reauth":        {"解除授权时身份确认失败", "Identity check failed at a termination"},
	"audit.action.authorization.terminate": {"解除授权", "Authorization terminated"},
	"audit.action.bulk.lookup.start":       {"开始批量查询", "Bulk look-up started"},
	"audit.action.bulk.lookup.cancel":      {"取消批量查询", "Bulk look-up canceled"},
	"audit.action.bulk.terminate.start":    {"开始子商户下线", "Offboarding started"},
	"audit.action.bulk.terminate.cancel":   {"取消子商户下线", "Offboarding canceled"},
	"audit.action.landing.pause":           {"紧急暂停所有落地页", "Landing pages paused"},
	"audit.action.landing.resume":          {"恢复落地页", "Landing pages resumed"},
	"audit.action.submerchant.create":      {"添加子商户", "Sub-merchant added"},
	"audit.action.submerchant.edit":        {"修改子商户", "Sub-merchant edited"},
	"audit.action.submerchant.disable":     {"停用子商户", "Sub-merchant disabled"},
	"audit.action.submerchant.enable":      {"启用子商户", "Sub-merchant enabled"},
	"audit.action.user.create":             {"创建用户", "User created"},
	"audit.action.user.role":               {"修改角色", "Role changed"},
	"audit.action.user.disable":            {"停用用户", "User disabled"},
	"audit.action.user.enable":             {"启用用户", "User enabled"},
	"audit.action.user.password":           {"重置密码", "Password reset"},
	"audit.action.auth.login":              {"登录", "Signed in"},
	"audit.action.auth.login_failed":       {"登录失败", "Sign-in failed"},
	"audit.action.auth.logout":             {"退出", "Signed out"},
	"audit.action.auth.lockout":            {"登录被锁定", "Sign-in locked"},
	"audit.action.auth.unlock":             {"解除登录锁定", "Sign-in unlocked"},
	"audit.action.auth.mfa_enrolled":       {"启用两步验证", "Two-factor turned on"},
	"audit.action.auth.mfa_failed":         {"两步验证码错误", "Wrong two-factor code"},
	"audit.action.auth.mfa_reset":          {"重置两步验证", "Two-factor reset"},
	"audit.action.auth.recovery_code_used": {"使用恢复码", "Recovery code used"},
	"audit.action.auth.session_revoked":    {"结束会话", "Session ended"},
	"audit.action.auth.sso_refused":        {"单点登录未成功", "Single sign-on refused"},
	"audit.action.auth.stepup":             {"再次确认身份", "Identity confirmed again"},
	"audit.action.auth.stepup_failed":      {"再次确认身份失败", "Identity check failed"},
	"audit.action.export.callbacks":        {"导出回调日志", "Callback log exported"},
	"audit.action.export.audit":            {"导出审计日志", "Audit log exported"},
	"audit.action.sandbox":                 {"沙箱控制：%s", "Sandbox control: %s"},

	"audit.result.ok":            {"成功", "done"},
	"audit.result.failed":        {"失败", "failed"},
	"audit.result.succeeded":     {"成功", "succeeded"},
	"audit.result.pending":       {"处理中", "pending"},
	"audit.result.requested":     {"已提交", "requested"},
	"audit.result.refused":       {"未执行", "refused"},
	"audit.result.locked":        {"已锁定", "locked"},
	"audit.result.already_ended": {"已结束，未调用", "already over, no call"},
	"audit.result.on":            {"已开启", "on"},
	"audit.result.off":           {"已关闭", "off"},
	"audit.filter.unlisted":      {"其他：%s", "other: %s"},
}
