// Package session is what a session is to caddy-logout: a credential's
// identity, the signed tokens bound to it, and the Store that remembers
// revocations (with a cache in front). It knows nothing of HTTP or Caddy.
package session

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unsafe"
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

// CookieID is the ID of a session cookie's value. Apps decode cookie
// values before they look a session up (PHP with rawurldecode, Express with
// decodeURIComponent), so to them `%61bc` is the same session as `abc`. The
// ID is taken over the decoded value, so no re-spelling of a revoked cookie
// gets past the guard. '+' and space count as one character (decoders
// differ on '+': form decoding reads it as a space, cookie decoding keeps
// it), so `a+b`, `a%2Bb`, `a%20b` are one session whichever an app uses;
// that only merges spellings no single real cookie has. Invalid escapes
// stay as they are, as both decoders leave them.
//
// It does not allocate for values up to a few hundred bytes.
func CookieID(value string) ID {
	if strings.IndexByte(value, '%') < 0 && strings.IndexByte(value, '+') < 0 {
		return IDOf(value)
	}
	var stack [512]byte
	buf := stack[:0]
	if len(value) > len(stack) {
		buf = make([]byte, 0, len(value))
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == '%' && i+2 < len(value) && isHex(value[i+1]) && isHex(value[i+2]) {
			c = unhex(value[i+1])<<4 | unhex(value[i+2])
			i += 2
		}
		if c == '+' {
			c = ' '
		}
		buf = append(buf, c)
	}
	return sha256.Sum256(buf)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
