package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"
)

// MinKeyLength is the shortest signing key accepted: 256 bits, the size
// of the HMAC-SHA256 output, so the key is never the weak link.
const MinKeyLength = 32

// Keys signs and verifies the module's self-contained tokens (logout tokens,
// error ids). The first key signs; every key verifies, so operators rotate
// by putting a new key first and removing the old one once its tokens have
// expired.
type Keys struct {
	keys [][]byte
}

// NewKeys checks and takes the signing keys.
func NewKeys(keys ...[]byte) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("at least one signing key is required")
	}
	k := &Keys{}
	for i, key := range keys {
		if len(key) < MinKeyLength {
			return nil, fmt.Errorf("signing key #%d must be at least %d bytes (got %d)", i+1, MinKeyLength, len(key))
		}
		k.keys = append(k.keys, append([]byte(nil), key...))
	}
	return k, nil
}

// Purposes keep one kind of token from being accepted as another: the MAC
// covers the purpose, so an error id can never pass as a logout token.
const (
	PurposeLogoutToken = "caddy-logout/logout-token/v1"
	PurposeErrorID     = "caddy-logout/error-id/v1"
)

// ErrInvalidToken is every verification failure: malformed, wrong
// signature, wrong session, expired. Callers need no finer distinction, and
// giving none leaks nothing to a prober.
var ErrInvalidToken = errors.New("invalid or expired token")

// maxSealedLength bounds what Open will even decode.
const maxSealedLength = 8192

// b64 encodes tokens; decoding is strict (see Open).
var b64 = base64.RawURLEncoding.Strict()

// Seal returns base64url(payload || MAC(purpose, payload, binding)). The
// binding is covered by the MAC but not carried: whoever opens the token
// must know it already (a logout token is bound to the session ID, which
// the perform step recomputes from the cookie).
func (k *Keys) Seal(purpose string, payload, binding []byte) string {
	out := make([]byte, 0, len(payload)+sha256.Size)
	out = append(out, payload...)
	out = k.mac(k.keys[0], purpose, payload, binding, out)
	return b64.EncodeToString(out)
}

// Open verifies a sealed token against every key, comparing MACs in
// constant time, and returns its payload.
func (k *Keys) Open(purpose, token string, binding []byte) ([]byte, error) {
	if len(token) > maxSealedLength || len(token) < b64.EncodedLen(sha256.Size) {
		return nil, ErrInvalidToken
	}
	// One spelling per token: Strict refuses set bits past the data in the
	// last character, and the length check refuses the CR and LF that the
	// decoder would skip. Otherwise a valid token has other spellings that
	// verify too.
	raw, err := b64.DecodeString(token)
	if err != nil || len(raw) < sha256.Size || b64.EncodedLen(len(raw)) != len(token) {
		return nil, ErrInvalidToken
	}
	payload, mac := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	var want [sha256.Size]byte
	match := 0
	// The early returns above depend only on what the sender already knows
	// (length, encoding). The MAC is compared in constant time: a compare
	// that stops at the first differing byte would let a prober learn a
	// valid MAC byte by byte. Check every key, not just until the first
	// match, so the time taken does not tell which key (or whether any)
	// matched.
	for _, key := range k.keys {
		match |= subtle.ConstantTimeCompare(k.mac(key, purpose, payload, binding, want[:0]), mac)
	}
	if match == 0 {
		return nil, ErrInvalidToken
	}
	return payload, nil
}

func (k *Keys) mac(key []byte, purpose string, payload, binding []byte, out []byte) []byte {
	m := hmac.New(sha256.New, key)
	writeField(m, []byte(purpose))
	writeField(m, payload)
	writeField(m, binding)
	return m.Sum(out)
}

// writeField length-prefixes each field so that no two different
// (purpose, payload, binding) triples feed the MAC the same bytes.
func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// logoutTokenVersion is the first payload byte, so the format can change
// without old tokens being misread.
const logoutTokenVersion = 1

// SignLogoutToken returns a logout token for the session id, valid for ttl.
func (k *Keys) SignLogoutToken(id ID, now time.Time, ttl time.Duration) string {
	var p [17]byte
	p[0] = logoutTokenVersion
	binary.BigEndian.PutUint64(p[1:9], uint64(now.Unix()))
	binary.BigEndian.PutUint64(p[9:17], uint64(now.Add(ttl).Unix()))
	return k.Seal(PurposeLogoutToken, p[:], id[:])
}

// VerifyLogoutToken checks that token was signed by one of the keys, for
// this very session, and has not expired.
func (k *Keys) VerifyLogoutToken(token string, id ID, now time.Time) error {
	p, err := k.Open(PurposeLogoutToken, token, id[:])
	if err != nil {
		return err
	}
	if len(p) != 17 || p[0] != logoutTokenVersion {
		return ErrInvalidToken
	}
	expires := int64(binary.BigEndian.Uint64(p[9:17]))
	if now.Unix() >= expires {
		return ErrInvalidToken
	}
	return nil
}
