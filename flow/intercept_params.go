package flow

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caddy-logout/caddy-logout/internal/percent"
)

// paramRule is the query part of an intercept rule: every key must be
// present with one of its values. It matches however a client spells the
// parameter, so that an app's logout cannot be reached past the gateway:
//
//   - pairs split on '&' and on ';' (PHP with arg_separator.input ";&",
//     Rack, older Python);
//   - keys and values percent-decoded once, '+' as space, invalid escapes
//     kept as they are (where Go's url.ParseQuery, and so Caddy's query
//     matcher, gives up on the whole query);
//   - keys as PHP reads them: cut at a NUL, leading spaces dropped, ' ' and
//     '.' as '_', `k[...]` as k (its value, and for DokuWiki's
//     `do[logout]=1` the bracketed key too), compared case-insensitively;
//   - values folded: ASCII letters lowercased and ASCII characters other
//     than letters, digits and '_' dropped (DokuWiki reads `do=Log-Out` as
//     logout);
//   - a repeated key matches if any of its values does (PHP keeps the last,
//     Go the first);
//   - a url-encoded POST body counts too (PHP's $_REQUEST), up to
//     maxFormPeek bytes.
//
// Reading more spellings as the logout than one app would only ever logs a
// user out; reading fewer would let the app's logout run unseen.
type paramRule []paramWant

type paramWant struct {
	key    string   // folded
	any    bool     // "*": present with any value
	values []string // folded
}

// maxFormPeek bounds how much of a url-encoded POST body is read for
// parameters: a logout form is a few hundred bytes.
const maxFormPeek = 64 << 10

// newParamRule folds a query rule given as key -> values ("*": any value).
func newParamRule(q map[string][]string) paramRule {
	var rule paramRule
	for k, vals := range q {
		w := paramWant{key: foldParamKey(k)}
		for _, v := range vals {
			if v == "*" {
				w.any = true
				continue
			}
			w.values = append(w.values, foldParamValue(v))
		}
		rule = append(rule, w)
	}
	return rule
}

// matches reports whether the request carries every wanted parameter, in
// its query or its url-encoded body.
func (p paramRule) matches(r *http.Request) bool {
	if len(p) == 0 {
		return true
	}
	found := make([]bool, len(p))
	left := len(p)
	see := func(k, v string) bool {
		fk := foldParamKey(k)
		for i := range p {
			if !found[i] && p[i].key == fk && p[i].accepts(v) {
				found[i] = true
				left--
			}
		}
		return left > 0
	}
	eachParam(r.URL.RawQuery, see)
	if left > 0 {
		if body, ok := peekForm(r); ok {
			eachParam(string(body), see)
		}
	}
	return left == 0
}

func (w *paramWant) accepts(raw string) bool {
	if w.any {
		return true
	}
	v := foldParamValue(raw)
	for _, want := range w.values {
		if v == want {
			return true
		}
	}
	return false
}

// eachParam calls fn(key, value) for every reading of every pair of a
// query string or form body: keys and values decoded, `k[x]=v` as (k, v)
// and (k, x). fn returns false to stop.
func eachParam(q string, fn func(k, v string) bool) {
	for q != "" {
		var pair string
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, ""
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, v = lenientUnescape(k), lenientUnescape(v)
		base, inner, array := phpArrayKey(k)
		if !fn(base, v) {
			return
		}
		if array && inner != "" && !fn(base, inner) {
			return
		}
	}
}

// phpArrayKey splits `k[inner]...` into k and inner, as PHP reads an array
// parameter. A '[' without a closing ']' is not an array (PHP turns it
// into '_', which foldParamKey does).
func phpArrayKey(k string) (base, inner string, array bool) {
	open := strings.IndexByte(k, '[')
	if open <= 0 {
		return k, "", false
	}
	end := strings.IndexByte(k[open:], ']')
	if end < 0 {
		return k, "", false
	}
	return k[:open], k[open+1 : open+end], true
}

// lenientUnescape percent-decodes s once, reading '+' as a space and
// keeping invalid escapes as they are, as PHP and most servers do.
func lenientUnescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	return string(percent.Append(make([]byte, 0, len(s)), s, true))
}

// foldParamKey is a parameter name as PHP registers it, lowercased: cut at
// a NUL, leading spaces dropped, ' ', '.' and '[' as '_'.
func foldParamKey(k string) string {
	if i := strings.IndexByte(k, 0); i >= 0 {
		k = k[:i]
	}
	k = strings.TrimLeft(k, " ")
	b := []byte(k)
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c == ' ' || c == '.' || c == '[':
			b[i] = '_'
		}
	}
	return string(b)
}

// foldParamValue lowercases ASCII letters and drops the ASCII characters
// that are neither letters, digits nor '_'. A value that would fold to
// nothing stays as it is, so that `x=-` does not match every empty value.
func foldParamValue(v string) string {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c >= 0x80:
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return v
	}
	return string(b)
}

// peekForm returns the start of a url-encoded request body and puts it
// back for the app, which reads the whole body as sent.
func peekForm(r *http.Request) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody || r.Method != http.MethodPost {
		return nil, false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, false
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxFormPeek))
	r.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(buf), r.Body), closer: r.Body}
	if err != nil {
		return nil, false
	}
	if len(buf) == maxFormPeek {
		// Cut off: the last pair may be a part of one.
		if i := bytes.LastIndexAny(buf, "&;"); i >= 0 {
			buf = buf[:i]
		}
	}
	return buf, true
}

// replayBody is a request body with its start read ahead.
type replayBody struct {
	io.Reader
	closer io.Closer
}

func (b *replayBody) Close() error { return b.closer.Close() }
