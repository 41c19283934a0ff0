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
//	    cookie              <name|glob>...
//	    token_header        <header>
//	    cookie_domain       <domain>...
//	    cookie_path         <path>...
//	    cookie_samesite     lax|strict|none
//	    endpoints           <prefix>
//	    public_url          <url>
//	    intercept           <path>[?<key>=<value>&...]...
//	    intercept {
//	        <matcher> <args>...
//	    }
//	    default_return_url  <url>
//	    allowed_return_urls <url>...
//	    error_url           <url>
//	    signing_key         <key>...
//	    seal                <name|glob>...
//	    seal_key            <key>...
//	    token_ttl           <duration>
//	    session_lifetime    <duration>
//	    on_revoked          strip|deny|redirect <url>
//	    clear_site_data     <type>...
//	    identity {
//	        id_token     <placeholder>
//	        subject      <placeholder>
//	        max_sessions <n>
//	    }
//	    store               memory | bolt [<path>] | redis { ... }
//	    cache {
//	        max_entries  <n>
//	        negative_ttl <duration>
//	    }
//	    on_store_error      allow|deny
//	    oidc_logout { ... }           (one per provider client; see unmarshalOIDCLogout)
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
		var err error
		switch option {
		case "cookie":
			err = appendArgs(d, &h.Cookies, flow.CheckCookiePattern)
		case "cookie_domain":
			err = appendArgs(d, &h.CookieDomains, checkCookieDomain)
		case "intercept":
			err = h.unmarshalIntercept(d)
		case "cookie_path":
			err = appendArgs(d, (*[]string)(&h.CookiePath), checkCookiePath)
		case "allowed_return_urls":
			err = appendArgs(d, &h.AllowedReturnURLs, checkAllowedReturnURL)
		case "signing_key":
			err = appendArgs(d, &h.SigningKeys, checkLiteralKey)
		case "seal":
			err = appendArgs(d, &h.Seal, flow.CheckSealPattern)
		case "seal_key":
			err = appendArgs(d, &h.SealKeys, checkLiteralSealKey)
		case "clear_site_data":
			err = appendArgs(d, &h.ClearSiteData, checkClearSiteData)
		case "token_header":
			err = oneArg(d, &h.TokenHeader, flow.CheckTokenHeader)
		case "cookie_samesite":
			err = oneArg(d, &h.CookieSameSite, checkSameSite)
		case "endpoints":
			err = oneArg(d, &h.Endpoints, flow.CheckPrefix)
		case "public_url":
			err = oneArg(d, &h.PublicURL, checkPublicURL)
		case "error_url":
			err = oneArg(d, &h.ErrorURL, checkErrorURL)
		case "default_return_url":
			err = oneArg(d, &h.DefaultReturnURL, checkDefaultReturnURL)
		case "on_store_error":
			err = oneArg(d, &h.OnStoreError, checkOnStoreError)
		case "token_ttl":
			err = durationArg(d, &h.TokenTTL)
		case "session_lifetime":
			err = durationArg(d, &h.SessionLifetime)
		case "on_revoked":
			err = h.unmarshalOnRevoked(d)
		case "identity":
			err = h.unmarshalIdentity(d)
		case "store":
			err = h.unmarshalStore(d)
		case "cache":
			err = h.unmarshalCache(d)
		case "oidc_logout":
			err = h.unmarshalOIDCLogout(d)
		default:
			return d.Errf("unrecognized logout option %q", option)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalOnRevoked reads `on_revoked strip|deny|redirect <url>`.
func (h *Handler) unmarshalOnRevoked(d *caddyfile.Dispenser) error {
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
			if err := oneArg(d, &s, nil); err != nil {
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

// appendArgs appends the option's values to dst, checking each with check
// so that a bad one is reported with its line.
func appendArgs(d *caddyfile.Dispenser, dst *[]string, check func(string) error) error {
	option := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("%s: expected at least one value", option)
	}
	for _, v := range args {
		if err := check(v); err != nil {
			return d.Errf("%v", err)
		}
	}
	*dst = append(*dst, args...)
	return nil
}

// oneArg reads the option's single value into dst, checking it with check
// (when not nil).
func oneArg(d *caddyfile.Dispenser, dst *string, check func(string) error) error {
	option := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: expected one value", option)
	}
	v := d.Val()
	if d.NextArg() {
		return d.Errf("%s: expected one value, got more", option)
	}
	if check != nil {
		if err := check(v); err != nil {
			return d.Errf("%v", err)
		}
	}
	*dst = v
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	option := d.Val()
	var s string
	if err := oneArg(d, &s, nil); err != nil {
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
