package flow

import (
	"strings"
)

// What the app sees of the Cookie header.
//
// Frameworks agree on how to read a Cookie header only where it keeps to
// RFC 6265: pairs separated by "; ", each a token name, '=', and a value of
// cookie-octets (optionally in double quotes). Outside that grammar each
// reads its own way: Python's http.cookies splits pairs on whitespace and
// unescapes backslashes inside quotes, WSGI servers trim Latin-1 spaces,
// PHP reads "s[id" as "s_id", Express turns `j:"..."` into JSON, and the
// next framework will have a quirk of its own. So the guard does not try
// to read such pieces the way every framework might. It forwards what it
// has understood and nothing else:
//
//   - a clean piece (the grammar above) is read as every framework reads
//     it; a session cookie's value is checked under every decoding apps
//     apply to it (session.CookieID, session.EachJSONReading), and any
//     other cookie passes byte for byte;
//   - a piece outside the grammar that some framework could read as a
//     session cookie (it names one in any spelling, see mentions) never
//     reaches the app: the guard cannot be sure which session it is. When
//     one of its likely readings is a revoked session, on_revoked applies
//     as for any revoked cookie; otherwise it is only dropped;
//   - anything else passes byte for byte (an app's own odd cookies, such
//     as WordPress's `wordpress_test_cookie=WP Cookie check`);
//   - several Cookie lines become one, joined by "; " as HTTP/2 joins
//     cookie crumbs, so the app never splits or joins them its own way.
//
// A header with nothing to drop and one line reaches the app untouched;
// the scan that decides it does not allocate.

// cookiePiece is one piece of a Cookie header: what lies between two
// semicolons (or a line's ends), without the spaces and tabs around it.
// It is small, since the scan hands one over for every cookie of every
// request.
type cookiePiece struct {
	text string // the piece as sent
	eq   int32  // index of the first '=' in text; meaningful when clean
	// clean: a token name, '=', and cookie-octets, optionally in quotes.
	// Every parser reads such a piece as this one name and this one value.
	clean  bool
	quoted bool // a clean piece's value is in double quotes
}

// name is a clean piece's name.
func (p cookiePiece) name() string { return p.text[:p.eq] }

// value is a clean piece's value, without the quotes around it.
func (p cookiePiece) value() string {
	if p.quoted {
		return p.text[p.eq+2 : len(p.text)-1]
	}
	return p.text[p.eq+1:]
}

// eachCookiePiece calls fn for every piece of the Cookie header lines, in
// order, without allocating; empty pieces are skipped. fn returns false to
// stop.
func eachCookiePiece(lines []string, fn func(cookiePiece) bool) {
	for _, line := range lines {
		for len(line) > 0 {
			var text string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				text, line = line[:i], line[i+1:]
			} else {
				text, line = line, ""
			}
			if text = trimBlanks(text); text != "" && !fn(parseCookiePiece(text)) {
				return
			}
		}
	}
}

// parseCookiePiece reads one piece of a Cookie header.
func parseCookiePiece(text string) cookiePiece {
	// The name: token bytes up to the first '=' (one loop does both).
	eq := 0
	for eq < len(text) && tokenByte[text[eq]] {
		eq++
	}
	if eq == 0 || eq == len(text) || text[eq] != '=' || eq >= 1<<31-1 {
		return cookiePiece{text: text}
	}
	value := text[eq+1:]
	quoted := len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"'
	if quoted {
		value = value[1 : len(value)-1]
	}
	return cookiePiece{text: text, eq: int32(eq), clean: cookieOctets(value), quoted: quoted}
}

// trimBlanks trims the spaces and tabs that RFC 6265 allows around a
// pair. Other whitespace stays, and makes the piece unclean.
func trimBlanks(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// cookieOctets reports whether s is all RFC 6265 cookie-octets: printable
// ASCII but space, '"', ',', ';' and '\'. Values are most of a Cookie
// header, so it checks sixteen bytes at a time: every request with cookies
// runs it.
func cookieOctets(s string) bool {
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if !cookieOctet[s[i]] {
				return false
			}
		}
		return true
	}
	i := 0
	for ; i+16 <= len(s); i += 16 {
		if nonCookieOctets(load64(s[i:]))|nonCookieOctets(load64(s[i+8:])) != 0 {
			return false
		}
	}
	if i+8 <= len(s) {
		if nonCookieOctets(load64(s[i:])) != 0 {
			return false
		}
	}
	// The tail: the last eight bytes, overlapping what was checked.
	return nonCookieOctets(load64(s[len(s)-8:])) == 0
}

// nonCookieOctets is non-zero when one of the eight bytes in x is below
// 0x21, 0x7f or above, '"', ',', ';' or '\'. Each term is the usual SWAR
// test, exact about whether some byte matches, since borrows and carries
// start only at a byte that matches: x - 0x21 sets a byte's high bit below
// 0x21 (or at 0xa1 and above, which x's own high bit flags anyway), x + 1
// at 0x7f, and (x ^ c) - 1 where a byte equals c.
func nonCookieOctets(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	return (x | (x - ones*0x21) | (x + ones) | ((x ^ ones*'"') - ones) | ((x ^ ones*',') - ones) |
		((x ^ ones*';') - ones) | ((x ^ ones*'\\') - ones)) & highs
}

// load64 reads the first eight bytes of s (little-endian; the compiler
// makes it one load).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// tokenByte: RFC 9110 token bytes (what a cookie name is made of).
var tokenByte, cookieOctet = func() (token, octet [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		token[c] = !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c))
		octet[c] = !strings.ContainsRune(`",;\`, rune(c))
	}
	return token, octet
}()
