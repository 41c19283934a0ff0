package flow

// Character classes and percent-escaping primitives.

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-logout/caddy-logout/internal/percent"
)

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
		d, changed := percent.Decode(s)
		if !changed {
			return s, true
		}
		if round == maxDecodeRounds {
			return "", false
		}
		s = d
	}
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
