package views

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/a-h/templ/parser/v2"
	"github.com/a-h/templ/parser/v2/visitor"
)

// glossaryTerm is one row of docs/GLOSSARY.md's table.
type glossaryTerm struct {
	id, zh, en   string
	notZH, notEN []string
}

var backticked = regexp.MustCompile("`([^`]+)`")

// readGlossary parses the table of docs/GLOSSARY.md (columns id | zh | en |
// not (zh) | not (en) | note); forbidden variants are in backticks.
func readGlossary(t *testing.T) []glossaryTerm {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "GLOSSARY.md"))
	if err != nil {
		t.Fatal(err)
	}
	var terms []glossaryTerm
	inTable := false
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) < 5 {
			t.Fatalf("glossary row with %d cells: %q", len(cells), line)
		}
		if cells[0] == "id" {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(cells[0], "--") {
			continue
		}
		term := glossaryTerm{id: cells[0], zh: cells[1], en: cells[2]}
		for _, m := range backticked.FindAllStringSubmatch(cells[3], -1) {
			term.notZH = append(term.notZH, m[1])
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[4], -1) {
			term.notEN = append(term.notEN, m[1])
		}
		terms = append(terms, term)
	}
	if len(terms) < 30 {
		t.Fatalf("glossary: only %d terms read: the table's format changed?", len(terms))
	}
	return terms
}

func sortedKeys() []string {
	keys := make([]string, 0, len(catalog))
	for k := range catalog {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isCJK: a Chinese character or full-width punctuation.
func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || (r >= 0x3000 && r <= 0x303f) || (r >= 0xff00 && r <= 0xffef) ||
		r == '“' || r == '”' || r == '…' || r == '—'
}

// TestGlossaryEveryKeyBothLanguages: no key lacks a language; English
// strings hold no Chinese.
func TestGlossaryEveryKeyBothLanguages(t *testing.T) {
	enMayHoldChinese := map[string]bool{"lang.switch": true} // "中文" names the other language
	for _, k := range sortedKeys() {
		e := catalog[k]
		if strings.TrimSpace(e.zh) == "" || strings.TrimSpace(e.en) == "" {
			t.Errorf("%s: zh %q, en %q: both languages are needed", k, e.zh, e.en)
		}
		if !enMayHoldChinese[k] && strings.IndexFunc(e.en, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0 {
			t.Errorf("%s: the English string holds Chinese: %q", k, e.en)
		}
	}
}

// TestGlossaryForbiddenVariants: no catalogue string uses a word the
// glossary forbids (its "not" columns), nor 你 for 您.
func TestGlossaryForbiddenVariants(t *testing.T) {
	terms := readGlossary(t)
	type rule struct {
		term string
		re   *regexp.Regexp
	}
	var zhRules, enRules []rule
	for _, term := range terms {
		for _, v := range term.notZH {
			zhRules = append(zhRules, rule{term.id, regexp.MustCompile(regexp.QuoteMeta(v))})
		}
		for _, v := range term.notEN {
			// Whole words, ignoring case, unless the variant is the term
			// itself in another case ("OpenID" for "openid").
			flags := "(?i)"
			if strings.EqualFold(v, term.en) || strings.HasPrefix(strings.ToLower(term.en), strings.ToLower(v)) {
				flags = ""
			}
			enRules = append(enRules, rule{term.id, regexp.MustCompile(flags + `(^|[^\pL\pN_-])` + regexp.QuoteMeta(v) + `($|[^\pL\pN_-])`)})
		}
	}
	zhRules = append(zhRules, rule{"您 throughout", regexp.MustCompile(`你`)})
	for _, k := range sortedKeys() {
		e := catalog[k]
		for _, r := range zhRules {
			if m := r.re.FindString(e.zh); m != "" {
				t.Errorf("%s: zh %q uses %q: docs/GLOSSARY.md says %s", k, e.zh, m, r.term)
			}
		}
		for _, r := range enRules {
			if m := r.re.FindString(e.en); m != "" {
				t.Errorf("%s: en %q uses %q: docs/GLOSSARY.md says %s", k, e.en, strings.TrimSpace(m), r.term)
			}
		}
	}
}

// tokenContexts are keys whose 过期 is about a token without naming it
// (the link list's token column and its badge).
var tokenContexts = map[string]bool{"links.expired": true}

// TestGlossaryExpiredOnlyForTokens: 过期 is said of tokens only.
func TestGlossaryExpiredOnlyForTokens(t *testing.T) {
	for _, k := range sortedKeys() {
		zh := catalog[k].zh
		if !strings.Contains(zh, "过期") {
			continue
		}
		if strings.Contains(zh, "令牌") || strings.HasPrefix(k, "token.") || tokenContexts[k] {
			continue
		}
		t.Errorf("%s: %q says 过期 of something that is not a token: use 已失效 / 已结束", k, zh)
	}
}

// halfWidthNextToChinese finds an ASCII colon, comma, semicolon, question or
// exclamation mark or parenthesis next to Chinese (spaces skipped), or
// parentheses around Chinese.
func halfWidthNextToChinese(s string) (string, bool) {
	rs := []rune(s)
	neighbour := func(i, step int) rune {
		for j := i + step; j >= 0 && j < len(rs); j += step {
			if rs[j] != ' ' {
				return rs[j]
			}
		}
		return 0
	}
	for i, r := range rs {
		if !strings.ContainsRune(":,;?!()", r) {
			continue
		}
		// Before: Chinese or full-width punctuation; after: Chinese (code
		// such as "registerApp:universalLink:）" may end at a full-width mark).
		bad := isCJK(neighbour(i, -1)) || unicode.Is(unicode.Han, neighbour(i, 1))
		if r == '(' {
			if end := strings.IndexRune(string(rs[i:]), ')'); end > 0 && strings.IndexFunc(string(rs[i:])[:end], isCJK) >= 0 {
				bad = true
			}
		}
		if bad {
			from, to := max(0, i-6), min(len(rs), i+7)
			return string(rs[from:to]), true
		}
	}
	return "", false
}

// TestGlossaryFullWidthPunctuation: Chinese strings use full-width
// punctuation; ASCII stays only inside code and Latin text.
func TestGlossaryFullWidthPunctuation(t *testing.T) {
	for _, k := range sortedKeys() {
		if at, bad := halfWidthNextToChinese(catalog[k].zh); bad {
			t.Errorf("%s: half-width punctuation in Chinese near %q: use ：，；？！（）", k, at)
		}
	}
	for _, tt := range []struct {
		s   string
		bad bool
	}{
		{"密钥：", false}, {"密钥:", true}, {"A5 海报 (PNG, 300 dpi)", true}, {"A5 海报（PNG，300 dpi）", false},
		{"[WXApi sendReq:completion:] 需要", false}, {"返回, 正常", true}, {"https://example.com 链接", false},
		{"好吗?", true}, {"(提示)", true}, {"registerApp:universalLink:），", false},
	} {
		if _, bad := halfWidthNextToChinese(tt.s); bad != tt.bad {
			t.Errorf("halfWidthNextToChinese(%q) = %v, want %v", tt.s, bad, tt.bad)
		}
	}
}

// templAllowed is the literal text the pages may show outside the
// catalogue: names that are the same in both languages (brands, header
// names, formats) and code.
var templAllowed = map[string]bool{
	"Request-ID": true, "IP": true, "CSV": true, "PNG": true, "HTTP": true, "UTC+8": true,
}

// literalText reports text with a letter (Latin or Chinese) that is not allowed.
func literalText(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.IndexFunc(s, unicode.IsLetter) < 0 || templAllowed[s] {
		return "", false
	}
	return s, true
}

// visibleAttrs are the attributes whose value a person reads or hears.
var visibleAttrs = map[string]bool{"title": true, "aria-label": true, "placeholder": true, "alt": true,
	"aria-description": true, "label": true, "data-copied": true}

// TestGlossaryNoTextOutsideCatalogue walks every page template: text nodes,
// string-literal expressions and readable attributes hold no words that are
// not read through T, Tf or Tn (apart from templAllowed, and inside <code>,
// <pre>, <script> and <style>).
func TestGlossaryNoTextOutsideCatalogue(t *testing.T) {
	files, err := filepath.Glob("*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templ files: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, finding := range untranslatedText(t, f, string(b)) {
			t.Errorf("%s (use T/Tf/Tn, or allow it in templAllowed)", finding)
		}
	}
	// The walk itself finds what it should.
	probe := "package views\n\ntempl probe(x string) {\n\t<div title=\"Hello\">\n\t\tif x != \"\" {\n\t\t\t<p>未翻译</p>\n\t\t}\n\t\t<span>{ \"Literal\" }</span>\n\t\t<code>sub_mchid</code> { T(ctx, \"k\") } · 12\n\t</div>\n}\n"
	if got := untranslatedText(t, "probe.templ", probe); len(got) != 3 {
		t.Errorf("the walk found %d untranslated texts in the probe, want 3: %q", len(got), got)
	}
}

// untranslatedText walks one template file and lists the words it shows
// that are not read from the catalogue.
func untranslatedText(t *testing.T, f, src string) []string {
	t.Helper()
	tf, err := parser.ParseString(src)
	if err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	var found []string
	report := func(r parser.Range, what, s string) {
		found = append(found, fmt.Sprintf("%s:%d: %s %q is not from the catalogue", f, r.From.Line+1, what, s))
	}
	depthCode := 0
	v := visitor.New()
	walkElement := v.Element
	v.Element = func(n *parser.Element) error {
		if n.Name == "code" || n.Name == "pre" || n.Name == "kbd" || n.Name == "samp" {
			depthCode++
			defer func() { depthCode-- }()
		}
		return walkElement(n)
	}
	v.Text = func(n *parser.Text) error {
		if s, bad := literalText(n.Value); bad && depthCode == 0 {
			report(n.Range, "text", s)
		}
		return nil
	}
	v.StringExpression = func(n *parser.StringExpression) error {
		if s, bad := goLiteral(n.Expression.Value); bad && depthCode == 0 {
			report(n.Range, "string", s)
		}
		return nil
	}
	v.ConstantAttribute = func(n *parser.ConstantAttribute) error {
		if visibleAttrs[n.Key.String()] {
			if s, bad := literalText(n.Value); bad {
				report(n.Range, n.Key.String(), s)
			}
		}
		return nil
	}
	v.ExpressionAttribute = func(n *parser.ExpressionAttribute) error {
		if visibleAttrs[n.Key.String()] {
			if s, bad := goLiteral(n.Expression.Value); bad {
				report(n.Range, n.Key.String(), s)
			}
		}
		return nil
	}
	v.ScriptElement = func(*parser.ScriptElement) error { return nil }
	v.RawElement = func(*parser.RawElement) error { return nil }
	if err := tf.Visit(v); err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	return found
}

// goLiteral reports a Go expression that is a bare string literal with words.
func goLiteral(expr string) (string, bool) {
	expr = strings.TrimSpace(expr)
	if len(expr) < 2 || (expr[0] != '"' && expr[0] != '`') {
		return "", false
	}
	s, err := strconv.Unquote(expr)
	if err != nil {
		return "", false // not one literal (a concatenation, a call)
	}
	return literalText(s)
}
