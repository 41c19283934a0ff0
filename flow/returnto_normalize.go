package flow

// URL normalisation: hosts, ports and paths as a browser and the target
// server will read them, and the Location rebuilt from those parts.

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/caddy-logout/caddy-logout/internal/percent"
)

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
			if c := name[i]; !percent.IsHex(c) && c != ':' && c != '.' {
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
			if isDotName(once) || isDotName(decodeFullyOrEmpty(seg)) {
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

// decodeFullyOrEmpty is decodeFully for a value already known not to be
// over-encoded; one that is gives "".
func decodeFullyOrEmpty(s string) string {
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
		case percent.EscapeAt(s, i):
			b.WriteByte(c)
		case isLabelChar(c) || strings.IndexByte("._~!$&'()*+,;=:@/?", c) >= 0:
			b.WriteByte(c)
		default:
			writePercent(b, c)
		}
	}
}
