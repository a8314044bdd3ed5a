package views

// ux1Strings are the authorization page's strings (search, timeline, the
// states that tell a termination by support from a close by the user) and
// the finished link page's.
var ux1Strings = map[string]entry{
	"ux1.search.label": {"授权协议号、openid 或子商户", "Authorization code, openid or sub-merchant"},
	"ux1.search.help": {"授权协议号须完全一致（区分大小写）；openid 与 sub_openid 均可；子商户可填子商户号或名称。",
		"The authorization code must match exactly (case counts); openid or sub_openid; a sub-merchant by its sub_mchid or name."},
	"ux1.search.none":        {"没有与“%s”相符的授权、用户或子商户。", "No authorization, user or sub-merchant matches “%s”."},
	"ux1.didyoumean":         {"没有授权协议号为 %s 的授权；您是不是要找 ", "No authorization has the code %s; did you mean "},
	"ux1.didyoumean.end":     {"？（授权协议号区分大小写）", "? (codes are case-sensitive)"},
	"ux1.or":                 {" 或 ", " or "},
	"ux1.records":            {"全部记录（链接、通知、解除、审计）", "All records (link, notifications, terminations, audit)"},
	"ux1.authz.title":        {"授权", "Authorization"},
	"ux1.timeline.title":     {"经过", "Timeline"},
	"ux1.timeline.empty":     {"本地没有这个授权的记录。", "Nothing is recorded locally about this authorization."},
	"ux1.tl.created":         {"链接已创建", "Link created"},
	"ux1.tl.by":              {"操作人 %s", "by %s"},
	"ux1.tl.reason":          {"原因 %s", "reason %s"},
	"ux1.tl.opened.last":     {"最近一次 %s", "last %s"},
	"ux1.tl.notopened":       {"落地页尚未打开", "The landing page was not opened yet"},
	"ux1.tl.awaiting":        {"待用户授权", "Awaiting the user"},
	"ux1.tl.agreed":          {"用户已开启", "The user turned the service on"},
	"ux1.tl.notify.open":     {"收到开启通知", "Notification: turned on"},
	"ux1.tl.notify.close":    {"收到关闭通知", "Notification: turned off"},
	"ux1.tl.notify.any":      {"收到通知", "Notification"},
	"ux1.tl.terminated":      {"客服已解除", "Terminated by support"},
	"ux1.tl.termfailed":      {"解除未成功", "Termination failed"},
	"ux1.tl.termpending":     {"解除处理中", "Termination in progress"},
	"ux1.tl.closed":          {"用户已关闭", "Closed by the user"},
	"ux1.summary.terminated": {"由 %s 于 %s 解除，原因 %s", "by %s at %s, reason %s"},
	"ux1.summary.closed":     {"用户于 %s 关闭", "by the user at %s"},
	"ux1.state.TERMINATED":   {"已解除（客服）", "Terminated by support"},
	"ux1.state.CLOSED":       {"已关闭（用户）", "Closed by the user"},
	"ux1.list.openid":        {"用户 %s 的授权", "Authorizations of the user %s"},
	"ux1.list.submerchant":   {"子商户 %s（%s）的授权", "Authorizations of the sub-merchant %s (%s)"},
	"ux1.list.more":          {"只列出最近的 %s 个。", "Only the latest %s are listed."},
	"ux1.col.code":           {"授权协议号", "Authorization code"},
	"ux1.col.agreed":         {"开启时间", "Turned on"},
	"ux1.col.ended":          {"结束时间", "Ended"},
	"ux1.link.finished":      {"已开启", "Turned on"},
	"ux1.link.finished.open": {"查看授权详情", "Open the authorization"},
	"ux1.link.ended.open":    {"查看授权经过", "Open the authorization's timeline"},
	"ux1.link.handout":       {"二维码、链接与代码片段", "QR code, link and snippets"},
}

// ux1Plurals are the count-bearing strings of the authorization page.
var ux1Plurals = map[string]plural{
	"ux1.tl.opened":     {"落地页已打开 %d 次", "Landing page opened %d time", "Landing page opened %d times"},
	"ux1.tl.deliveries": {"投递 %d 次", "delivered %d time", "delivered %d times"},
	"ux1.list.count":    {"共 %d 个授权", "%d authorization", "%d authorizations"},
}

// The ux1 strings join the catalog here, so that the shared catalog line
// does not change; a key defined twice still panics.
func init() {
	for _, part := range []map[string]entry{ux1Strings, plurals(ux1Plurals)} {
		for k, v := range part {
			if _, dup := catalog[k]; dup {
				panic("views: catalog key defined twice: " + k)
			}
			catalog[k] = v
		}
	}
}
