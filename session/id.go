// Package session is what a session is to caddy-logout: a credential's
// identity, the signed tokens bound to it, and the Store that remembers
// revocations (with a cache in front). It knows nothing of HTTP or Caddy.
package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"unsafe"

	"github.com/caddy-logout/caddy-logout/internal/percent"
)

// ID identifies a session without holding its secret: the SHA-256 of the
// credential (cookie value or session token). Raw credentials are never
// stored or logged; an ID, or a short prefix of it, may be.
//
// IDs are compared and looked up (==, maps, store keys) in variable time,
// on purpose: timing can tell at most how much of a SHA-256 matched, which
// says nothing about a credential. Secrets the server holds (MACs, keys)
// are compared only in constant time, in Keys.Open.
type ID [sha256.Size]byte

// IDOf returns the ID of a credential. It does not allocate, so the guard
// can call it on every request.
func IDOf(credential string) ID {
	// Sum256 only reads its argument, so viewing the string's bytes in
	// place is safe and saves a copy on the hot path.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(credential), len(credential)))
}

// Short is a log-safe prefix of the ID: enough to correlate log lines,
// far too little to be useful to an attacker.
func (id ID) Short() string {
	return hex.EncodeToString(id[:6])
}

// String is the full hex form, used by the admin API and by stores that
// need a text key.
func (id ID) String() string {
	return hex.EncodeToString(id[:])
}

// ParseID reads the hex form produced by String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != hex.EncodedLen(len(id)) {
		return id, errBadID
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, errBadID
	}
	return id, nil
}

// CookieID is the ID of a session cookie's value: the hash of the one
// reading that the apps' readings of it all lead to, so that no
// re-spelling of a revoked cookie is a new session to the guard while it
// is the old one to the app.
//
// Apps do not take a cookie's value as sent. PHP and Rack percent-decode
// it and read '+' as a space; Express's cookie parser strips the quotes
// around it and percent-decodes it (all escapes or none). canonicalCookie
// strips a pair of quotes and decodes every valid escape, round after
// round until nothing changes, and then reads '+' as a space: the value as
// sent and each app's reading of it end in the same place, however many
// layers of encoding a client wraps around it. '+' and space count as one
// character (decoders differ on '+'), quotes as nothing. That merges
// spellings no single real cookie has, which only means refusing more of
// them. What cookie-parser makes of "j:" values is a reading of its own:
// see EachJSONReading.
//
// It does not allocate for values up to a few hundred bytes, nor for any
// value without '%', '+' or '"', which hashes as it is.
func CookieID(value string) ID {
	if !needsCanonicalCookie(value) {
		return IDOf(value)
	}
	var stack [512]byte
	b, _ := canonicalCookie(stack[:0], value)
	return sha256.Sum256(b)
}

// maxCookieRounds bounds canonicalCookie. Apps decode a cookie once; a
// client wrapping a revoked value in more layers than this has spelled it
// in a way no app reads as the session anyway, since the browser's own
// copy (what the app knows) never comes wrapped that deep.
const maxCookieRounds = 8

func needsCanonicalCookie(v string) bool {
	return strings.IndexByte(v, '%') >= 0 || strings.IndexByte(v, '+') >= 0 || strings.IndexByte(v, '"') >= 0
}

// canonicalCookie appends to buf the value every reading of v leads to:
// round after round, the quotes around the value stripped and every valid
// %XX escape decoded (either case; invalid ones stay, as PHP leaves them),
// until a round changes nothing; then '+' as a space. It also reports the
// rounds that changed something.
func canonicalCookie(buf []byte, v string) ([]byte, int) {
	b := append(buf, v...)
	rounds := 0
	for ; rounds < maxCookieRounds; rounds++ {
		var unquoted, decoded bool
		b, unquoted = unquote(b)
		b, decoded = decodeEscapes(b)
		if !unquoted && !decoded {
			break
		}
	}
	for i := bytes.IndexByte(b, '+'); i >= 0; i = bytes.IndexByte(b, '+') {
		b[i] = ' '
	}
	return b, rounds
}

// unquote strips the double quotes around b, every pair of them: a round
// is one layer of encoding, however many quotes a client adds.
func unquote(b []byte) ([]byte, bool) {
	changed := false
	for len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b, changed = b[1:len(b)-1], true
	}
	return b, changed
}

// decodeEscapes decodes b's valid escapes in place.
func decodeEscapes(b []byte) ([]byte, bool) {
	n := percent.DecodeInPlace(b)
	return b[:n], n < len(b)
}

// MayBeJSONCookie reports whether EachJSONReading may find a reading of
// value: only a value that starts with 'j', '"' or '%' can come to start
// with "j:". It is small enough to inline, so the guard pays one
// comparison per cookie.
func MayBeJSONCookie(value string) bool {
	return value != "" && (value[0] == 'j' || value[0] == '"' || value[0] == '%')
}

// EachJSONReading calls fn with what Express's cookie-parser may read a
// session cookie's value as, beyond what CookieID covers: a value that
// starts with "j:" once unquoted or decoded (cookie-parser looks after its
// cookie parser has done both) is the JSON value after the prefix, if it is
// JSON. The ID of such a reading (its CookieID) is the session too, for an
// Express app, so the guard checks it and logout revokes it. Every value
// canonicalCookie passes through on its way is looked at, since one of
// them is what cookie-parser sees. A value that cannot come to start with
// "j:" (its first byte is not 'j', '"' or '%') costs one comparison. fn
// returns false to stop; so does EachJSONReading.
func EachJSONReading(value string, fn func(string) bool) bool {
	if !MayBeJSONCookie(value) {
		return true
	}
	at := func(b []byte) bool {
		if len(b) < 2 || b[0] != 'j' || b[1] != ':' {
			return true
		}
		// A copy: the stack buffer must not escape to the JSON decoder.
		r, ok := jsonReading(string(b[2:]))
		return !ok || fn(r)
	}
	var stack [512]byte
	b := append(stack[:0], value...)
	if !at(b) {
		return false
	}
	for range maxCookieRounds {
		var unquoted, decoded bool
		if b, unquoted = unquote(b); unquoted && !at(b) {
			return false
		}
		if b, decoded = decodeEscapes(b); decoded && !at(b) {
			return false
		}
		if !unquoted && !decoded {
			break
		}
	}
	return true
}

// jsonReading is what Express's cookie-parser makes of the JSON after a
// "j:" prefix: a string is that string; any other JSON value is read as
// its canonical JSON (numbers as JavaScript prints them, object keys
// sorted), which is also what JavaScript makes of a number used as a key.
// It reports false for what is not JSON, which cookie-parser leaves as it is.
func jsonReading(s string) (string, bool) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", false
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", false
	}
	return strings.TrimSuffix(out.String(), "\n"), true
}
