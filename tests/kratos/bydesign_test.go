package kratos

import (
	"regexp"
	"slices"
	"strings"
)

// byDesign is every difference between the gateway's answers and Kratos's
// that the differential forgives, each with its reason. It is the only
// place that forgives one: any other difference fails the test. The
// README's "Compatibility with Kratos" section names the same points.
//
// Entries with cases apply to those cases only; the others to every case.
// Entries without cases run first, for every case, so that an entry that
// compares against another case's Kratos answer sees it normalised.
var byDesign = []deviation{
	{
		what: "hosts",
		why: "the two servers listen on different ports: Kratos writes its configured base_url, " +
			"the gateway the request's own origin (or public_url)",
		apply: func(_ *normaliser, o *observation, _ bool) {
			o.location = strings.ReplaceAll(o.location, o.origin, "{origin}")
			o.logoutURL = strings.ReplaceAll(o.logoutURL, o.origin, "{origin}")
			o.errReason = strings.ReplaceAll(o.errReason, o.origin, "{origin}")
		},
	},
	{
		what: "logout token format",
		why: "Kratos's tokens are random strings in its database; the gateway's are signed and stateless. " +
			"Both are opaque to clients; what a client relies on, the URL carrying the answer's own token, is kept",
		apply: func(_ *normaliser, o *observation, _ bool) {
			o.logoutURL = replaceQueryValue(o.logoutURL, "token", func(v string) string {
				if v == o.logoutToken {
					return "{logout_token}"
				}
				return "{some other token}"
			})
			if o.logoutToken != "" {
				o.logoutToken = "{logout_token}"
			}
		},
	},
	{
		what: "error-flow ids",
		why: "Kratos keeps each error in its database under a UUID; the gateway's id is the error itself, " +
			"sealed, so that any node can answer the error UI without shared state",
		apply: func(_ *normaliser, o *observation, _ bool) {
			o.location = replaceQueryValue(o.location, "id", func(string) string { return "{error id}" })
			if o.flowErrorID != "" {
				o.flowErrorID = "{error id}"
			}
		},
	},
	{
		what: "Kratos's CSRF cookie",
		why: "Kratos sets its csrf_token_* cookie for its own self-service forms (and renews it at logout " +
			"and on redirects to the error UI); the gateway has no forms: a logout token bound to the session is its CSRF protection",
		apply: func(_ *normaliser, o *observation, kratos bool) {
			if kratos {
				o.cookies = slices.DeleteFunc(o.cookies, func(c setCookie) bool { return strings.HasPrefix(c.name, "csrf_token_") })
			}
		},
	},
	{
		what: "a dead session cookie is cleared",
		why: "a client that presents a revoked or unknown session cookie is told to forget it: harmless, " +
			"and it stops a browser from replaying a dead cookie; Kratos leaves it alone",
		cases: []string{"create: revoked session", "perform: reused token", "perform: reused token, browser"},
		apply: func(_ *normaliser, o *observation, kratos bool) {
			if !kratos {
				o.cookies = slices.DeleteFunc(o.cookies, func(c setCookie) bool { return c.deletes && c.name == "ory_kratos_session" })
			}
		},
	},
	{
		what: "a session cookie the gateway has not seen revoked is a session",
		why: "in front of an app the gateway does not hold the app's sessions, so it cannot tell a live cookie " +
			"from one the app never issued; it answers as Kratos does for a live session (a logout URL for " +
			"a cookie the app does not know logs nobody out)",
		cases: []string{"create: unknown session cookie"},
		apply: kratosAnswerOf("create: JSON client", nil),
	},
	{
		what: "unsafe methods on the browser endpoints are the router's 405",
		why: "Kratos checks its CSRF cookie before routing, so a POST to a GET endpoint is its 403 " +
			"security_csrf_violation; the gateway has no CSRF cookie to check, so it answers any wrong method " +
			"as Kratos's router answers a safe one",
		cases: []string{"create: POST", "perform: POST", "errors: POST"},
		apply: func(n *normaliser, o *observation, kratos bool) {
			if kratos {
				*o = *n.kratosAnswer(strings.Replace(n.current, "POST", "wrong method", 1))
			}
		},
	},
	{
		what: "no session and no Accept header at create: Kratos v0.7's JSON",
		why: "the endpoints implement Kratos v0.7, which answers this with its JSON 401 (v1.3 redirects to the " +
			"error UI); the JSON answer Kratos v1.3 gives a JSON client is v0.7's answer here",
		cases: []string{"create: no session, no Accept"},
		apply: kratosAnswerOf("create: no session, JSON client", nil),
	},
	{
		what: "return_to paths match on a segment boundary",
		why: "Kratos allows any path that starts with an allowed entry's path (/app allows /application); " +
			"the gateway only allows the entry's path and what lies below it, so the answer is Kratos's refusal of a disallowed URL",
		cases: []string{"create: return_to past a segment boundary"},
		apply: kratosAnswerOf("create: disallowed return_to", func(o *observation) {
			o.errReason = strings.Replace(o.errReason, "https://evil.example/", "https://partner.example.test/application", 1)
		}),
	},
	{
		what: "API logout of a token the gateway never saw",
		why: "in front of an app the gateway does not know every token the app issued, so it cannot prove one " +
			"unknown; revoking a token that never existed is harmless, so it answers as Kratos does for a known token",
		cases: []string{"api: unknown token"},
		apply: kratosAnswerOf("api: valid token", nil),
	},
	{
		what: "bounded API bodies",
		why: "Kratos reads a body of any size; the gateway refuses one over 17 KiB (no session token is that long) " +
			"with Kratos's 400 envelope rather than read it",
		cases: []string{"api: body over the limit"},
		apply: kratosAnswerOf("api: no body", func(o *observation) { o.errReason = "The request body is too large." }),
	},
	{
		what: "the decoder names the server's own Go type",
		why: "Go's JSON decoder names the type it decodes into (Kratos's logout.performNativeLogoutBody); " +
			"the gateway decodes into a type of the same name in its own package",
		cases: []string{"api: JSON, not an object"},
		apply: func(_ *normaliser, o *observation, _ bool) {
			o.errReason = goPackage.ReplaceAllString(o.errReason, "Go value of type ")
		},
	},
}

var goPackage = regexp.MustCompile(`Go value of type [a-z]+\.`)

// deviation is one entry of byDesign.
type deviation struct {
	what, why string
	cases     []string
	// apply rewrites one side's observation; kratos says which side.
	apply func(n *normaliser, o *observation, kratos bool)
}

// normaliser applies byDesign to the observations of every case.
type normaliser struct {
	kratos, gateway map[string]*observation
	current         string // the case being normalised
}

// kratosAnswerOf is an apply that compares the gateway's answer with
// Kratos's (normalised) answer in another case, edited by edit (if any).
func kratosAnswerOf(other string, edit func(*observation)) func(*normaliser, *observation, bool) {
	return func(n *normaliser, o *observation, kratos bool) {
		if kratos {
			*o = *n.kratosAnswer(other)
			if edit != nil {
				edit(o)
			}
		}
	}
}

// kratosAnswer is Kratos's (normalised) answer in another case; a copy.
func (n *normaliser) kratosAnswer(name string) *observation {
	o, ok := n.kratos[name]
	if !ok {
		panic("byDesign refers to an unknown case " + name)
	}
	c := *o
	c.cookies = slices.Clone(o.cookies)
	return &c
}

// run normalises every observation in place: first the entries for every
// case, then the case-specific ones.
func (n *normaliser) run(order []string) {
	for _, general := range []bool{true, false} {
		for _, d := range byDesign {
			if (d.cases == nil) != general {
				continue
			}
			for _, name := range order {
				if d.cases != nil && !slices.Contains(d.cases, name) {
					continue
				}
				n.current = name
				d.apply(n, n.kratos[name], true)
				d.apply(n, n.gateway[name], false)
			}
		}
	}
}
