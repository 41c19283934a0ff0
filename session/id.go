// Package session is what a session is to caddy-logout: a credential's
// identity, the signed tokens bound to it, and the Store that remembers
// revocations (with a cache in front). It knows nothing of HTTP or Caddy.
package session

import (
	"crypto/sha256"
	"encoding/hex"
	"unsafe"
)

// ID identifies a session without holding its secret: the SHA-256 of the
// credential (cookie value or session token). Raw credentials are never
// stored or logged; an ID, or a short prefix of it, may be.
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
