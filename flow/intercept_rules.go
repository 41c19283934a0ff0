package flow

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// RequestMatcher decides whether a request is of a kind: a Caddy matcher
// set has this method, so caddymodule hands its sets straight in.
type RequestMatcher interface {
	MatchWithError(*http.Request) (bool, error)
}

// InterceptRule is one way the app's own logout request looks. Every part
// given must match; a request that any rule matches is intercepted.
type InterceptRule struct {
	// Paths the request's path must be one of, compared in normal form:
	// case, repeated or trailing slashes, ;params, percent-encoding and dot
	// segments do not matter. Empty: any path.
	Paths []string
	// Query lists parameters the request must carry (in its query, or its
	// url-encoded body), each with one of the given values ("*": any
	// value), however they are spelled (see paramRule).
	Query map[string][]string
	// Match is the rest, such as Caddy request matchers (path, method,
	// header, expression, ...). It is tried on the request as sent and on
	// its normal form (see normalForm): either may match. nil: nothing more.
	Match RequestMatcher
}

// ParseIntercept reads the shorthand `<path>[?<key>=<value>&<key>...]`: the
// path, and parameters the request must carry (a key without '=' may have
// any value). Other parameters may come along.
func ParseIntercept(s string) (InterceptRule, error) {
	p, rawQuery, hasQuery := strings.Cut(s, "?")
	if !strings.HasPrefix(p, "/") {
		return InterceptRule{}, fmt.Errorf("intercept: %q must be an absolute path such as /logout", s)
	}
	if _, ok := normalizePath(p); !ok {
		return InterceptRule{}, fmt.Errorf("intercept: %q is not a usable path", s)
	}
	rule := InterceptRule{Paths: []string{p}}
	if !hasQuery {
		return rule, nil
	}
	if strings.Trim(rawQuery, "&") == "" {
		return InterceptRule{}, fmt.Errorf("intercept: %q has an empty query, which no request is told apart by; name the parameter that makes it the logout (/doku.php?do=logout) or leave the '?' out", s)
	}
	rule.Query = map[string][]string{}
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, hasValue := strings.Cut(pair, "=")
		k, v = lenientUnescape(k), lenientUnescape(v)
		if k == "" {
			return InterceptRule{}, fmt.Errorf("intercept: %q has a parameter without a name", s)
		}
		if !hasValue {
			v = "*"
		}
		rule.Query[k] = append(rule.Query[k], v)
	}
	return rule, nil
}

// CheckInterceptPath checks an `intercept` shorthand.
func CheckInterceptPath(s string) error {
	_, err := ParseIntercept(s)
	return err
}

// CheckInterceptQuery checks the query part of an intercept block: it must
// name at least one parameter (an empty query matches only requests
// without one, never a logout), and placeholders are not read.
func CheckInterceptQuery(q map[string][]string) error {
	if len(q) == 0 {
		return errors.New("intercept: an empty query matches only requests without a query, never a logout; name the parameter that makes it the logout (query do=logout)")
	}
	for k, vals := range q {
		if k == "" {
			return errors.New("intercept: query has a parameter without a name")
		}
		for _, v := range append([]string{k}, vals...) {
			if strings.ContainsAny(v, "{}") {
				return fmt.Errorf("intercept: query %s=%s: placeholders are not supported in an intercept's query", k, strings.Join(vals, ","))
			}
		}
	}
	return nil
}

// CheckInterceptMatchPath checks the paths of an intercept block's path
// matcher: a path never contains a query, so a '?' can never match.
func CheckInterceptMatchPath(p string) error {
	if before, after, ok := strings.Cut(p, "?"); ok {
		return fmt.Errorf("intercept: path %q can never match: a request's path has no query; write `path %s` and `query %s`", p, before, after)
	}
	return nil
}

// perUserParams are parameter names that carry a per-user or per-request
// secret (CSRF tokens, nonces): a rule that names one with a value matches
// only requests with that exact value.
var perUserParams = []string{"sectok", "nonce", "csrf", "xsrf", "token", "sesskey", "authenticity"}

// warnPerUserParams warns about rules copied from a logout link with its
// CSRF token still in them.
func warnPerUserParams(log *zap.Logger, rule InterceptRule) {
	for k, vals := range rule.Query {
		lk := strings.ToLower(k)
		for _, p := range perUserParams {
			if strings.Contains(lk, p) && !(len(vals) == 1 && vals[0] == "*") {
				log.Warn("an intercept rule names a parameter that looks like a per-user token with a fixed value, so it matches only requests carrying that exact value; leave it out (list only what makes it the logout, such as do=logout)",
					zap.String("parameter", k))
			}
		}
	}
}

// interceptMatcher recognises the app's own logout requests. Rules with
// paths are found by the request's path in normal form, so a request that
// is not a logout costs a map lookup.
type interceptMatcher struct {
	any     bool // there are rules at all
	byPath  map[string][]compiledRule
	anyPath []compiledRule
	log     *zap.Logger
}

type compiledRule struct {
	params paramRule
	match  RequestMatcher
}

func newInterceptMatcher(rules []InterceptRule, log *zap.Logger) (*interceptMatcher, error) {
	m := &interceptMatcher{byPath: map[string][]compiledRule{}, log: log, any: len(rules) > 0}
	for _, rule := range rules {
		if len(rule.Paths) == 0 && len(rule.Query) == 0 && rule.Match == nil {
			return nil, errors.New("intercept: an empty rule would make every request a logout")
		}
		if rule.Query != nil {
			if err := CheckInterceptQuery(rule.Query); err != nil {
				return nil, err
			}
		}
		warnPerUserParams(log, rule)
		c := compiledRule{params: newParamRule(rule.Query), match: rule.Match}
		if len(rule.Paths) == 0 {
			m.anyPath = append(m.anyPath, c)
			continue
		}
		for _, p := range rule.Paths {
			if !strings.HasPrefix(p, "/") {
				return nil, fmt.Errorf("intercept: %q must be an absolute path such as /logout", p)
			}
			n, ok := normalizePath(p)
			if !ok {
				return nil, fmt.Errorf("intercept: %q is not a usable path", p)
			}
			m.byPath[n] = append(m.byPath[n], c)
		}
	}
	return m, nil
}

// matches reports whether r is one of the app's logout requests.
func (m *interceptMatcher) matches(r *http.Request) bool {
	if len(m.byPath) > 0 {
		p := r.URL.Path
		if !plainPath(p) {
			n, ok := normalizePath(p)
			if !ok {
				return false
			}
			p = n
		}
		for _, c := range m.byPath[p] {
			if m.ruleMatches(c, r) {
				return true
			}
		}
	}
	for _, c := range m.anyPath {
		if m.ruleMatches(c, r) {
			return true
		}
	}
	return false
}

func (m *interceptMatcher) ruleMatches(c compiledRule, r *http.Request) bool {
	if c.match != nil && !m.matchEither(c.match, r) {
		return false
	}
	return c.params.matches(r)
}

// matchEither tries a matcher on the request as sent, then on its normal
// form. A matcher's error counts as no match (the request is then guarded
// like any other), with a warning.
func (m *interceptMatcher) matchEither(rm RequestMatcher, r *http.Request) bool {
	ok, err := rm.MatchWithError(r)
	if err == nil && ok {
		return true
	}
	if n, differs := normalForm(r); differs {
		ok2, err2 := rm.MatchWithError(n)
		if err2 == nil && ok2 {
			return true
		}
		if err == nil {
			err = err2
		}
	}
	if err != nil {
		m.log.Warn("an intercept matcher failed; the request is not taken as a logout", zap.Error(err))
	}
	return false
}

// normalForm is r as an app would most plausibly read it: the path
// normalised (normalizePath), the query re-encoded from a lenient reading
// (so that a ';' or an invalid escape elsewhere does not make Go's query
// parser, and with it Caddy's query matcher, give up), and header names
// with '_' also under their '-' spelling (CGI-style backends read both as
// one; Caddy's own php_fastcgi drops the '_' spelling, other proxies to
// CGI-style backends may not). It reports false when that is r itself.
func normalForm(r *http.Request) (*http.Request, bool) {
	p := r.URL.Path
	if !plainPath(p) {
		if n, ok := normalizePath(p); ok {
			p = n
		}
	}
	q := r.URL.RawQuery
	if strings.ContainsAny(q, ";%+") {
		q = reencodeQuery(q)
	}
	var underscored []string
	for k := range r.Header {
		if strings.IndexByte(k, '_') >= 0 {
			underscored = append(underscored, k)
		}
	}
	if p == r.URL.Path && q == r.URL.RawQuery && len(underscored) == 0 && r.URL.RawPath == "" {
		return r, false
	}
	n := r.WithContext(r.Context())
	u := *r.URL
	u.Path, u.RawPath, u.RawQuery = p, "", q
	n.URL = &u
	if len(underscored) > 0 {
		n.Header = r.Header.Clone()
		for _, k := range underscored {
			dashed := http.CanonicalHeaderKey(strings.ReplaceAll(k, "_", "-"))
			n.Header[dashed] = append(n.Header[dashed], r.Header[k]...)
		}
	}
	return n, true
}

// reencodeQuery reads a query leniently (separators '&' and ';', invalid
// escapes kept) and writes it back in the form Go's parser accepts.
func reencodeQuery(q string) string {
	var b strings.Builder
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
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(lenientUnescape(k)))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(lenientUnescape(v)))
	}
	return b.String()
}
