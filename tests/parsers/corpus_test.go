package parsers

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The corpus: spellings of one session cookie, generated as the product of
// three families of spelling (the cookie's name, its value, the header
// around the pair), so that a new entry in any family multiplies into the
// others. Each spelling is the exact bytes of the request's Cookie header
// lines.

// sessionCookie is the configured session cookie's name. It has an
// underscore so that PHP's name mangling ('.', ' ', '[' read as '_') has
// something to aim at.
const sessionCookie = "s_id"

// variant is one member of a family: a label and the text it produces.
type variant struct{ label, text string }

// spelling is one request's Cookie header lines.
type spelling struct {
	family string // name/value/context labels
	header string // header lines, each ending in CRLF
	// others are pairs of other cookies the header carries in pieces of
	// their own: they must reach the app byte for byte.
	others []string
}

// nameSpellings are ways to write the session cookie's name that some
// parser reads as that name.
func nameSpellings() []variant {
	n := sessionCookie
	return []variant{
		{"plain", n},
		{"upper", strings.ToUpper(n)},
		{"mixed-case", "S_Id"},
		{"php-dot", "s.id"},
		{"php-space", "s id"},
		{"php-bracket", "s[id"},
		{"php-array", n + "[]"},
		{"php-array-index", n + "[0]"},
		{"pct-underscore", "s%5Fid"},
		{"pct-lower", "s%5fid"},
		{"pct-first", "%73_id"},
		{"quoted-name", `"` + n + `"`},
		{"lead-space", "  " + n},
		{"lead-tab", "\t" + n},
		{"lead-nbsp", "\xa0" + n},
		{"lead-nel", "\x85" + n},
		{"trail-space", n + " "},
		{"trail-tab", n + "\t"},
		{"trail-nbsp", n + "\xa0"},
		{"unicode-long-s", "\u017f_id"},
		{"dollar", "$" + n},
	}
}

// valueSpellings are ways to write value v that some parser reads as v:
// percent-encoding (once, twice, either case, + and space), quotes with
// backslash and octal escapes, Express's j: JSON cookies, and bytes that
// servers or parsers trim.
func valueSpellings(v string) []variant {
	out := []variant{{"plain", v}}
	add := func(label, text string) {
		if text != v {
			out = append(out, variant{label, text})
		}
	}
	for _, i := range interestingPositions(v) {
		add("pct-one-"+strconv.Itoa(i), v[:i]+pct(v[i], "%%%02X")+v[i+1:])
		add("pct-lower-one-"+strconv.Itoa(i), v[:i]+pct(v[i], "%%%02x")+v[i+1:])
		add("pct-double-one-"+strconv.Itoa(i), v[:i]+pct(v[i], "%%25%02X")+v[i+1:])
		add("quoted-backslash-one-"+strconv.Itoa(i), `"`+v[:i]+`\`+v[i:i+1]+v[i+1:]+`"`)
		add("quoted-octal-one-"+strconv.Itoa(i), `"`+v[:i]+fmt.Sprintf(`\%03o`, v[i])+v[i+1:]+`"`)
		add("json-u-one-"+strconv.Itoa(i), `j:"`+jsonEscape(v[:i])+fmt.Sprintf(`\u%04x`, v[i])+jsonEscape(v[i+1:])+`"`)
	}
	add("pct-all", mapBytes(v, "%%%02X"))
	add("pct-all-lower", mapBytes(v, "%%%02x"))
	add("pct-double-all", mapBytes(v, "%%25%02X"))
	add("plus-as-pct20", strings.ReplaceAll(v, "+", "%20"))
	add("plus-as-pct2B", strings.ReplaceAll(v, "+", "%2B"))
	add("plus-as-space", strings.ReplaceAll(v, "+", " "))
	add("quoted", `"`+v+`"`)
	add("quoted-pct", `"`+mapBytes(v, "%%%02X")+`"`)
	add("quoted-backslash-all", `"`+mapBytes(v, `\%c`)+`"`)
	add("quoted-octal-all", `"`+mapBytes(v, `\%03o`)+`"`)
	add("pct-quoted", "%22"+v+"%22")
	add("json", `j:"`+jsonEscape(v)+`"`)
	add("json-slash-escaped", `j:"`+strings.ReplaceAll(jsonEscape(v), "/", `\/`)+`"`)
	add("json-pct-quotes", "j:%22"+v+"%22")
	add("json-pct-all", mapBytes(`j:"`+jsonEscape(v)+`"`, "%%%02X"))
	add("json-blanks", `j: "`+jsonEscape(v)+`" `)
	add("json-quoted", `"j:\"`+jsonEscape(v)+`\""`)
	add("json-u-all", `j:"`+mapBytes(v, `\u%04x`)+`"`)
	for _, b := range []string{" ", "\t", "\xa0", "\x85", "\x0b", "\x0c", "\x1c", "\x1f", "\x00", "\u3000"} {
		label := fmt.Sprintf("%x", b)
		add("trail-"+label, v+b)
		add("lead-"+label, b+v)
	}
	return out
}

// contexts place a name=value pair in a Cookie header: alone, among
// other cookies, behind separators that only some parsers split on, twice,
// over two header lines, folded onto a continuation line.
type context struct {
	label  string
	render func(pair string) string
	others []string // other cookies' pairs it adds, kept whole
	// canonical: the pair stays a pair of its own under RFC 6265 (the
	// header may still come in several lines): a session the app may
	// have must get through it unchanged.
	canonical bool
}

func contexts() []context {
	line := func(s string) string { return "Cookie: " + s + "\r\n" }
	wp := "wordpress_test_cookie=WP Cookie check"
	out := []context{
		{"alone", func(p string) string { return line(p) }, nil, true},
		{"after", func(p string) string { return line("a=1; " + p) }, []string{"a=1"}, true},
		{"before", func(p string) string { return line(p + "; b=2") }, []string{"b=2"}, true},
		{"tight", func(p string) string { return line("a=1;" + p + ";b=2") }, []string{"a=1", "b=2"}, true},
		{"empty-pieces", func(p string) string { return line(";; " + p + " ;;") }, nil, true},
		{"wordpress", func(p string) string { return line(wp + "; " + p) }, []string{wp}, true},
		{"comma", func(p string) string { return line("a=1," + p) }, nil, false},
		{"comma-space", func(p string) string { return line("a=1, " + p) }, nil, false},
		{"dup-junk-first", func(p string) string { return line(sessionCookie + "=junk0; " + p) }, nil, true},
		{"dup-junk-last", func(p string) string { return line(p + "; " + sessionCookie + "=junk1") }, nil, true},
		{"two-lines", func(p string) string { return line("a=1") + line(p) }, []string{"a=1"}, true},
		{"two-lines-first", func(p string) string { return line(p) + line("b=2") }, []string{"b=2"}, true},
		{"obs-fold", func(p string) string { return "Cookie: a=1\r\n " + p + "\r\n" }, nil, false},
		{"obs-fold-tab", func(p string) string { return "Cookie: a=1;\r\n\t" + p + "\r\n" }, nil, false},
		{"lowercase-field", func(p string) string { return "cookie: " + p + "\r\n" }, nil, true},
	}
	for _, b := range []string{" ", "  ", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0"} {
		out = append(out, context{"ws-" + fmt.Sprintf("%x", b), func(p string) string { return line("a=1" + b + p) }, nil, false})
	}
	return out
}

// corpus spells the session cookie with value v: each spelling of each
// family on its own (the others plain), then a seeded sample of size
// spellings drawn from the product of the three families.
func corpus(v string, seed uint64, size int) []spelling {
	names, values, ctxs := nameSpellings(), valueSpellings(v), contexts()
	var out []spelling
	seen := map[string]bool{}
	add := func(n, val variant, c context) {
		header := c.render(n.text + "=" + val.text)
		if seen[header] {
			return
		}
		seen[header] = true
		out = append(out, spelling{family: "name:" + n.label + " value:" + val.label + " context:" + c.label, header: header, others: c.others})
	}
	for _, n := range names {
		add(n, values[0], ctxs[0])
	}
	for _, val := range values {
		add(names[0], val, ctxs[0])
	}
	for _, c := range ctxs {
		add(names[0], values[0], c)
	}
	r := rand.New(rand.NewPCG(seed, uint64(len(v))))
	for want := len(out) + size; len(out) < want && len(seen) < len(names)*len(values)*len(ctxs); {
		add(names[r.IntN(len(names))], values[r.IntN(len(values))], ctxs[r.IntN(len(ctxs))])
	}
	return out
}

// cleanPair reports whether name=value keeps to RFC 6265's grammar: a
// token, '=', cookie-octets (optionally in double quotes).
func cleanPair(name, value string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`",;\`, c) >= 0 {
			return false
		}
	}
	return true
}

// interestingPositions are where single-character re-spellings are tried:
// the ends, the middle, and every character that decoders treat
// specially.
func interestingPositions(v string) []int {
	pos := []int{0, len(v) / 2, len(v) - 1}
	seen := map[byte]bool{}
	for i := 0; i < len(v); i++ {
		if strings.IndexByte("+/=%:.-_!#$&'()*<>?@[]^`{|}~", v[i]) >= 0 && !seen[v[i]] {
			seen[v[i]] = true
			pos = append(pos, i)
		}
	}
	return pos
}

func pct(c byte, format string) string { return fmt.Sprintf(format, c) }

func mapBytes(s, format string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, format, s[i])
	}
	return b.String()
}

// jsonEscape writes s as the inside of a JSON string.
func jsonEscape(s string) string {
	q := strconv.Quote(s) // the ASCII values here quote the same in Go and JSON
	return q[1 : len(q)-1]
}
