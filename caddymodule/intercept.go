package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-logout/caddy-logout/flow"
)

// unmarshalIntercept reads `intercept <path>[?<query>]...` or a block of
// Caddy request matchers:
//
//	intercept {
//	    path   /index.php
//	    query  title=Special:UserLogout
//	    method POST
//	}
//
// A value that can never match is an error naming its line.
func (h *Handler) unmarshalIntercept(d *caddyfile.Dispenser) error {
	if d.CountRemainingArgs() > 0 {
		return appendArgs(d, &h.Intercept, flow.CheckInterceptPath)
	}
	segment := d.NextSegment()
	if len(segment) <= 3 { // intercept, or intercept { }
		ed := caddyfile.NewDispenser(segment)
		ed.Next()
		return ed.Errf("intercept: expected a path such as /logout, or a block of request matchers")
	}
	if err := checkInterceptBlock(segment); err != nil {
		return err
	}
	md := caddyfile.NewDispenser(segment)
	md.Next() // intercept
	set, err := caddyhttp.ParseCaddyfileNestedMatcherSet(md)
	if err != nil {
		return err
	}
	h.InterceptMatchRaw = append(h.InterceptMatchRaw, set)
	return nil
}

// checkInterceptBlock refuses, with their lines, the matchers of an
// intercept block that can never match a logout.
func checkInterceptBlock(segment caddyfile.Segment) error {
	d := caddyfile.NewDispenser(segment)
	d.Next() // intercept
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		line := d.NextSegment()
		ld := caddyfile.NewDispenser(line)
		ld.Next()
		args := ld.RemainingArgs()
		switch line[0].Text {
		case "path":
			for _, p := range args {
				if err := flow.CheckInterceptMatchPath(p); err != nil {
					return ld.Errf("%v", err)
				}
			}
		case "query":
			q := map[string][]string{}
			for _, a := range args {
				k, v, _ := strings.Cut(a, "=")
				q[k] = append(q[k], v)
			}
			if err := flow.CheckInterceptQuery(q); err != nil {
				return ld.Errf("%v", err)
			}
		}
	}
	return nil
}

// loadInterceptRules loads the intercept matcher sets. The query matcher of
// a set is taken out and read by the flow however a client spells the
// query; the rest stays Caddy's, tried on the request and its normal form.
func (h *Handler) loadInterceptRules(ctx caddy.Context) ([]flow.InterceptRule, error) {
	if len(h.InterceptMatchRaw) == 0 {
		return nil, nil
	}
	mods, err := ctx.LoadModule(h, "InterceptMatchRaw")
	if err != nil {
		return nil, fmt.Errorf("intercept: loading matchers: %w", err)
	}
	var rules []flow.InterceptRule
	for _, set := range mods.([]map[string]any) {
		rule, err := interceptRule(set)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

func interceptRule(set map[string]any) (flow.InterceptRule, error) {
	if len(set) == 0 {
		return flow.InterceptRule{}, errors.New("intercept: an empty matcher set would make every request a logout")
	}
	var rule flow.InterceptRule
	var rest caddyhttp.MatcherSet
	for name, m := range set {
		switch m := m.(type) {
		case *caddyhttp.MatchQuery:
			if err := flow.CheckInterceptQuery(*m); err != nil {
				return rule, err
			}
			rule.Query = *m
			continue
		case *caddyhttp.MatchPath:
			for _, p := range *m {
				if err := flow.CheckInterceptMatchPath(p); err != nil {
					return rule, err
				}
			}
		}
		switch m.(type) {
		case caddyhttp.RequestMatcherWithError, interface{ Match(*http.Request) bool }: // (the older kind)
			rest = append(rest, m)
		default:
			return rule, fmt.Errorf("intercept: %s is not a request matcher", name)
		}
	}
	if len(rest) > 0 {
		rule.Match = rest
	}
	return rule, nil
}
