package flow

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-logout/caddy-logout/internal/percent"
)

// How the guard reads cookie names: as the most lenient framework reads
// them. Some compare names case-insensitively (ASP.NET), PHP turns '.',
// ' ' and '[' in names into '_' and reads "s_id[]" as the array s_id, and
// a name may come percent-encoded. Matching more spellings than one app
// would only means checking (or dropping) more cookies.

// sameCookieName reports whether an app could read cookie as the
// configured name.
func sameCookieName(cookie, name string) bool {
	// Decoding only shortens a name, so a name no longer than the
	// configured one is compared as it is.
	if len(cookie) <= len(name) {
		return foldedEqual(cookie, name)
	}
	if strings.IndexByte(cookie, '%') < 0 {
		return false
	}
	var stack [64]byte
	return foldedEqual(string(unescapeName(stack[:0], cookie)), name)
}

func foldedEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldNameByte(a[i]) != foldNameByte(b[i]) {
			return false
		}
	}
	return true
}

func foldNameByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '.' || c == ' ' || c == '[':
		return '_'
	}
	return c
}

// chunkIndex reports whether cookie is a chunk of base: `base.N` or
// `base_N` (the two conventions in use for cookies split over 4 KiB).
func chunkIndex(cookie, base string) (int, bool) {
	if len(cookie) < len(base)+2 {
		return 0, false
	}
	if strings.IndexByte(cookie, '%') >= 0 {
		var stack [64]byte
		cookie = string(unescapeName(stack[:0], cookie))
	}
	if len(cookie) < len(base)+2 || !foldedEqual(cookie[:len(base)], base) {
		return 0, false
	}
	sep := cookie[len(base)]
	if sep != '.' && sep != '_' {
		return 0, false
	}
	n, err := strconv.Atoi(cookie[len(base)+1:])
	if err != nil || n < 0 || n > 99 {
		return 0, false
	}
	return n, true
}

// maxNameRounds bounds the decoding of names: no app decodes a name even
// once, so two rounds are already generous.
const maxNameRounds = 2

// unescapeName appends s to buf with its valid %XX escapes decoded, for
// up to maxNameRounds rounds.
func unescapeName(buf []byte, s string) []byte {
	b := append(buf, s...)
	for range maxNameRounds {
		n := percent.DecodeInPlace(b)
		if n == len(b) {
			break
		}
		b = b[:n]
	}
	return b
}

// mentions reports whether some framework could read a cookie of the
// configured name out of an unclean piece, by a deliberately broad test
// that assumes nothing about how the framework splits pairs: the name
// appears in the piece (folded as above, also after percent-decoding, and
// with the Unicode letters that case-fold to ASCII ones, such as 'ſ' for
// 's', read as those), not glued to a letter or digit on either side, and
// an '=' follows somewhere after it.
func mentions(text, name string) bool {
	// Folded into stack buffers: sites send cookies outside the grammar
	// on every request (WordPress's test cookie), so this must not
	// allocate for them.
	var textBuf [256]byte
	var nameBuf [64]byte
	want := foldText(nameBuf[:0], name)
	if mentionIn(foldText(textBuf[:0], text), want) {
		return true
	}
	if strings.IndexByte(text, '%') < 0 {
		return false
	}
	return mentionIn(foldText(nil, string(unescapeName(nil, text))), want)
}

func mentionIn(folded, name []byte) bool {
	for off := 0; off < len(folded); {
		i := bytes.Index(folded[off:], name)
		if i < 0 {
			return false
		}
		at, end := off+i, off+i+len(name)
		if (at == 0 || !isAlnum(folded[at-1])) && (end == len(folded) || !isAlnum(folded[end])) && bytes.IndexByte(folded[end:], '=') >= 0 {
			return true
		}
		off = at + 1
	}
	return false
}

// foldText appends s to buf with each ASCII byte folded as in names, and
// each non-ASCII letter that case-folds to an ASCII letter (under Unicode
// simple folding, as case-insensitive comparisons do) as that letter.
// Other bytes are kept.
func foldText(buf []byte, s string) []byte {
	// ASCII, the common case, byte by byte through a table.
	i := 0
	for ; i < len(s) && s[i] < utf8.RuneSelf; i++ {
		buf = append(buf, foldedName[s[i]])
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			buf = append(buf, foldedName[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if a, ok := asciiFold(r); ok {
			buf = append(buf, a)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return buf
}

// foldedName is foldNameByte as a table.
var foldedName = func() (t [256]byte) {
	for c := range t {
		t[c] = foldNameByte(byte(c))
	}
	return t
}()

// asciiFold is the ASCII letter r case-folds to, if any: 'ſ' (U+017F) is
// 's', the Kelvin sign 'K' (U+212A) is 'k'.
func asciiFold(r rune) (byte, bool) {
	if r == utf8.RuneError {
		return 0, false
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < utf8.RuneSelf {
			return foldNameByte(byte(f)), true
		}
	}
	return 0, false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// maxReadingPairs bounds how many '=' of one unclean piece are looked at
// for readings; the piece is dropped whatever the count.
const maxReadingPairs = 32

// unreadableReadings calls fn with the values that the frameworks we know
// of may read for the configured name out of an unclean piece: pairs split
// at whitespace or commas as well as not at all (Python's http.cookies,
// RFC 2109 parsers), names and values trimmed of ASCII, Latin-1 and Unicode
// spaces (WSGI servers, Django), quoted strings unescaped (Werkzeug,
// Django and http.cookies read `"\132"` as "Z"), names as PHP reads them.
// The list only decides whether on_revoked applies: the piece never
// reaches the app, whatever it holds.
func unreadableReadings(text, name string, fn func(string) bool) bool {
	var seen []string
	emit := func(v string) bool {
		if v == "" {
			return true
		}
		for _, s := range seen {
			if s == v {
				return true
			}
		}
		seen = append(seen, v)
		return fn(v)
	}
	off := 0
	for range maxReadingPairs {
		i := strings.IndexByte(text[off:], '=')
		if i < 0 {
			break
		}
		eq := off + i
		off = eq + 1
		// The name as a parser splitting at nothing but ';' reads it, and as
		// one splitting at whitespace and commas too (blanks may stand
		// between name, '=' and value); the value likewise, or the quoted
		// string it starts with.
		before, after := text[:eq], text[eq+1:]
		word := trimLatin1Right(before)
		word = word[lastReadingSeparator(word)+1:]
		rest := trimLatin1Left(after)
		for _, n := range [2]string{before, word} {
			if !readsAsName(n, name) {
				continue
			}
			for _, v := range [3]string{after, rest[:nextReadingSeparator(rest)], quotedPrefix(after)} {
				for _, t := range trimmedViews(v) {
					if !emit(t) {
						return false
					}
					if u, ok := unescapeQuoted(t); ok && !emit(u) {
						return false
					}
				}
			}
		}
	}
	return true
}

// readsAsName reports whether some framework reads n (a name as it stands
// in an unclean piece, before its '=') as the configured name.
func readsAsName(n, name string) bool {
	for _, t := range trimmedViews(n) {
		if u, ok := strings.CutPrefix(t, `"`); ok {
			t = strings.TrimSuffix(u, `"`)
		}
		if foldsTo(t, name) {
			return true
		}
		// PHP: s_id[] and s_id[k] are the array s_id.
		if b := strings.IndexByte(t, '['); b > 0 && strings.IndexByte(t[b:], ']') > 0 && foldsTo(t[:b], name) {
			return true
		}
	}
	return false
}

// foldsTo is sameCookieName for names outside the token grammar: with
// the Unicode letters that case-fold to ASCII ones read as those.
func foldsTo(n, name string) bool {
	return string(foldText(nil, string(unescapeName(nil, n)))) == string(foldText(nil, name))
}

// isReadingSeparator is what some framework splits pairs on, besides ';':
// commas (RFC 2109) and whitespace, as Python reads it from a header
// decoded as Latin-1 (which includes \x1c-\x1f, \x85 and \xa0).
func isReadingSeparator(c byte) bool {
	return c == ',' || isLatin1Space(c)
}

func isLatin1Space(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0:
		return true
	}
	return false
}

// trimLatin1Left and trimLatin1Right trim Latin-1 spaces byte by byte (a
// lone \xa0 is no valid UTF-8, so the strings.Trim functions keep it).
func trimLatin1Left(s string) string {
	for len(s) > 0 && isLatin1Space(s[0]) {
		s = s[1:]
	}
	return s
}

func trimLatin1Right(s string) string {
	for len(s) > 0 && isLatin1Space(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func lastReadingSeparator(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if isReadingSeparator(s[i]) {
			return i
		}
	}
	return -1
}

func nextReadingSeparator(s string) int {
	for i := 0; i < len(s); i++ {
		if isReadingSeparator(s[i]) {
			return i
		}
	}
	return len(s)
}

// trimmedViews are s trimmed the ways servers and frameworks trim: of
// Latin-1 spaces byte by byte (a WSGI server's str.strip on a header
// decoded as Latin-1), and of Unicode spaces (a framework that decodes the
// header as UTF-8 first).
func trimmedViews(s string) [2]string {
	return [2]string{trimLatin1Right(trimLatin1Left(s)), strings.TrimFunc(s, unicode.IsSpace)}
}

// quotedPrefix is the quoted string s starts with (after blanks), quotes
// included, with backslash escapes skipped over; "" when there is none.
func quotedPrefix(s string) string {
	s = strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(s, `"`) {
		return ""
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return s[:i+1]
		}
	}
	return ""
}

// unescapeQuoted reads a quoted value the way Python's http.cookies,
// Werkzeug and Django do: without the quotes, `\ooo` (octal, up to \377)
// as that byte, `\c` as c.
func unescapeQuoted(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	s = s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			if i+3 < len(s) && '0' <= s[i+1] && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
				c = (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
				i += 3
			} else {
				c = s[i+1]
				i++
			}
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }
