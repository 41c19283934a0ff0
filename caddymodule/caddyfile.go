package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("logout", parseCaddyfile)
	// Before authentication and everything that answers or proxies, so
	// no `order` line is needed and the app never sees a revoked session.
	httpcaddyfile.RegisterDirectiveOrder("logout", httpcaddyfile.Before, "basic_auth")
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
		option := d.Val()
		switch option {
		case "cookie":
			if err := appendArgs(d, &h.Cookies); err != nil {
				return err
			}
		case "cookie_domain":
			if err := appendArgs(d, &h.CookieDomains); err != nil {
				return err
			}
		case "intercept":
			if err := appendArgs(d, &h.Intercept); err != nil {
				return err
			}
		case "allowed_return_urls":
			if err := appendArgs(d, &h.AllowedReturnURLs); err != nil {
				return err
			}
		case "signing_key":
			if err := appendArgs(d, &h.SigningKeys); err != nil {
				return err
			}
		case "clear_site_data":
			if err := appendArgs(d, &h.ClearSiteData); err != nil {
				return err
			}
			for _, t := range h.ClearSiteData {
				if !validClearSiteData[t] {
					return d.Errf("clear_site_data: %q must be one of cache, cookies, storage, executionContexts, *", t)
				}
			}
		case "token_header":
			if err := oneArg(d, &h.TokenHeader); err != nil {
				return err
			}
		case "cookie_path":
			if err := oneArg(d, &h.CookiePath); err != nil {
				return err
			}
		case "cookie_samesite":
			if err := oneArg(d, &h.CookieSameSite); err != nil {
				return err
			}
			if _, err := parseSameSite(h.CookieSameSite); err != nil {
				return d.Errf("cookie_samesite: must be lax, strict or none (got %q)", h.CookieSameSite)
			}
		case "endpoints":
			if err := oneArg(d, &h.Endpoints); err != nil {
				return err
			}
		case "public_url":
			if err := oneArg(d, &h.PublicURL); err != nil {
				return err
			}
		case "default_return_url":
			if err := oneArg(d, &h.DefaultReturnURL); err != nil {
				return err
			}
		case "error_url":
			if err := oneArg(d, &h.ErrorURL); err != nil {
				return err
			}
		case "token_ttl":
			if err := durationArg(d, &h.TokenTTL); err != nil {
				return err
			}
		case "session_lifetime":
			if err := durationArg(d, &h.SessionLifetime); err != nil {
				return err
			}
		case "on_revoked":
			if !d.NextArg() {
				return d.Errf("on_revoked: expected strip, deny or redirect <url>")
			}
			h.OnRevoked = d.Val()
			switch h.OnRevoked {
			case "strip", "deny":
			case "redirect":
				if !d.NextArg() {
					return d.Errf("on_revoked redirect: expected the URL to redirect to")
				}
				h.OnRevokedRedirect = d.Val()
			default:
				return d.Errf("on_revoked: expected strip, deny or redirect <url> (got %q)", h.OnRevoked)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "on_store_error":
			if err := oneArg(d, &h.OnStoreError); err != nil {
				return err
			}
			if h.OnStoreError != "allow" && h.OnStoreError != "deny" {
				return d.Errf("on_store_error: expected allow or deny (got %q)", h.OnStoreError)
			}
		case "store":
			if err := h.unmarshalStore(d); err != nil {
				return err
			}
		case "cache":
			if err := h.unmarshalCache(d); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized logout option %q", option)
		}
	}
	return nil
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
			if err := oneArg(d, &s); err != nil {
				return err
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("cache max_entries: expected a positive number (got %q)", s)
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

func appendArgs(d *caddyfile.Dispenser, dst *[]string) error {
	option := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("%s: expected at least one value", option)
	}
	*dst = append(*dst, args...)
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	option := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: expected one value", option)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: expected one value, got more", option)
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	option := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
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
