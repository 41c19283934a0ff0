package flow

// return_to validation: the only thing standing between a logout link and an
// open redirect. Values are judged on what a browser would do with the
// Location we send, and the Location is rebuilt from the parts that were
// checked, never copied from the request.
//
// Decisions worth knowing (see also the tests):
//   - Anything a browser strips, folds or reads as a separator (whitespace,
//     control and invisible format characters, backslash) is refused, raw or
//     percent-encoded, anywhere in the value: query and fragment included.
//   - Percent-encoding is decoded up to maxDecodeRounds times to see through
//     double encoding; a value that still changes after that is refused.
//   - Any encoded slash (%2F) in the path is refused, even a single one that
//     forms no "//": a server or proxy that decodes it would route a path
//     other than the one the prefix check judged, and return URLs do not need it.
//   - Dot segments ("." "..", also as %2E) are removed before the path check;
//     dot segments that only appear after a second decoding (%252E) or behind
//     a ";param" ("..;") are refused, since some servers honour them.
//   - Hosts compare as strings after lowercasing and dropping default ports:
//     no DNS, no IP parsing, no IDNA. A trailing dot, a differently spelled IP
//     or a punycode spelling is a different host. Non-ASCII hosts pass only if
//     an entry spells them identically.
//   - Path prefixes compare once-decoded segments, case-sensitively (what the
//     target server sees).

import (
	"net/url"
	"strings"
)

// MaxReturnToLength bounds a return_to value and the URL it turns into.
const MaxReturnToLength = 2048

// maxDecodeRounds is how many percent-decoding passes a value may take
// before it is called over-encoded: enough for honest double encoding
// (a URL nested in a query), not for layered evasion.
const maxDecodeRounds = 4

// The classes ReturnToError.Why reports.
const (
	whyEmpty            = "empty"
	whyTooLong          = "too long"
	whyControl          = "control character"
	whyWhitespace       = "whitespace"
	whyBackslash        = "backslash"
	whyOverEncoded      = "over-encoded"
	whyUnparsable       = "unparsable"
	whyScheme           = "scheme"
	whyOpaque           = "opaque"
	whyUserinfo         = "userinfo"
	whyEmptyHost        = "empty host"
	whyProtocolRelative = "protocol-relative"
	whyNoBase           = "no base"
	whyInvalidHost      = "invalid host"
	whyInvalidPort      = "invalid port"
	whyNonASCIIHost     = "non-ascii host"
	whyEncodedSlash     = "encoded slash"
	whyDoubleSlash      = "double slash"
	whyDotSegment       = "dot segment"
	whyHostNotAllowed   = "host not allowed"
	whyPathNotAllowed   = "path not allowed"
)

// ReturnToError is what Check returns on refusal.
type ReturnToError struct {
	Raw string // the value as the client sent it
	Why string // short class for logs and tests, e.g. "userinfo", "host not allowed"
}

// Error is Kratos's reason text, word for word.
func (e *ReturnToError) Error() string {
	return `Requested return_to URL "` + e.Raw + `" is not allowed.`
}

// ReturnPolicy decides where a logout may redirect. Built once at config
// load; safe for concurrent use.
type ReturnPolicy struct {
	entries []returnEntry
}

// returnEntry is one compiled allowed_return_urls entry.
type returnEntry struct {
	scheme   string   // "http" or "https"
	host     string   // lowercase; "[...]" for IPv6; for a wildcard the suffix with its dot (".example.com")
	wildcard bool     // host was "*.<suffix>"
	port     string   // "" for the scheme's default port
	path     []string // once-decoded segments of the path prefix; none allows every path
}

// Check validates a client's return_to. base is the default return URL: a
// relative value resolves against it, and base itself (scheme, host, and
// path as a prefix) counts as one more allowed entry. On success it returns
// the URL for the Location header, rebuilt from the normalised parts.
func (p *ReturnPolicy) Check(raw string, base *url.URL) (string, error) {
	out, why := p.check(raw, base)
	if why != "" {
		return "", &ReturnToError{Raw: raw, Why: why}
	}
	return out, nil
}

func (p *ReturnPolicy) check(raw string, base *url.URL) (string, string) {
	switch {
	case raw == "":
		return "", whyEmpty
	case len(raw) > MaxReturnToLength:
		return "", whyTooLong
	}
	if why := scanChars(raw); why != "" {
		return "", why
	}
	decoded, ok := decodeFully(raw)
	if !ok {
		return "", whyOverEncoded
	}
	if why := scanChars(decoded); why != "" {
		return "", why
	}
	// Browsers read any run of two or more slashes at the start as an
	// authority, so "//", "///" and more are all protocol-relative.
	if strings.HasPrefix(raw, "//") {
		return "", whyProtocolRelative
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", whyUnparsable
	}

	var (
		scheme, path, query string
		hostURL             *url.URL // whose Host we judge
		baseEntry           *returnEntry
	)
	if base != nil {
		baseEntry = entryFromBase(base)
	}
	frag := u.EscapedFragment()
	if u.Scheme != "" {
		scheme = strings.ToLower(u.Scheme)
		switch {
		case scheme != "http" && scheme != "https":
			return "", whyScheme
		case u.Opaque != "":
			return "", whyOpaque // "https:evil.com": browsers make it https://evil.com
		case u.User != nil:
			return "", whyUserinfo
		case u.Host == "":
			return "", whyEmptyHost // "https:/evil.com", "https:///evil.com"
		}
		hostURL, path, query = u, u.EscapedPath(), u.RawQuery
	} else {
		if u.Host != "" || u.User != nil {
			return "", whyProtocolRelative
		}
		if baseEntry == nil {
			return "", whyNoBase
		}
		// RFC 3986 5.2.2, with dot segments removed later by normPath.
		scheme, hostURL, query = baseEntry.scheme, base, u.RawQuery
		switch ref := u.EscapedPath(); {
		case ref == "":
			path = base.EscapedPath()
			if u.RawQuery == "" && !u.ForceQuery {
				query = base.RawQuery
			}
		case ref[0] == '/':
			path = ref
		default:
			bp := base.EscapedPath()
			path = bp[:strings.LastIndexByte(bp, '/')+1] + ref
			if path[0] != '/' {
				path = "/" + path
			}
		}
	}

	host, port, nonASCII, why := normHost(scheme, hostURL)
	if why != "" {
		return "", why
	}
	segs, dsegs, why := normPath(path)
	if why != "" {
		return "", why
	}
	if why := p.match(scheme, host, port, nonASCII, dsegs, baseEntry); why != "" {
		return "", why
	}
	out := buildURL(scheme, host, port, segs, query, frag)
	if len(out) > MaxReturnToLength {
		return "", whyTooLong
	}
	return out, ""
}
