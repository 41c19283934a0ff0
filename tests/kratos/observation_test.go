package kratos

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// observation is what a client can observe of one answer, field by field:
// the details the differential compares. Empty means absent.
type observation struct {
	origin string // the answering server's own scheme://host:port, for normalising

	status       int
	cacheControl string
	vary         string
	contentType  string
	allow        string
	location     string
	cookies      []setCookie
	body         string // JSON: its shape (keys and types); text/plain: the text; else empty
	// logoutURL and logoutToken are the create answer's values.
	logoutURL, logoutToken string
	// The error envelope's fields (also the errors endpoint's "error").
	errCode, errStatus, errID, errReason, errMessage string
	// flowErrorID is the errors endpoint's top-level "id".
	flowErrorID string
}

// setCookie is one Set-Cookie, reduced to what decides whether a browser
// applies it: a deletion or not, name, Path, Domain and the flags.
type setCookie struct {
	deletes  bool
	name     string
	path     string
	domain   string
	httpOnly bool
	secure   bool
	sameSite http.SameSite
}

func (c setCookie) String() string {
	verb := "set"
	if c.deletes {
		verb = "delete"
	}
	s := fmt.Sprintf("%s %s Path=%s", verb, c.name, c.path)
	if c.domain != "" {
		s += " Domain=" + c.domain
	}
	if c.httpOnly {
		s += " HttpOnly"
	}
	if c.secure {
		s += " Secure"
	}
	switch c.sameSite {
	case http.SameSiteLaxMode:
		s += " SameSite=Lax"
	case http.SameSiteStrictMode:
		s += " SameSite=Strict"
	case http.SameSiteNoneMode:
		s += " SameSite=None"
	}
	return s
}

// observe reads resp (and its body) into an observation.
func observe(origin string, resp *http.Response) (*observation, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	h := resp.Header
	o := &observation{
		origin:       origin,
		status:       resp.StatusCode,
		cacheControl: strings.Join(h.Values("Cache-Control"), ", "),
		vary:         strings.Join(h.Values("Vary"), ", "),
		contentType:  h.Get("Content-Type"),
		allow:        h.Get("Allow"),
		location:     h.Get("Location"),
	}
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			return nil, fmt.Errorf("Set-Cookie %q: %v", line, err)
		}
		o.cookies = append(o.cookies, setCookie{
			deletes:  c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now())),
			name:     c.Name,
			path:     c.Path,
			domain:   c.Domain,
			httpOnly: c.HttpOnly,
			secure:   c.Secure,
			sameSite: c.SameSite,
		})
	}
	switch mediaType(o.contentType) {
	case "application/json":
		if len(b) == 0 { // HEAD
			break
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("JSON body %q: %v", b, err)
		}
		o.body = shape(v)
		o.readJSON(v)
	case "text/plain":
		o.body = string(b)
	}
	return o, nil
}

// readJSON picks the values the differential compares out of a JSON body.
func (o *observation) readJSON(v any) {
	m, _ := v.(map[string]any)
	o.logoutURL, _ = m["logout_url"].(string)
	o.logoutToken, _ = m["logout_token"].(string)
	if e, ok := m["error"].(map[string]any); ok {
		o.flowErrorID, _ = m["id"].(string)
		str := func(k string) string {
			switch x := e[k].(type) {
			case string:
				return x
			case float64:
				return fmt.Sprint(x)
			case nil:
				return ""
			default:
				return fmt.Sprintf("%v", x)
			}
		}
		o.errCode, o.errStatus, o.errID = str("code"), str("status"), str("id")
		o.errReason, o.errMessage = str("reason"), str("message")
	}
}

// shape is a JSON value's structure: object keys (sorted) with the shape
// of each value, arrays by their first element, scalars by their type.
func shape(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%q:%s", k, shape(x[k]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		if len(x) == 0 {
			return "[]"
		}
		return "[" + shape(x[0]) + "]"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	default:
		return "null"
	}
}

func mediaType(contentType string) string {
	t, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(strings.ToLower(t))
}

// detail is one compared field of an answer.
type detail struct {
	name string
	get  func(*observation) string
}

// details are the fields compared, in the order reports list them.
var details = []detail{
	{"status", func(o *observation) string { return fmt.Sprint(o.status) }},
	{"Cache-Control", func(o *observation) string { return o.cacheControl }},
	{"Vary", func(o *observation) string { return o.vary }},
	{"Content-Type", func(o *observation) string { return o.contentType }},
	{"Allow", func(o *observation) string { return o.allow }},
	{"Location", func(o *observation) string { return o.location }},
	{"cookies", func(o *observation) string {
		s := make([]string, len(o.cookies))
		for i, c := range o.cookies {
			s[i] = c.String()
		}
		slices.Sort(s)
		return strings.Join(s, "; ")
	}},
	{"body", func(o *observation) string { return o.body }},
	{"logout_url", func(o *observation) string { return o.logoutURL }},
	{"logout_token", func(o *observation) string { return o.logoutToken }},
	{"error.code", func(o *observation) string { return o.errCode }},
	{"error.status", func(o *observation) string { return o.errStatus }},
	{"error.id", func(o *observation) string { return o.errID }},
	{"error.reason", func(o *observation) string { return o.errReason }},
	{"error.message", func(o *observation) string { return o.errMessage }},
	{"id", func(o *observation) string { return o.flowErrorID }},
}

// mismatch is one detail that differs.
type mismatch struct {
	detail, kratos, gateway string
}

// compare lists the details two observations have, and those that differ.
// A detail counts when either side has it (status always does).
func compare(k, g *observation) (compared int, diffs []mismatch) {
	for _, d := range details {
		kv, gv := d.get(k), d.get(g)
		if kv == "" && gv == "" {
			continue
		}
		compared++
		if kv != gv {
			diffs = append(diffs, mismatch{d.name, kv, gv})
		}
	}
	return compared, diffs
}

// replaceQueryValue rewrites the value of key in rawURL's query to
// repl(value), leaving everything else as it was written, for normalising
// opaque values.
func replaceQueryValue(rawURL, key string, repl func(string) string) string {
	base, query, ok := strings.Cut(rawURL, "?")
	if !ok {
		return rawURL
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		if k == key {
			if uv, err := url.QueryUnescape(v); err == nil {
				v = uv
			}
			parts[i] = k + "=" + repl(v)
		}
	}
	out := base + "?" + strings.Join(parts, "&")
	if hasFragment {
		out += "#" + fragment
	}
	return out
}
