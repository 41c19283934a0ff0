package flow

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The oracle below re-derives "allowed" from the emitted URL alone, with
// none of returnto.go's helpers, for the policy built in FuzzReturnTo.
var fuzzWildcardHost = regexp.MustCompile(`^([a-z0-9-]{1,63}\.)+example\.org$`)

func FuzzReturnTo(f *testing.F) {
	for _, c := range readHostile(f) {
		f.Add(c.payload)
	}
	for _, s := range []string{
		"https://app.example.com/", "/dashboard", "dashboard", "?x=1", "#top", "../x",
		"https://a.example.org/x?y=1#z", "http://localhost:8080/cb/x", "https://app.example.com/a/%2e%2e/b",
		"https://app.example.com/?q=100%", "https://app.example.com/caf\u00e9", "http://localhost:8080/cb/..",
	} {
		f.Add(s)
	}
	p := mustPolicy(f, "https://app.example.com/", "https://*.example.org", "http://localhost:8080/cb")
	base := mustBase(f, "https://app.example.com/home/")

	f.Fuzz(func(t *testing.T, raw string) {
		out, err := p.Check(raw, base)
		if err != nil {
			rte, ok := err.(*ReturnToError)
			if !ok || rte.Why == "" || rte.Raw != raw || out != "" {
				t.Fatalf("%q: bad refusal %#v, %q", raw, err, out)
			}
			return
		}
		// What the input must not have had for it to be accepted.
		if strings.ContainsAny(raw, "\\\x00\t\r\n \x7f") || strings.HasPrefix(raw, "//") || len(raw) > MaxReturnToLength {
			t.Fatalf("%q accepted as %q", raw, out)
		}
		if len(out) > MaxReturnToLength {
			t.Fatalf("%q: result too long (%d)", raw, len(out))
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c <= ' ' || c >= 0x7f || c == '\\' {
				t.Fatalf("%q: result %q has byte %#x", raw, out, c)
			}
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("%q: result %q does not parse: %v", raw, out, err)
		}
		if u.User != nil || u.Opaque != "" || u.Host == "" {
			t.Fatalf("%q: result %q has userinfo, opaque part or no host", raw, out)
		}
		if u.Host != strings.ToLower(u.Host) || u.Scheme != strings.ToLower(u.Scheme) {
			t.Fatalf("%q: result %q not lowercase", raw, out)
		}
		switch {
		case u.Scheme == "https" && u.Host == "app.example.com":
		case u.Scheme == "https" && fuzzWildcardHost.MatchString(u.Host):
		case u.Scheme == "http" && u.Host == "localhost:8080" && (u.Path == "/cb" || strings.HasPrefix(u.Path, "/cb/")):
		default:
			t.Fatalf("%q: result %q is not allowed by the policy", raw, out)
		}
		path := u.EscapedPath()
		if !strings.HasPrefix(path, "/") || strings.Contains(u.Path, "//") {
			t.Fatalf("%q: result %q has path %q", raw, out, u.Path)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q: result %q keeps a dot segment", raw, out)
			}
		}
		// Go reads the result as written: nothing for a later re-encoding to shift.
		if u.String() != out {
			t.Fatalf("%q: result %q re-serialises as %q", raw, out, u.String())
		}
		again, err := p.Check(out, base)
		if err != nil || again != out {
			t.Fatalf("%q: result %q re-checked as %q, %v", raw, out, again, err)
		}
	})
}
