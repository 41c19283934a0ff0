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
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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

// NewReturnPolicy compiles allowed_return_urls entries. Each entry must be an
// absolute http(s) URL without userinfo, query or fragment; its host may start
// with a "*." label wildcard and may carry a port.
func NewReturnPolicy(allowed []string) (*ReturnPolicy, error) {
	p := &ReturnPolicy{entries: make([]returnEntry, 0, len(allowed))}
	for _, raw := range allowed {
		e, err := compileEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("allowed_return_urls: %q %w", raw, err)
		}
		p.entries = append(p.entries, e)
	}
	return p, nil
}

var (
	errNotAbsoluteHTTP = errors.New("must be an absolute http or https URL")
	errPlainPath       = errors.New(`must have a plain path: no "." or ".." segments, "//" or encoded slashes`)
	errInvalidPort     = errors.New("has an invalid port")
)

func compileEntry(raw string) (returnEntry, error) {
	u, err := parseConfigURL(raw)
	if err != nil {
		return returnEntry{}, err
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return returnEntry{}, errors.New("must not have a query or fragment")
	}
	e := returnEntry{scheme: u.Scheme}
	name := u.Hostname()
	if rest, ok := strings.CutPrefix(name, "*."); ok && !strings.HasPrefix(u.Host, "[") {
		if err := checkWildcardSuffix(rest); err != nil {
			return returnEntry{}, err
		}
		port, ok := normPort(u.Scheme, u.Port())
		if !ok {
			return returnEntry{}, errInvalidPort
		}
		e.wildcard, e.host, e.port = true, "."+strings.ToLower(rest), port
	} else {
		host, port, _, why := normHost(u.Scheme, u)
		switch {
		case why == whyInvalidPort:
			return returnEntry{}, errInvalidPort
		case why != "" || strings.Contains(name, "*"):
			return returnEntry{}, errors.New(`has an invalid host (a wildcard must be the whole first label, as in https://*.example.com)`)
		}
		e.host, e.port = host, port
	}
	_, segs, why := normPath(u.EscapedPath())
	if why != "" || hasDotSegment(u.EscapedPath()) {
		return returnEntry{}, errPlainPath
	}
	if n := len(segs); n > 0 && segs[n-1] == "" {
		segs = segs[:n-1] // "/app/" is the same prefix as "/app"
	}
	e.path = segs
	return e, nil
}

// checkWildcardSuffix accepts what may follow "*.": an ASCII domain of at
// least two labels whose last label is not numeric, so that no browser
// reads a matching host as an IPv4 address.
func checkWildcardSuffix(s string) error {
	s = strings.ToLower(s)
	if strings.Contains(s, "*") {
		return errors.New(`may use "*" only once, as the whole first label (https://*.example.com)`)
	}
	if !validLabels(s) {
		return errors.New("has an invalid host after \"*.\" (ASCII letters, digits and hyphens only; use the xn-- form of an international name)")
	}
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 {
		return errors.New(`must name at least two labels after "*." (https://*.example.com, not https://*.com)`)
	}
	last := s[dot+1:]
	if strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return errors.New(`cannot use a wildcard with an IP address`)
	}
	return nil
}

// ParseDefaultReturnURL validates default_return_url at config load: an
// absolute http(s) URL without userinfo, whitespace, control characters or
// backslashes. It returns the URL with its scheme and host normalised.
func ParseDefaultReturnURL(raw string) (*url.URL, error) {
	u, err := parseDefault(raw)
	if err != nil {
		return nil, fmt.Errorf("default_return_url: %q %w", raw, err)
	}
	return u, nil
}

func parseDefault(raw string) (*url.URL, error) {
	u, err := parseConfigURL(raw)
	if err != nil {
		return nil, err
	}
	if strings.Contains(u.Hostname(), "*") {
		return nil, errors.New("must name one host, not a wildcard")
	}
	host, port, _, why := normHost(u.Scheme, u)
	switch {
	case why == whyInvalidPort:
		return nil, errInvalidPort
	case why != "":
		return nil, errors.New("has an invalid host")
	}
	if _, _, why := normPath(u.EscapedPath()); why != "" || hasDotSegment(u.EscapedPath()) {
		return nil, errPlainPath
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
	return u, nil
}

// parseConfigURL holds what entries and the default return URL share.
func parseConfigURL(raw string) (*url.URL, error) {
	switch {
	case raw == "":
		return nil, errNotAbsoluteHTTP
	case len(raw) > MaxReturnToLength:
		return nil, fmt.Errorf("is longer than %d bytes", MaxReturnToLength)
	case scanChars(raw) != "":
		return nil, errors.New("must not contain whitespace, control characters or backslashes")
	}
	if d, ok := decodeFully(raw); !ok || scanChars(d) != "" {
		return nil, errors.New("must not contain percent-encoded whitespace, control characters or backslashes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a valid URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" {
		return nil, errNotAbsoluteHTTP
	}
	if u.User != nil {
		return nil, errors.New("must not contain userinfo (user@)")
	}
	return u, nil
}

// hasDotSegment reports a "." or ".." segment (also percent-encoded) in an
// escaped path.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if d, _ := decodeFully(seg); d == "." || d == ".." {
			return true
		}
	}
	return false
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

// normHost lowercases the host, checks its characters and drops a default
// port. Non-ASCII names are kept as spelled (lowercased) and flagged.
func normHost(scheme string, u *url.URL) (host, port string, nonASCII bool, why string) {
	name := u.Hostname()
	if name == "" {
		return "", "", false, whyEmptyHost
	}
	port, ok := normPort(scheme, u.Port())
	if !ok {
		return "", "", false, whyInvalidPort
	}
	if strings.HasPrefix(u.Host, "[") {
		name = strings.ToLower(name)
		for i := 0; i < len(name); i++ {
			if c := name[i]; !isHex(c) && c != ':' && c != '.' {
				return "", "", false, whyInvalidHost // zones, junk
			}
		}
		return "[" + name + "]", port, false, ""
	}
	if !utf8.ValidString(name) || len(name) > 253 {
		return "", "", false, whyInvalidHost
	}
	nonASCII = !isASCII(name)
	name = strings.ToLower(name)
	if nonASCII && isASCII(name) {
		return "", "", false, whyNonASCIIHost // KELVIN SIGN lowercases to "k": a look-alike, not a spelling
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < utf8.RuneSelf && !isLabelChar(c) && c != '.' && c != '_' {
			return "", "", false, whyInvalidHost
		}
	}
	return name, port, nonASCII, ""
}

// normPort drops leading zeros and the scheme's default port.
func normPort(scheme, p string) (string, bool) {
	if p == "" {
		return "", true // "host:" is the same as "host" to browsers
	}
	p = strings.TrimLeft(p, "0")
	if p == "" || len(p) > 5 {
		return "", false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n > 65535 {
		return "", false
	}
	if scheme == "http" && n == 80 || scheme == "https" && n == 443 {
		return "", true
	}
	return p, true
}

// normPath removes dot segments from an escaped absolute path and returns
// its segments, escaped (for output) and once-decoded (for matching).
func normPath(escaped string) (segs, dsegs []string, why string) {
	if escaped == "" {
		escaped = "/"
	}
	full, ok := decodeFully(escaped)
	switch {
	case !ok:
		return nil, nil, whyOverEncoded
	case strings.Contains(escaped, "//"):
		return nil, nil, whyDoubleSlash
	case strings.Contains(full, "//"), strings.Count(full, "/") != strings.Count(escaped, "/"):
		return nil, nil, whyEncodedSlash
	}
	parts := strings.Split(escaped[1:], "/")
	segs = make([]string, 0, len(parts))
	dsegs = make([]string, 0, len(parts))
	for i, seg := range parts {
		once, err := url.PathUnescape(seg)
		if err != nil {
			return nil, nil, whyUnparsable
		}
		switch once {
		case ".":
		case "..":
			if n := len(segs); n > 0 {
				segs, dsegs = segs[:n-1], dsegs[:n-1]
			}
		default:
			if isDotName(once) || isDotName(mustDecodeFully(seg)) {
				return nil, nil, whyDotSegment // "..;", "%252e%252e"
			}
			segs, dsegs = append(segs, seg), append(dsegs, once)
			continue
		}
		if i == len(parts)-1 {
			segs, dsegs = append(segs, ""), append(dsegs, "") // "/a/.." is "/a/"... "/"
		}
	}
	if len(segs) == 0 {
		segs, dsegs = append(segs, ""), append(dsegs, "")
	}
	return segs, dsegs, ""
}

// isDotName reports a segment that some server could take for "." or "..":
// itself, or before a ";param" (Tomcat, Jetty).
func isDotName(s string) bool {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return s == "." || s == ".."
}

func mustDecodeFully(s string) string {
	d, _ := decodeFully(s)
	return d
}

// buildURL writes the Location: only checked parts, escaped so that a
// browser reads back exactly those parts.
func buildURL(scheme, host, port string, segs []string, query, frag string) string {
	var b strings.Builder
	b.Grow(len(scheme) + len(host) + len(port) + len(query) + len(frag) + 16 + 8*len(segs))
	b.WriteString(scheme)
	b.WriteString("://")
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= utf8.RuneSelf {
			writePercent(&b, c)
		} else {
			b.WriteByte(c)
		}
	}
	if port != "" {
		b.WriteByte(':')
		b.WriteString(port)
	}
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if query != "" {
		b.WriteByte('?')
		writeEscaped(&b, query)
	}
	if frag != "" {
		b.WriteByte('#')
		writeEscaped(&b, frag)
	}
	return b.String()
}

// writeEscaped copies a query or fragment, keeping valid escapes and the
// characters RFC 3986 allows there, and escaping everything else (a lone
// "%" included). Applying it twice changes nothing.
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(c)
		case isLabelChar(c) || strings.IndexByte("._~!$&'()*+,;=:@/?", c) >= 0:
			b.WriteByte(c)
		default:
			writePercent(b, c)
		}
	}
}

func writePercent(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}

// scanChars returns the class of the first character that a browser would
// strip, fold into a separator or hide: ASCII and Unicode whitespace,
// control and format characters, and backslash. Bytes that are not UTF-8
// pass: they can only end up percent-encoded.
func scanChars(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				return whyBackslash
			case c == ' ':
				return whyWhitespace
			case c < ' ' || c == 0x7f:
				return whyControl
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
		case unicode.IsSpace(r):
			return whyWhitespace
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return whyControl
		}
	}
	return ""
}

// decodeFully percent-decodes until nothing changes; false when it still
// changes after maxDecodeRounds passes. Malformed escapes stay as they are.
func decodeFully(s string) (string, bool) {
	for round := 0; ; round++ {
		d, changed := percentDecode(s)
		if !changed {
			return s, true
		}
		if round == maxDecodeRounds {
			return "", false
		}
		s = d
	}
}

func percentDecode(s string) (string, bool) {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s, false
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	changed := false
	for ; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			changed = true
			continue
		}
		b = append(b, s[i])
	}
	return string(b), changed
}

// validLabels: dot-separated, non-empty labels of at most 63 ASCII letters,
// digits and hyphens.
func validLabels(s string) bool {
	if s == "" {
		return false
	}
	n := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if n == 0 || n > 63 {
				return false
			}
			n = 0
			continue
		}
		if !isLabelChar(s[i]) {
			return false
		}
		n++
	}
	return true
}

func isLabelChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
