package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-logout/caddy-logout/flow"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("logout", parseCaddyfile)
	// Before rewrites (redir, rewrite, uri, try_files: an SPA's
	// `try_files {path} /index.html` would otherwise swallow the endpoints
	// and intercepted paths), authentication and everything that answers
	// or proxies, so no `order` line is needed and the app never sees a
	// revoked session.
	httpcaddyfile.RegisterDirectiveOrder("logout", httpcaddyfile.Before, "redir")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler Handler
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// UnmarshalCaddyfile reads the logout directive:
//
//	logout [<matcher>] {
//	    cookie              <name>...
//	    token_header        <header>
//	    cookie_domain       <domain>...
//	    cookie_path         <path>
//	    cookie_samesite     lax|strict|none
//	    endpoints           <prefix>
//	    public_url          <url>
//	    intercept           <path>...
//	    default_return_url  <url>
//	    allowed_return_urls <url>...
//	    error_url           <url>
//	    signing_key         <key>...
//	    token_ttl           <duration>
//	    session_lifetime    <duration>
//	    on_revoked          strip|deny|redirect <url>
//	    clear_site_data     <type>...
//	    store               memory | bolt [<path>] | redis { ... }
//	    cache {
//	        max_entries  <n>
//	        negative_ttl <duration>
//	    }
//	    on_store_error      allow|deny
//	}
//
// Options that take a list may also be repeated.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if err := h.unmarshalOption(d); err != nil {
			return err
		}
	}
	return nil
}

// unmarshalOption reads one option of the block and checks its values at
// once, so a bad one is reported with its line.
func (h *Handler) unmarshalOption(d *caddyfile.Dispenser) error {
	option := d.Val()
	// each(check)(values, err) checks every value just read.
	each := func(check func(string) error) func([]string, error) error {
		return func(values []string, err error) error {
			if err != nil {
				return err
			}
			for _, v := range values {
				if err := check(v); err != nil {
					return d.Errf("%v", err)
				}
			}
			return nil
		}
	}
	one := func(dst *string, check func(string) error) error {
		return each(check)(oneArg(d, dst))
	}
	switch option {
	case "cookie":
		return each(flow.CheckCookieName)(appendArgs(d, &h.Cookies))
	case "cookie_domain":
		return each(checkCookieDomain)(appendArgs(d, &h.CookieDomains))
	case "intercept":
		return each(flow.CheckInterceptPath)(appendArgs(d, &h.Intercept))
	case "allowed_return_urls":
		return each(func(v string) error {
			_, err := flow.NewReturnPolicy([]string{v})
			return err
		})(appendArgs(d, &h.AllowedReturnURLs))
	case "signing_key":
		return each(checkLiteralKey)(appendArgs(d, &h.SigningKeys))
	case "clear_site_data":
		return each(checkClearSiteData)(appendArgs(d, &h.ClearSiteData))
	case "token_header":
		return one(&h.TokenHeader, func(string) error { return nil })
	case "cookie_path":
		return one(&h.CookiePath, checkCookiePath)
	case "cookie_samesite":
		return one(&h.CookieSameSite, func(v string) error { _, err := parseSameSite(v); return err })
	case "endpoints":
		return one(&h.Endpoints, flow.CheckPrefix)
	case "public_url":
		return one(&h.PublicURL, func(v string) error { _, err := parseAbsoluteURL(option, v); return err })
	case "error_url":
		return one(&h.ErrorURL, func(v string) error { _, err := parseAbsoluteURL(option, v); return err })
	case "default_return_url":
		return one(&h.DefaultReturnURL, func(v string) error { _, err := parseDefaultReturnURL(v); return err })
	case "on_store_error":
		return one(&h.OnStoreError, func(v string) error { _, err := parseOnStoreError(v); return err })
	case "token_ttl":
		return durationArg(d, &h.TokenTTL)
	case "session_lifetime":
		return durationArg(d, &h.SessionLifetime)
	case "on_revoked":
		if !d.NextArg() {
			return d.Errf("on_revoked: expected strip, deny or redirect <url>")
		}
		h.OnRevoked = d.Val()
		if h.OnRevoked == "redirect" {
			if !d.NextArg() {
				return d.Errf("on_revoked redirect: expected the URL to redirect to")
			}
			h.OnRevokedRedirect = d.Val()
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		if _, err := parseOnRevoked(h.OnRevoked, h.OnRevokedRedirect); err != nil {
			return d.Errf("%v", err)
		}
		return nil
	case "store":
		return h.unmarshalStore(d)
	case "cache":
		return h.unmarshalCache(d)
	}
	return d.Errf("unrecognized logout option %q", option)
}

// unmarshalStore reads `store <backend> [args] [{ ... }]`, letting the
// logout.stores.<backend> module parse its own part.
func (h *Handler) unmarshalStore(d *caddyfile.Dispenser) error {
	if h.StoreRaw != nil {
		return d.Errf("store: already specified")
	}
	if !d.NextArg() {
		return d.Errf("store: expected a backend such as memory, bolt or redis")
	}
	name := d.Val()
	mod, err := caddyfile.UnmarshalModule(d, "logout.stores."+name)
	if err != nil {
		return d.Errf("store %s: %v", name, err)
	}
	h.StoreRaw = caddyconfig.JSONModuleObject(mod, "backend", name, nil)
	return nil
}

// unmarshalCache reads the cache block.
func (h *Handler) unmarshalCache(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	h.Cache = &CacheConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "max_entries":
			var s string
			if _, err := oneArg(d, &s); err != nil {
				return err
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("cache max_entries: expected a positive number (got %q)", s)
			}
			if err := checkMaxEntries(n); err != nil {
				return d.Errf("%v", err)
			}
			h.Cache.MaxEntries = n
		case "negative_ttl":
			if err := durationArg(d, &h.Cache.NegativeTTL); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized cache option %q", d.Val())
		}
	}
	return nil
}

// appendArgs appends the option's values to dst and returns them.
func appendArgs(d *caddyfile.Dispenser, dst *[]string) ([]string, error) {
	option := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.Errf("%s: expected at least one value", option)
	}
	*dst = append(*dst, args...)
	return args, nil
}

// oneArg reads the option's single value into dst and returns it.
func oneArg(d *caddyfile.Dispenser, dst *string) ([]string, error) {
	option := d.Val()
	if !d.NextArg() {
		return nil, d.Errf("%s: expected one value", option)
	}
	*dst = d.Val()
	if d.NextArg() {
		return nil, d.Errf("%s: expected one value, got more", option)
	}
	return []string{*dst}, nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	option := d.Val()
	var s string
	if _, err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return d.Errf("%s: expected a positive duration such as 24h (got %q)", option, s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
