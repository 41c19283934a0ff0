package flow

import (
	"bufio"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// hostileCase is one line of testdata/return_to_hostile.txt.
type hostileCase struct {
	line    int
	payload string
	why     string
}

// readHostile parses testdata/return_to_hostile.txt (format described at
// the top of that file).
func readHostile(tb testing.TB) []hostileCase {
	tb.Helper()
	f, err := os.Open("testdata/return_to_hostile.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var cases []hostileCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		quoted, err := strconv.QuotedPrefix(line)
		if err != nil {
			tb.Fatalf("return_to_hostile.txt:%d: %v", n, err)
		}
		payload, _ := strconv.Unquote(quoted)
		why, ok := strings.CutPrefix(strings.TrimSpace(line[len(quoted):]), "#")
		if !ok {
			tb.Fatalf("return_to_hostile.txt:%d: want `\"payload\"  # why`", n)
		}
		cases = append(cases, hostileCase{line: n, payload: payload, why: strings.TrimSpace(why)})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return cases
}

func mustPolicy(tb testing.TB, allowed ...string) *ReturnPolicy {
	tb.Helper()
	p, err := NewReturnPolicy(allowed)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func mustBase(tb testing.TB, raw string) *url.URL {
	tb.Helper()
	u, err := ParseDefaultReturnURL(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func whyOf(err error) string {
	var rte *ReturnToError
	if errors.As(err, &rte) {
		return rte.Why
	}
	return ""
}

func TestReturnTo_HostileCorpus_Refused(t *testing.T) {
	cases := readHostile(t)
	if len(cases) < 80 {
		t.Fatalf("corpus has %d payloads, want at least 80", len(cases))
	}
	single := mustPolicy(t, "https://app.example.com/")
	singleBase := mustBase(t, "https://app.example.com/")
	// A wider policy: wildcard subdomains plus a path-limited entry.
	wide := mustPolicy(t, "https://*.example.com", "https://app.example.com/app")
	wideBase := mustBase(t, "https://app.example.com/app/")

	for _, c := range cases {
		got, err := single.Check(c.payload, singleBase)
		if err == nil {
			t.Errorf("line %d: %q allowed as %q", c.line, c.payload, got)
			continue
		}
		if w := whyOf(err); w != c.why {
			t.Errorf("line %d: %q refused as %q, want %q", c.line, c.payload, w, c.why)
		}
		if got != "" {
			t.Errorf("line %d: refusal returned a URL %q", c.line, got)
		}
		if got, err := wide.Check(c.payload, wideBase); err == nil {
			t.Errorf("line %d: %q allowed by the wildcard policy as %q", c.line, c.payload, got)
		}
	}
}

func TestReturnTo_TooLong_Refused(t *testing.T) {
	p := mustPolicy(t, "https://app.example.com/")
	base := mustBase(t, "https://app.example.com/")
	prefix := "https://app.example.com/"
	exact := prefix + strings.Repeat("a", MaxReturnToLength-len(prefix))
	if _, err := p.Check(exact, base); err != nil {
		t.Fatalf("value of exactly MaxReturnToLength refused: %v", err)
	}
	for name, raw := range map[string]string{
		"raw":                  exact + "a",
		"huge":                 prefix + strings.Repeat("a", 1<<20),
		"grows when escaped":   prefix + strings.Repeat("\u00e9", 700),    // 1400 bytes in, 4200 out
		"grows when resolved":  strings.Repeat("b", MaxReturnToLength-10), // relative, plus base
		"query grows escaping": prefix + "?" + strings.Repeat("<", 1000),  // "<" becomes "%3C"
	} {
		if _, err := p.Check(raw, base); whyOf(err) != whyTooLong {
			t.Errorf("%s: got %v, want %q", name, err, whyTooLong)
		}
	}
}

func TestReturnToError_Message_IsKratosReason(t *testing.T) {
	p := mustPolicy(t, "https://app.example.com/")
	_, err := p.Check("https://evil.com/x", mustBase(t, "https://app.example.com/"))
	want := `Requested return_to URL "https://evil.com/x" is not allowed.`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestReturnTo_Empty_Refused(t *testing.T) {
	p := mustPolicy(t, "https://app.example.com/")
	if _, err := p.Check("", mustBase(t, "https://app.example.com/")); whyOf(err) != whyEmpty {
		t.Fatalf("got %v, want %q", err, whyEmpty)
	}
}

type allowCase struct{ raw, want string }

func checkAllowed(t *testing.T, p *ReturnPolicy, base *url.URL, cases []allowCase) {
	t.Helper()
	for _, c := range cases {
		got, err := p.Check(c.raw, base)
		if err != nil {
			t.Errorf("%q refused: %v (why %q)", c.raw, err, whyOf(err))
			continue
		}
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.raw, got, c.want)
		}
		// What we emit must itself pass, unchanged.
		if again, err := p.Check(got, base); err != nil || again != got {
			t.Errorf("%q: re-check of %q gave %q, %v", c.raw, got, again, err)
		}
	}
}

type refuseCase struct{ raw, why string }

func checkRefused(t *testing.T, p *ReturnPolicy, base *url.URL, cases []refuseCase) {
	t.Helper()
	for _, c := range cases {
		got, err := p.Check(c.raw, base)
		if err == nil {
			t.Errorf("%q allowed as %q, want refusal %q", c.raw, got, c.why)
			continue
		}
		if w := whyOf(err); w != c.why {
			t.Errorf("%q refused as %q, want %q", c.raw, w, c.why)
		}
	}
}

func TestReturnTo_SingleHost_Allowed(t *testing.T) {
	p := mustPolicy(t, "https://app.example.com/")
	base := mustBase(t, "https://app.example.com/")
	checkAllowed(t, p, base, []allowCase{
		{"https://app.example.com/", "https://app.example.com/"},
		{"https://app.example.com", "https://app.example.com/"},
		{"HTTPS://APP.Example.COM/Path", "https://app.example.com/Path"},
		{"https://app.example.com:443/x", "https://app.example.com/x"},
		{"https://app.example.com:0443/x", "https://app.example.com/x"},
		{"https://app.example.com:/x", "https://app.example.com/x"},
		{"https://app.example.com?x=1", "https://app.example.com/?x=1"},
		{"https://app.example.com/?", "https://app.example.com/"},
		{"https://app.example.com/#", "https://app.example.com/"},
		// relative values resolve against the default return URL
		{"/dashboard", "https://app.example.com/dashboard"},
		{"dashboard", "https://app.example.com/dashboard"},
		{"?x=1", "https://app.example.com/?x=1"},
		{"#top", "https://app.example.com/#top"},
		{"/", "https://app.example.com/"},
		{".", "https://app.example.com/"},
		{"../../x", "https://app.example.com/x"},
		// dot segments, plain or encoded, are resolved
		{"https://app.example.com/a/b/../c", "https://app.example.com/a/c"},
		{"https://app.example.com/a/%2e%2e/c", "https://app.example.com/c"},
		{"https://app.example.com/a/.%2E/c", "https://app.example.com/c"},
		{"/a/./b/.", "https://app.example.com/a/b/"},
		{"/a/b/..", "https://app.example.com/a/"},
		{"/..", "https://app.example.com/"},
		// query and fragment are kept, escaped where a browser would need it
		{"https://app.example.com/search?q=a+b&next=%2F%2Fevil.com#frag", "https://app.example.com/search?q=a+b&next=%2F%2Fevil.com#frag"},
		{"https://app.example.com/?next=https%3A%2F%2Fapp.example.com%2Fsettings", "https://app.example.com/?next=https%3A%2F%2Fapp.example.com%2Fsettings"},
		{"https://app.example.com/?q=<script>\"", "https://app.example.com/?q=%3Cscript%3E%22"},
		{"https://app.example.com/?q=100%", "https://app.example.com/?q=100%25"},
		{"https://app.example.com/?q=%zz", "https://app.example.com/?q=%25zz"},
		{"https://app.example.com/#a#b", "https://app.example.com/#a%23b"},
		{"https://app.example.com/?q=\u00e9", "https://app.example.com/?q=%C3%A9"},
		// "@" after the authority is just data
		{"https://app.example.com/?@evil.com", "https://app.example.com/?@evil.com"},
		{"https://app.example.com?@evil.com", "https://app.example.com/?@evil.com"},
		{"https://app.example.com#@evil.com", "https://app.example.com/#@evil.com"},
		{"https://app.example.com/@evil.com", "https://app.example.com/@evil.com"},
		// path escaping is kept as given (what the server will decode)
		{"https://app.example.com/caf\u00e9", "https://app.example.com/caf%C3%A9"},
		{"/%61pp", "https://app.example.com/%61pp"},
		{"https://app.example.com/a<b", "https://app.example.com/a%3Cb"},
		// an encoded colon is a path on our own host, not a scheme
		{"javascript%3aalert(1)", "https://app.example.com/javascript%3aalert(1)"},
	})
}

func TestReturnTo_EncodedSlashInRelative_Refused(t *testing.T) {
	p := mustPolicy(t, "https://app.example.com/")
	base := mustBase(t, "https://app.example.com/")
	// A single %2F is refused even where it forms no "//" (see returnto.go).
	checkRefused(t, p, base, []refuseCase{
		{"https%3A%2Fevil.com", whyEncodedSlash},
		{"https%3A%2F%2Fevil.com", whyEncodedSlash},
	})
}

func TestReturnTo_WildcardAndPath(t *testing.T) {
	p := mustPolicy(t,
		"https://*.example.com",
		"https://app.example.org/app",
		"http://localhost:8080/cb/",
		"http://[::1]:9000/",
	)
	base := mustBase(t, "https://www.example.com/")
	checkAllowed(t, p, base, []allowCase{
		{"https://a.example.com/", "https://a.example.com/"},
		{"https://a.b.example.com/x", "https://a.b.example.com/x"},
		{"https://A.Example.COM", "https://a.example.com/"},
		{"https://xn--bcher-kva.example.com/", "https://xn--bcher-kva.example.com/"},
		{"https://a.example.com:443/", "https://a.example.com/"},
		{"/x", "https://www.example.com/x"},
		{"https://app.example.org/app", "https://app.example.org/app"},
		{"https://app.example.org/app/", "https://app.example.org/app/"},
		{"https://app.example.org/app/x?y=1#z", "https://app.example.org/app/x?y=1#z"},
		{"https://app.example.org/app/x/../y", "https://app.example.org/app/y"},
		{"https://app.example.org/app/x/..", "https://app.example.org/app/"},
		{"https://app.example.org/%61pp/x", "https://app.example.org/%61pp/x"},
		{"http://localhost:8080/cb", "http://localhost:8080/cb"},
		{"http://LOCALHOST:8080/cb/x?y=1", "http://localhost:8080/cb/x?y=1"},
		{"http://[::1]:9000/x", "http://[::1]:9000/x"},
	})
	checkRefused(t, p, base, []refuseCase{
		{"https://example.com/", whyHostNotAllowed},
		{"https://evilexample.com/", whyHostNotAllowed},
		{"https://a.evilexample.com/", whyHostNotAllowed},
		{"https://.example.com/", whyHostNotAllowed},
		{"https://a..example.com/", whyHostNotAllowed},
		{"https://a_b.example.com/", whyHostNotAllowed},
		{"https://a.example.com./", whyHostNotAllowed},
		{"https://a.example.com.evil.com/", whyHostNotAllowed},
		{"https://" + strings.Repeat("a", 64) + ".example.com/", whyHostNotAllowed},
		{"http://a.example.com/", whyHostNotAllowed},
		{"https://a.example.com:8443/", whyHostNotAllowed},
		{"https://\u0430.example.com/", whyNonASCIIHost},
		{"https://app.example.org/", whyPathNotAllowed},
		{"https://app.example.org/application", whyPathNotAllowed},
		{"https://app.example.org/APP", whyPathNotAllowed},
		{"https://app.example.org/app/../admin", whyPathNotAllowed},
		{"https://app.example.org/app/%2e%2e/admin", whyPathNotAllowed},
		{"https://app.example.org/app/x/../../admin", whyPathNotAllowed},
		{"https://app.example.org/%2561pp/x", whyPathNotAllowed},
		{"https://app.example.org/app;x/y", whyPathNotAllowed},
		{"https://app.example.org/app/..;/admin", whyDotSegment},
		{"https://app.example.org/app%2fx", whyEncodedSlash},
		{"http://localhost/cb", whyHostNotAllowed},
		{"http://localhost:8080/cbx", whyPathNotAllowed},
		{"https://localhost:8080/cb", whyHostNotAllowed},
		{"http://[::1]/", whyHostNotAllowed},
		{"http://[0:0::1]:9000/", whyHostNotAllowed},
	})
}

func TestReturnTo_BaseIsAnAllowedEntry(t *testing.T) {
	empty := mustPolicy(t)
	base := mustBase(t, "https://app.example.com/welcome/")
	checkAllowed(t, empty, base, []allowCase{
		{"/welcome/x", "https://app.example.com/welcome/x"},
		{"x", "https://app.example.com/welcome/x"},
		{"https://app.example.com/welcome", "https://app.example.com/welcome"},
		{"?x=1", "https://app.example.com/welcome/?x=1"},
	})
	checkRefused(t, empty, base, []refuseCase{
		{"/other", whyPathNotAllowed},
		{"/welcomex", whyPathNotAllowed},
		{"https://evil.com/welcome/", whyHostNotAllowed},
		{"http://app.example.com/welcome/", whyHostNotAllowed},
	})

	// The base's own query is kept for a fragment-only value, replaced by a
	// query-only one (RFC 3986 5.2.2).
	withQuery := mustBase(t, "https://app.example.com/?logged_out=1")
	checkAllowed(t, empty, withQuery, []allowCase{
		{"#top", "https://app.example.com/?logged_out=1#top"},
		{"?x=1", "https://app.example.com/?x=1"},
		{"/", "https://app.example.com/"},
	})

	// A base built from a request (not via ParseDefaultReturnURL) is
	// normalised the same way.
	raw := &url.URL{Scheme: "HTTPS", Host: "App.Example.com:443", Path: "/"}
	checkAllowed(t, empty, raw, []allowCase{{"/x", "https://app.example.com/x"}})

	// Without a usable base relative values have nothing to resolve against;
	// absolute ones are still judged by the list.
	p := mustPolicy(t, "https://app.example.com/")
	checkRefused(t, p, nil, []refuseCase{{"/x", whyNoBase}, {"?x=1", whyNoBase}})
	checkRefused(t, p, &url.URL{Scheme: "ftp", Host: "app.example.com"}, []refuseCase{{"/x", whyNoBase}})
	checkAllowed(t, p, nil, []allowCase{{"https://app.example.com/x", "https://app.example.com/x"}})

	// A nil policy still honours the base.
	var none *ReturnPolicy
	checkAllowed(t, none, base, []allowCase{{"/welcome/", "https://app.example.com/welcome/"}})
}

func TestReturnTo_NonASCIIHost_OnlyItsOwnSpelling(t *testing.T) {
	p := mustPolicy(t, "https://b\u00fccher.example/")
	base := mustBase(t, "https://b\u00fccher.example/")
	checkAllowed(t, p, base, []allowCase{
		{"https://b\u00fccher.example/x", "https://b%C3%BCcher.example/x"},
		{"https://b%C3%BCcher.example/x", "https://b%C3%BCcher.example/x"},
		{"https://B\u00dcCHER.example/", "https://b%C3%BCcher.example/"},
		{"/x", "https://b%C3%BCcher.example/x"},
	})
	checkRefused(t, p, base, []refuseCase{
		{"https://xn--bcher-kva.example/", whyHostNotAllowed},
		{"https://bu\u0308cher.example/", whyNonASCIIHost}, // decomposed ü
		{"https://b\u00fccher.example.evil/", whyNonASCIIHost},
		{"http://b\u00fccher.example/", whyHostNotAllowed},
		{"https://b%FFcher.example/", whyInvalidHost},
	})
}

func TestReturnTo_ResultHasNoRawInput(t *testing.T) {
	// The Location is rebuilt: nothing a browser would strip or fold
	// survives, even in parts we keep as given.
	p := mustPolicy(t, "https://app.example.com/")
	base := mustBase(t, "https://app.example.com/")
	got, err := p.Check("https://App.Example.com:443/a/./b/../c?x=<y>#\"z\"", base)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://app.example.com/a/c?x=%3Cy%3E#%22z%22"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestNewReturnPolicy_Errors(t *testing.T) {
	cases := []struct{ entry, want string }{
		{"ftp://x", `allowed_return_urls: "ftp://x" must be an absolute http or https URL`},
		{"", `allowed_return_urls: "" must be an absolute http or https URL`},
		{"/relative", `allowed_return_urls: "/relative" must be an absolute http or https URL`},
		{"example.com", `allowed_return_urls: "example.com" must be an absolute http or https URL`},
		{"https:example.com", `allowed_return_urls: "https:example.com" must be an absolute http or https URL`},
		{"https://", `allowed_return_urls: "https://" must be an absolute http or https URL`},
		{"https:///x", `allowed_return_urls: "https:///x" must be an absolute http or https URL`},
		{"javascript:alert(1)", `allowed_return_urls: "javascript:alert(1)" must be an absolute http or https URL`},
		{"https://user@example.com", `allowed_return_urls: "https://user@example.com" must not contain userinfo (user@)`},
		{"https://example.com/?x=1", `allowed_return_urls: "https://example.com/?x=1" must not have a query or fragment`},
		{"https://example.com/?", `allowed_return_urls: "https://example.com/?" must not have a query or fragment`},
		{"https://example.com/#x", `allowed_return_urls: "https://example.com/#x" must not have a query or fragment`},
		{"https://example.com/#", `allowed_return_urls: "https://example.com/#" must not have a query or fragment`},
		{"https://*example.com", `allowed_return_urls: "https://*example.com" has an invalid host (a wildcard must be the whole first label, as in https://*.example.com)`},
		{"https://a.*.example.com", `allowed_return_urls: "https://a.*.example.com" has an invalid host (a wildcard must be the whole first label, as in https://*.example.com)`},
		{"https://*.*.example.com", `allowed_return_urls: "https://*.*.example.com" may use "*" only once, as the whole first label (https://*.example.com)`},
		{"https://*.com", `allowed_return_urls: "https://*.com" must name at least two labels after "*." (https://*.example.com, not https://*.com)`},
		{"https://*.0.0.1", `allowed_return_urls: "https://*.0.0.1" cannot use a wildcard with an IP address`},
		{"https://*.b\u00fccher.example", `allowed_return_urls: "https://*.bücher.example" has an invalid host after "*." (ASCII letters, digits and hyphens only; use the xn-- form of an international name)`},
		{"https://*.a_b.example", `allowed_return_urls: "https://*.a_b.example" has an invalid host after "*." (ASCII letters, digits and hyphens only; use the xn-- form of an international name)`},
		{"https://example.com:99999", `allowed_return_urls: "https://example.com:99999" has an invalid port`},
		{"https://*.example.com:0", `allowed_return_urls: "https://*.example.com:0" has an invalid port`},
		{"https://evil.com;x", `allowed_return_urls: "https://evil.com;x" has an invalid host (a wildcard must be the whole first label, as in https://*.example.com)`},
		{"https://example.com/a/../b", `allowed_return_urls: "https://example.com/a/../b" must have a plain path: no "." or ".." segments, "//" or encoded slashes`},
		{"https://example.com/a/%2e", `allowed_return_urls: "https://example.com/a/%2e" must have a plain path: no "." or ".." segments, "//" or encoded slashes`},
		{"https://example.com/a//b", `allowed_return_urls: "https://example.com/a//b" must have a plain path: no "." or ".." segments, "//" or encoded slashes`},
		{"https://example.com/a%2fb", `allowed_return_urls: "https://example.com/a%2fb" must have a plain path: no "." or ".." segments, "//" or encoded slashes`},
		{" https://example.com", `allowed_return_urls: " https://example.com" must not contain whitespace, control characters or backslashes`},
		{"https://example.com/\t", `allowed_return_urls: "https://example.com/\t" must not contain whitespace, control characters or backslashes`},
		{`https://example.com\`, `allowed_return_urls: "https://example.com\\" must not contain whitespace, control characters or backslashes`},
		{"https://example.com/%0a", `allowed_return_urls: "https://example.com/%0a" must not contain percent-encoded whitespace, control characters or backslashes`},
		{"https://example.com/a%20b", `allowed_return_urls: "https://example.com/a%20b" must not contain percent-encoded whitespace, control characters or backslashes`},
		{"https://example.com/" + strings.Repeat("a", MaxReturnToLength), `allowed_return_urls: "https://example.com/` + strings.Repeat("a", MaxReturnToLength) + `" is longer than 2048 bytes`},
		{"https://[::1", `allowed_return_urls: "https://[::1" is not a valid URL`},
	}
	for _, c := range cases {
		p, err := NewReturnPolicy([]string{"https://ok.example.com", c.entry})
		if err == nil {
			t.Errorf("%q: accepted (%+v)", c.entry, p.entries)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.entry, err, c.want)
		}
	}
}

func TestNewReturnPolicy_Valid(t *testing.T) {
	cases := []struct {
		entry string
		want  returnEntry
	}{
		{"https://*.example.com", returnEntry{scheme: "https", host: ".example.com", wildcard: true}},
		{"https://*.Example.COM:8443/", returnEntry{scheme: "https", host: ".example.com", wildcard: true, port: "8443"}},
		{"http://localhost:8080/cb/", returnEntry{scheme: "http", host: "localhost", port: "8080", path: []string{"cb"}}},
		{"HTTPS://EXAMPLE.COM:443/App/x", returnEntry{scheme: "https", host: "example.com", path: []string{"App", "x"}}},
		{"https://[::1]/", returnEntry{scheme: "https", host: "[::1]"}},
		{"http://127.0.0.1:80", returnEntry{scheme: "http", host: "127.0.0.1"}},
		{"https://example.com/%61pp", returnEntry{scheme: "https", host: "example.com", path: []string{"app"}}},
	}
	for _, c := range cases {
		p, err := NewReturnPolicy([]string{c.entry})
		if err != nil {
			t.Errorf("%q: %v", c.entry, err)
			continue
		}
		got := p.entries[0]
		if got.scheme != c.want.scheme || got.host != c.want.host || got.wildcard != c.want.wildcard ||
			got.port != c.want.port || strings.Join(got.path, "/") != strings.Join(c.want.path, "/") {
			t.Errorf("%q: got %+v, want %+v", c.entry, got, c.want)
		}
	}
	if p, err := NewReturnPolicy(nil); err != nil || len(p.entries) != 0 {
		t.Errorf("nil list: %v, %v", p, err)
	}
}

func TestParseDefaultReturnURL(t *testing.T) {
	good := []struct{ raw, want string }{
		{"https://app.example.com/", "https://app.example.com/"},
		{"https://app.example.com", "https://app.example.com/"},
		{"HTTPS://App.Example.com:443", "https://app.example.com/"},
		{"http://localhost:8080/welcome?x=1#y", "http://localhost:8080/welcome?x=1#y"},
		{"http://[::1]:80/", "http://[::1]/"},
	}
	for _, c := range good {
		u, err := ParseDefaultReturnURL(c.raw)
		if err != nil {
			t.Errorf("%q: %v", c.raw, err)
			continue
		}
		if u.String() != c.want {
			t.Errorf("%q: got %q, want %q", c.raw, u, c.want)
		}
	}
	bad := []struct{ raw, want string }{
		{"", `default_return_url: "" must be an absolute http or https URL`},
		{"/welcome", `default_return_url: "/welcome" must be an absolute http or https URL`},
		{"ftp://x", `default_return_url: "ftp://x" must be an absolute http or https URL`},
		{"javascript:alert(1)", `default_return_url: "javascript:alert(1)" must be an absolute http or https URL`},
		{"https:///x", `default_return_url: "https:///x" must be an absolute http or https URL`},
		{"https:app.example.com", `default_return_url: "https:app.example.com" must be an absolute http or https URL`},
		{"https://a@b.com/", `default_return_url: "https://a@b.com/" must not contain userinfo (user@)`},
		{"https://b.com/\t", `default_return_url: "https://b.com/\t" must not contain whitespace, control characters or backslashes`},
		{"https://b.com/\x00", `default_return_url: "https://b.com/\x00" must not contain whitespace, control characters or backslashes`},
		{`https://b.com\x`, `default_return_url: "https://b.com\\x" must not contain whitespace, control characters or backslashes`},
		{"https://b.com/%0d%0a", `default_return_url: "https://b.com/%0d%0a" must not contain percent-encoded whitespace, control characters or backslashes`},
		{"https://*.example.com/", `default_return_url: "https://*.example.com/" must name one host, not a wildcard`},
		{"https://b.com:99999/", `default_return_url: "https://b.com:99999/" has an invalid port`},
		{"https://b;c.com/", `default_return_url: "https://b;c.com/" has an invalid host`},
		{"https://b.com/a/../c", `default_return_url: "https://b.com/a/../c" must have a plain path: no "." or ".." segments, "//" or encoded slashes`},
		{"https://b.com//c", `default_return_url: "https://b.com//c" must have a plain path: no "." or ".." segments, "//" or encoded slashes`},
	}
	for _, c := range bad {
		u, err := ParseDefaultReturnURL(c.raw)
		if err == nil {
			t.Errorf("%q: accepted as %v", c.raw, u)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.raw, err, c.want)
		}
	}
}

func BenchmarkReturnPolicy_Check(b *testing.B) {
	p := mustPolicy(b, "https://app.example.com/", "https://*.example.org", "http://localhost:8080/cb")
	base := mustBase(b, "https://app.example.com/")
	for _, bc := range []struct{ name, raw string }{
		{"allowed", "https://app.example.com/dashboard/settings?tab=profile#top"},
		{"allowed_relative", "/dashboard/settings?tab=profile"},
		{"allowed_wildcard", "https://shop.example.org/cart"},
		{"hostile_host", "https://app.example.com.evil.com/dashboard"},
		{"hostile_encoded", "/%252f%252fevil.com/x?y=1"},
		{"hostile_userinfo", "https://app.example.com%2f@evil.com"},
		// Worst cases near the length limit: the cost stays linear.
		{"long_segments", "https://app.example.com" + strings.Repeat("/a", 1000)},
		{"long_dots", "https://app.example.com" + strings.Repeat("/.", 1000)},
		{"long_encoded", "https://app.example.com/?q=" + strings.Repeat("%2525", 400)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = p.Check(bc.raw, base)
			}
		})
	}
}
