package views

// ux4Strings are the layout's access strings (skip link, phone menu) and
// the role-by-role overview's (issue 13, "Layout and access").
var ux4Strings = map[string]entry{
	"layout.skip":     {"跳到正文", "Skip to content"},
	"layout.menu":     {"菜单", "Menu"},
	"layout.nav":      {"主导航", "Main navigation"},
	"layout.nav.menu": {"主导航（菜单）", "Main navigation (menu)"},
	"layout.scroll":   {"可滚动的代码，用方向键查看", "Scrollable code: use the arrow keys"},

	// The overview's first card, by role.
	"overview.task.links":        {"授权链接", "Links"},
	"overview.task.links.intro":  {"为子商户创建授权链接，把二维码或链接发给用户开启微信支付分。", "Create a link for a sub-merchant and send its QR code or URL to the user, who turns WeChat Pay Score on."},
	"overview.task.newlink":      {"新建授权链接", "New link"},
	"overview.task.mylinks":      {"您最近创建的链接", "Your latest links"},
	"overview.task.mylinks.all":  {"您的全部链接", "All your links"},
	"overview.task.mylinks.none": {"您还没有创建过链接。点击“新建授权链接”，选择子商户即可开始。", "You have not created a link yet. Choose “New link” and pick a sub-merchant to start."},
	"overview.task.lookup":       {"授权查询", "Look up an authorization"},
	"overview.task.lookup.intro": {"输入授权协议号，查看授权状态、时间线和微信支付的实时查询结果。", "Enter an authorization code to see its state, its timeline and WeChat Pay's live answer."},
	"overview.task.lookup.bulk":  {"一次查询多个授权协议号", "Look up many codes at once"},
	"overview.tile.open":         {"查看", "Open"},
	"overview.latest.none":       {"还没有收到回调通知。用户在落地页开启微信支付分后，微信支付的通知会出现在这里。", "No notification yet. When a user turns WeChat Pay Score on from a landing page, WeChat Pay's notification shows here."},
	"overview.terminations.none": {"近 7 天没有解除授权。需要解除时，请在授权查询中找到该授权。", "No termination in the last 7 days. To terminate an authorization, look it up first."},
}

// The catalog is built in i18n.go; these join it here so that file's list
// does not change with every screen.
func init() {
	for k, v := range ux4Strings {
		if _, dup := catalog[k]; dup {
			panic("views: catalog key defined twice: " + k)
		}
		catalog[k] = v
	}
}
