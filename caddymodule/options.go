package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// The checks of single options, shared by the Caddyfile parser (which
// reports them with the file and line) and Provision (which checks JSON
// config the same way). Each error starts with the option's name.

func checkCookieDomain(d string) error {
	if d == "" || strings.ContainsAny(d, " ;,/\\") {
		return fmt.Errorf("cookie_domain: %q is not a domain", d)
	}
	return nil
}

func checkCookiePath(p string) error {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " ;,") {
		return fmt.Errorf("cookie_path: %q must be a path starting with /", p)
	}
	return nil
}

// PathList is a list of paths that JSON may also give as one string, as
// cookie_path was before it took several.
type PathList []string

// UnmarshalJSON reads a string or a list of strings.
func (l *PathList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = PathList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("cookie_path: expected a path or a list of paths")
	}
	*l = many
	return nil
}

// MarshalJSON writes one path as a string, several as a list.
func (l PathList) MarshalJSON() ([]byte, error) {
	if len(l) == 1 {
		return json.Marshal(l[0])
	}
	return json.Marshal([]string(l))
}

func parseSameSite(s string) (http.SameSite, error) {
	switch strings.ToLower(s) {
	case "", "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	}
	return 0, fmt.Errorf("cookie_samesite: must be lax, strict or none (got %q)", s)
}

func checkSameSite(s string) error {
	_, err := parseSameSite(s)
	return err
}

func checkPublicURL(raw string) error {
	_, err := parseAbsoluteURL("public_url", raw)
	return err
}

func checkErrorURL(raw string) error {
	_, err := parseAbsoluteURL("error_url", raw)
	return err
}

func checkDefaultReturnURL(raw string) error {
	_, err := parseDefaultReturnURL(raw)
	return err
}

func checkAllowedReturnURL(raw string) error {
	_, err := flow.NewReturnPolicy([]string{raw})
	return err
}

func checkOnStoreError(s string) error {
	_, err := parseOnStoreError(s)
	return err
}

func parseAbsoluteURL(option, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%s: %q must be an absolute http or https URL", option, raw)
	}
	return u, nil
}

func parseDefaultReturnURL(raw string) (*url.URL, error) {
	return flow.ParseDefaultReturnURL(raw) // its errors name default_return_url
}

func parseOnRevoked(action, redirect string) (flow.RevokedAction, error) {
	switch action {
	case "", "strip":
		return flow.Strip, nil
	case "deny":
		return flow.Deny, nil
	case "redirect":
		if redirect == "" {
			return 0, errors.New("on_revoked redirect: needs the URL to redirect to")
		}
		if _, err := url.Parse(redirect); err != nil || strings.ContainsAny(redirect, " \t\r\n\\") {
			return 0, fmt.Errorf("on_revoked redirect: %q is not a URL", redirect)
		}
		return flow.Redirect, nil
	}
	return 0, fmt.Errorf("on_revoked: expected strip, deny or redirect <url> (got %q)", action)
}

var validClearSiteData = map[string]bool{"cache": true, "cookies": true, "storage": true, "executionContexts": true, "*": true}

func checkClearSiteData(t string) error {
	if !validClearSiteData[t] {
		return fmt.Errorf("clear_site_data: %q must be one of cache, cookies, storage, executionContexts, *", t)
	}
	return nil
}

func parseOnStoreError(s string) (deny bool, err error) {
	switch s {
	case "", "allow":
		return false, nil
	case "deny":
		return true, nil
	}
	return false, fmt.Errorf("on_store_error: expected allow or deny (got %q)", s)
}

// maxCacheEntries keeps a typo from reserving gigabytes: ristretto sizes
// its admission counters at ten times the entries.
const maxCacheEntries = 100_000_000

func checkMaxEntries(n int64) error {
	if n < 0 || n > maxCacheEntries {
		return fmt.Errorf("cache max_entries: expected a positive number up to %d (got %d)", maxCacheEntries, n)
	}
	return nil
}

// checkLiteralKey checks a signing_key written out in the config; keys
// from placeholders are checked when they are resolved, at load.
func checkLiteralKey(k string) error { return checkLiteral("signing_key", k) }

// checkLiteralSealKey is checkLiteralKey for seal_key.
func checkLiteralSealKey(k string) error { return checkLiteral("seal_key", k) }

func checkLiteral(option, k string) error {
	if strings.Contains(k, "{") {
		return nil
	}
	if len(k) < session.MinKeyLength {
		return fmt.Errorf("%s: must be at least %d bytes (got %d); better, write it as {env.X} or {file.X}", option, session.MinKeyLength, len(k))
	}
	return nil
}
