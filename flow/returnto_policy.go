package flow

// Compiling the configuration: allowed_return_urls entries and
// default_return_url, checked once at config load.

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// NewReturnPolicy compiles allowed_return_urls entries. Each entry must be an
// absolute http(s) URL without userinfo, query or fragment; its host may start
// with a "*." label wildcard and may carry a port.
func NewReturnPolicy(allowed []string) (*ReturnPolicy, error) {
	p := &ReturnPolicy{entries: make([]returnEntry, 0, len(allowed))}
	for _, raw := range allowed {
		e, err := compileEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("allowed_return_urls: %q %w", raw, err)
		}
		p.entries = append(p.entries, e)
	}
	return p, nil
}

var (
	errNotAbsoluteHTTP = errors.New("must be an absolute http or https URL")
	errPlainPath       = errors.New(`must have a plain path: no "." or ".." segments, "//" or encoded slashes`)
	errInvalidPort     = errors.New("has an invalid port")
)

func compileEntry(raw string) (returnEntry, error) {
	u, err := parseConfigURL(raw)
	if err != nil {
		return returnEntry{}, err
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return returnEntry{}, errors.New("must not have a query or fragment")
	}
	e := returnEntry{scheme: u.Scheme}
	name := u.Hostname()
	if rest, ok := strings.CutPrefix(name, "*."); ok && !strings.HasPrefix(u.Host, "[") {
		if err := checkWildcardSuffix(rest); err != nil {
			return returnEntry{}, err
		}
		port, ok := normPort(u.Scheme, u.Port())
		if !ok {
			return returnEntry{}, errInvalidPort
		}
		e.wildcard, e.host, e.port = true, "."+strings.ToLower(rest), port
	} else {
		host, port, _, why := normHost(u.Scheme, u)
		switch {
		case why == whyInvalidPort:
			return returnEntry{}, errInvalidPort
		case why != "" || strings.Contains(name, "*"):
			return returnEntry{}, errors.New(`has an invalid host (a wildcard must be the whole first label, as in https://*.example.com)`)
		}
		e.host, e.port = host, port
	}
	_, segs, why := normPath(u.EscapedPath())
	if why != "" || hasDotSegment(u.EscapedPath()) {
		return returnEntry{}, errPlainPath
	}
	if n := len(segs); n > 0 && segs[n-1] == "" {
		segs = segs[:n-1] // "/app/" is the same prefix as "/app"
	}
	e.path = segs
	return e, nil
}

// checkWildcardSuffix accepts what may follow "*.": an ASCII domain of at
// least two labels whose last label is not numeric, so that no browser
// reads a matching host as an IPv4 address.
func checkWildcardSuffix(s string) error {
	s = strings.ToLower(s)
	if strings.Contains(s, "*") {
		return errors.New(`may use "*" only once, as the whole first label (https://*.example.com)`)
	}
	if !validLabels(s) {
		return errors.New("has an invalid host after \"*.\" (ASCII letters, digits and hyphens only; use the xn-- form of an international name)")
	}
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 {
		return errors.New(`must name at least two labels after "*." (https://*.example.com, not https://*.com)`)
	}
	last := s[dot+1:]
	if strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return errors.New(`cannot use a wildcard with an IP address`)
	}
	return nil
}

// ParseDefaultReturnURL validates default_return_url at config load: an
// absolute http(s) URL without userinfo, whitespace, control characters or
// backslashes. It returns the URL with its scheme and host normalised.
func ParseDefaultReturnURL(raw string) (*url.URL, error) {
	u, err := parseDefault(raw)
	if err != nil {
		return nil, fmt.Errorf("default_return_url: %q %w", raw, err)
	}
	return u, nil
}

func parseDefault(raw string) (*url.URL, error) {
	u, err := parseConfigURL(raw)
	if err != nil {
		return nil, err
	}
	if strings.Contains(u.Hostname(), "*") {
		return nil, errors.New("must name one host, not a wildcard")
	}
	host, port, _, why := normHost(u.Scheme, u)
	switch {
	case why == whyInvalidPort:
		return nil, errInvalidPort
	case why != "":
		return nil, errors.New("has an invalid host")
	}
	if _, _, why := normPath(u.EscapedPath()); why != "" || hasDotSegment(u.EscapedPath()) {
		return nil, errPlainPath
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
	return u, nil
}

// parseConfigURL holds what entries and the default return URL share.
func parseConfigURL(raw string) (*url.URL, error) {
	switch {
	case raw == "":
		return nil, errNotAbsoluteHTTP
	case len(raw) > MaxReturnToLength:
		return nil, fmt.Errorf("is longer than %d bytes", MaxReturnToLength)
	case scanChars(raw) != "":
		return nil, errors.New("must not contain whitespace, control characters or backslashes")
	}
	if d, ok := decodeFully(raw); !ok || scanChars(d) != "" {
		return nil, errors.New("must not contain percent-encoded whitespace, control characters or backslashes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a valid URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" {
		return nil, errNotAbsoluteHTTP
	}
	if u.User != nil {
		return nil, errors.New("must not contain userinfo (user@)")
	}
	return u, nil
}

// hasDotSegment reports a "." or ".." segment (also percent-encoded) in an
// escaped path.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if d, _ := decodeFully(seg); d == "." || d == ".." {
			return true
		}
	}
	return false
}
