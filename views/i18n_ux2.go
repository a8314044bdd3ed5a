package views

// ux2Strings are the strings of issue 13's "feedback and safety": progress
// while WeChat Pay answers, confirm steps, the pause banner. They join the
// catalog at start-up (a key defined twice panics, as in merge).
var ux2Strings = map[string]entry{
	// Progress of an action that calls WeChat Pay (static/app.js).
	"wait.working": {"正在等待微信支付的答复…", "Waiting for WeChat Pay's answer…"},
	"wait.slow":    {"仍在等待微信支付的答复…请勿重复提交。", "Still waiting for WeChat Pay's answer… Do not submit again."},

	// The emergency pause, on every page while it is on.
	"pause.banner.title":  {"紧急暂停已开启：所有落地页显示“服务暂停”，暂不能创建或续期授权链接。", "Emergency pause is on: every landing page says the service is paused, and no link can be created or renewed."},
	"pause.banner.reason": {"原因", "Reason"},
	"pause.banner.by":     {"操作人", "By"},
	"pause.banner.since":  {"开始于", "Since"},
	"pause.banner.manage": {"管理紧急开关", "Manage the emergency switch"},
	"links.err.paused": {"紧急暂停已开启，暂不能创建或续期授权链接。原因：%s；操作人：%s；开始于 %s。请等待管理员恢复后再试。",
		"The emergency pause is on: no link can be created or renewed. Reason: %s; by %s; since %s. Try again once an admin has switched it off."},

	// Confirm steps.
	"confirm.title":  {"请确认", "Please confirm"},
	"confirm.cancel": {"取消", "Cancel"},

	"confirm.user.disable.question": {"确定要停用用户 %s 吗？", "Disable user %s?"},
	"confirm.user.disable.warning":  {"停用后该用户的所有会话立即结束，无法再登录，直到管理员重新启用。", "Every session of this user ends at once and they cannot sign in until an admin enables them again."},
	"confirm.user.disable.submit":   {"确认停用用户", "Disable the user"},
	"confirm.user.username":         {"用户名", "Username"},
	"confirm.user.role":             {"角色", "Role"},
	"confirm.user.created":          {"创建时间", "Created"},

	"confirm.submerchant.disable.question": {"确定要停用子商户 %s（%s）吗？", "Disable sub-merchant %s (%s)?"},
	"confirm.submerchant.disable.warning":  {"停用后不能再为其创建或续期授权链接；已开启的授权不受影响，仍可查询和解除。", "No link can be created or renewed for it; authorizations already on are not affected and can still be looked up and terminated."},
	"confirm.submerchant.disable.submit":   {"确认停用子商户", "Disable the sub-merchant"},
	"confirm.submerchant.name":             {"名称", "Name"},
	"confirm.submerchant.sub_mchid":        {"子商户号", "Sub-merchant id"},

	"confirm.emergency.pause.question":  {"确定要暂停所有落地页吗？", "Pause every landing page?"},
	"confirm.emergency.pause.warning":   {"暂停后所有用户打开落地页只会看到“服务暂停”，且不能创建或续期授权链接，直到恢复。", "Every user who opens a landing page sees only that the service is paused, and no link can be created or renewed, until it is resumed."},
	"confirm.emergency.pause.submit":    {"确认暂停", "Pause"},
	"confirm.emergency.resume.question": {"确定要恢复所有落地页吗？", "Resume every landing page?"},
	"confirm.emergency.resume.warning":  {"恢复后用户可再次在落地页开启支付分，也可以再创建授权链接。", "Users can turn Pay Score on from the landing pages again, and links can be created again."},
	"confirm.emergency.resume.submit":   {"确认恢复", "Resume"},
	"confirm.emergency.reason":          {"原因", "Reason"},
	"confirm.emergency.current":         {"当前暂停", "Paused now"},
	"confirm.emergency.current.value":   {"%s（操作人：%s，开始于 %s）", "%s (by %s, since %s)"},

	// The terminate confirm step.
	"confirm.terminate.merchant":   {"子商户", "Sub-merchant"},
	"confirm.terminate.openid":     {"用户 openid", "User's openid"},
	"confirm.terminate.state":      {"当前状态", "Current state"},
	"confirm.terminate.authorized": {"授权时间", "Authorized at"},
	"confirm.terminate.checked":    {"状态更新于", "State learned at"},
	"confirm.terminate.unknown":    {"未知", "Unknown"},
	"confirm.terminate.cancel":     {"取消（保留已填原因）", "Cancel (keep the reason)"},
	"confirm.terminate.back":       {"返回查询", "Back to the look-up"},
	"terminate.reason.choices":     {"常用原因", "Common reasons"},
	"terminate.reason.typed":       {"其他原因（填写后以此为准）", "Another reason (what you type is used)"},

	// A termination whose answer was lost, settled at once by a query.
	"support.outcome.notdone": {"微信支付未及时答复，随后的查询显示该授权仍为 %s：解除没有生效。您可以再试一次。", "WeChat Pay did not answer in time, and the query made at once shows the authorization still %s: the termination did not take effect. You may try again."},
	"support.outcome.details": {"微信支付的答复（供排查）", "WeChat Pay's answer (for escalation)"},
}

func init() {
	for k, v := range ux2Strings {
		if _, dup := catalog[k]; dup {
			panic("views: catalog key defined twice: " + k)
		}
		catalog[k] = v
	}
}
