// Package percent is the module's one percent-decoder: every valid %XX
// escape (either hex case) decoded, malformed ones kept as they are, as
// PHP's rawurldecode and most servers decode. Whether '+' is a space and
// how many rounds to decode are for the caller to say: return_to
// validation, intercept's query parameters, cookie names and session
// cookie values each need their own answer.
package percent

import (
	"bytes"
	"strings"
)

// IsHex reports whether c is a hexadecimal digit, either case.
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Unhex is the value of the hexadecimal digit c.
func Unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// EscapeAt reports whether s holds a valid escape at i: '%' and two hex
// digits.
func EscapeAt(s string, i int) bool {
	return s[i] == '%' && i+2 < len(s) && IsHex(s[i+1]) && IsHex(s[i+2])
}

// Decode is s with its valid escapes decoded, and whether it had any; s
// itself, without allocating, when it has none.
func Decode(s string) (string, bool) {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s, false
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	b = Append(b, s[i:], false)
	return string(b), len(b) < len(s)
}

// Append appends s to dst with its valid escapes decoded, and with '+' as
// a space when plus is set (form decoding).
func Append(dst []byte, s string, plus bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+' && plus:
			c = ' '
		case c == '%' && EscapeAt(s, i):
			c = Unhex(s[i+1])<<4 | Unhex(s[i+2])
			i += 2
		}
		dst = append(dst, c)
	}
	return dst
}

// DecodeInPlace decodes the valid escapes of b into b and returns the
// decoded length: len(b) when there were none.
func DecodeInPlace(b []byte) int {
	n := bytes.IndexByte(b, '%')
	if n < 0 {
		return len(b)
	}
	for i := n; i < len(b); i++ {
		c := b[i]
		if c == '%' && i+2 < len(b) && IsHex(b[i+1]) && IsHex(b[i+2]) {
			c = Unhex(b[i+1])<<4 | Unhex(b[i+2])
			i += 2
		}
		b[n] = c
		n++
	}
	return n
}
