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
	"field.serial":             {"签名证书或公钥序列号", "Signing serial"},
}
