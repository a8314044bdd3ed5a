package views

// ux4Strings are the layout's access strings (skip link, phone menu) and
// the role-by-role overview's (issue 13, "Layout and access").
var ux4Strings = map[string]entry{
	"layout.skip":     {"跳到正文", "Skip to content"},
	"layout.menu":     {"菜单", "Menu"},
	"layout.nav":      {"主导航", "Main navigation"},
	"layout.nav.menu": {"主导航（菜单）", "Main navigation (menu)"},
	"layout.scroll":   {"可滚动的代码，用方向键查看", "Scrollable code: use the arrow keys"},
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
