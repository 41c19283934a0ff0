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
// reading that every app's reading of it leads to, so that no re-spelling
// of a revoked cookie is a new session to the guard while it is the old
// one to the app.
//
// Apps do not take a cookie's value as sent. PHP and Rack percent-decode
// it and read '+' as a space, Express's cookie parser percent-decodes it
// (all or nothing) and strips the quotes around it, and cookie-parser
// turns a value that starts with "j:" into the JSON value that follows.
// Each of these readings is one step of canonicalCookie, which repeats
// them until the value no longer changes; so the value as sent and every
// app's reading of it end in the same place, however many layers of
// encoding a client wraps around it. '+' and space count as one character
// (decoders differ on '+'), quotes as nothing. That merges spellings no
// single real cookie has, which only means refusing more of them.
//
// It does not allocate for values up to a few hundred bytes, nor for any
// value without '%', '+', '"' or a "j:" prefix, which hashes as it is.
func CookieID(value string) ID {
	if !needsCanonicalCookie(value) {
		return IDOf(value)
	}
	var stack [512]byte
	return sha256.Sum256(canonicalCookie(stack[:0], value))
}

// maxCookieRounds bounds canonicalCookie. Apps decode a cookie once; a
// client wrapping a revoked value in more layers than this has spelled it
// in a way no app reads as the session anyway, since the browser's own
// copy (what the app knows) never comes wrapped that deep.
const maxCookieRounds = 8

func needsCanonicalCookie(v string) bool {
	return strings.IndexByte(v, '%') >= 0 || strings.IndexByte(v, '+') >= 0 ||
		strings.IndexByte(v, '"') >= 0 || strings.HasPrefix(v, "j:")
}

// canonicalCookie appends to buf the value every reading of v leads to:
// each round reads '+' as a space, strips one pair of quotes around the
// value, decodes every valid %XX escape (either case; invalid ones stay,
// as PHP leaves them) and replaces a "j:" JSON value with its reading, until
// a round changes nothing.
func canonicalCookie(buf []byte, v string) []byte {
	b := append(buf, v...)
	for range maxCookieRounds {
		changed := false
		for i := bytes.IndexByte(b, '+'); i >= 0; i = bytes.IndexByte(b, '+') {
			b[i] = ' '
			changed = true
		}
		if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
			b = b[1 : len(b)-1]
			changed = true
		}
		if n := percent.DecodeInPlace(b); n < len(b) {
			b = b[:n]
			changed = true
		}
		if len(b) >= 2 && b[0] == 'j' && b[1] == ':' {
			// A copy: the stack buffer must not escape to the JSON decoder.
			if r, ok := jsonReading(string(b[2:])); ok {
				b = append(b[:0], r...)
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	return b
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
