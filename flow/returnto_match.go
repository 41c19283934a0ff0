package flow

// Matching a normalised target against the allowed entries.

import (
	"net/url"
	"strings"
)

// entryFromBase turns the default return URL into an allowed entry, or nil
// when it is not one we could ever redirect to.
func entryFromBase(base *url.URL) *returnEntry {
	scheme := strings.ToLower(base.Scheme)
	if scheme != "http" && scheme != "https" || base.Opaque != "" || base.User != nil {
		return nil
	}
	host, port, _, why := normHost(scheme, base)
	if why != "" {
		return nil
	}
	_, dsegs, why := normPath(base.EscapedPath())
	if why != "" {
		return nil
	}
	if n := len(dsegs); n > 0 && dsegs[n-1] == "" {
		dsegs = dsegs[:n-1]
	}
	return &returnEntry{scheme: scheme, host: host, port: port, path: dsegs}
}

// match finds an entry that allows the target, or says why none does.
func (p *ReturnPolicy) match(scheme, host, port string, nonASCII bool, dsegs []string, base *returnEntry) string {
	hostKnown, originOK := false, false
	try := func(e *returnEntry) bool {
		if !e.wildcard && e.host == host {
			hostKnown = true
		}
		if e.scheme != scheme || e.port != port || !e.matchHost(host) {
			return false
		}
		originOK = true
		return e.matchPath(dsegs)
	}
	if p != nil {
		for i := range p.entries {
			if try(&p.entries[i]) {
				return ""
			}
		}
	}
	if base != nil && try(base) {
		return ""
	}
	switch {
	case nonASCII && !hostKnown:
		return whyNonASCIIHost
	case !originOK:
		return whyHostNotAllowed
	default:
		return whyPathNotAllowed
	}
}

func (e *returnEntry) matchHost(host string) bool {
	if !e.wildcard {
		return e.host == host
	}
	// One or more valid labels in front of ".suffix": never the suffix
	// itself, never "evilexample.com".
	sub, ok := strings.CutSuffix(host, e.host)
	return ok && sub != "" && validLabels(sub)
}

// matchPath: the entry's path is a prefix of the target's on a segment
// boundary.
func (e *returnEntry) matchPath(dsegs []string) bool {
	if len(dsegs) < len(e.path) {
		return false
	}
	for i, s := range e.path {
		if dsegs[i] != s {
			return false
		}
	}
	return true
}
